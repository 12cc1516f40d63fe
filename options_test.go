package redisclient

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

func envFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestZeroOptionsDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "localhost:6379", o.Addr)
	assert.Equal(t, "trading", o.Namespace)
	assert.Equal(t, ":", o.Separator)
	assert.Equal(t, 24*time.Hour, o.DefaultTTL)
	assert.IsType(t, MsgpackSerializer{}, o.Serializer)
	assert.Equal(t, time.Second, o.DialTimeout)
	d, err := o.deployment()
	require.NoError(t, err)
	assert.Equal(t, standalone, d)
}

func TestNewDoesNotBlockWhenServerDown(t *testing.T) {
	start := time.Now()
	c, err := New(Options{Addr: "127.0.0.1:1"})
	require.NoError(t, err)
	defer c.Close()
	assert.Less(t, time.Since(start), 500*time.Millisecond)
}

func TestOptionsValidation(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"negative DB", Options{DB: -1}, "DB -1"},
		{"negative pool", Options{PoolSize: -2}, "PoolSize"},
		{"idle above pool", Options{PoolSize: 2, MinIdleConns: 3}, "MinIdleConns"},
		{"tiny ttl", Options{DefaultTTL: time.Microsecond}, "DefaultTTL"},
		{"negative ttl", Options{DefaultTTL: -5 * time.Second}, "DefaultTTL"},
		{"jitter", Options{TTLJitter: 1}, "TTLJitter"},
		{"dial timeout", Options{DialTimeout: -1}, "DialTimeout"},
		{"read timeout", Options{ReadTimeout: -2}, "ReadTimeout"},
		{"url and addr", Options{URL: "redis://localhost", Addr: "x:1"}, "URL and Addr"},
		{"bad scheme", Options{URL: "http://localhost"}, "URL"},
		{"sentinel and cluster", Options{MasterName: "m", SentinelAddrs: []string{"a:1"}, Addrs: []string{"b:1"}}, "conflict"},
		{"sentinel without addrs", Options{MasterName: "m"}, "SentinelAddrs"},
		{"addr and addrs", Options{Addr: "a:1", Addrs: []string{"b:1"}}, "Addr and Addrs"},
		{"cluster db", Options{Addrs: []string{"a:1", "b:1"}, DB: 2}, "DB 2"},
		{"namespace separators", Options{Namespace: "::"}, "Namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, ErrInvalidOptions)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestURLParsing(t *testing.T) {
	o, err := Options{URL: "rediss://alice:s3cret@cache.example:6380/4?dial_timeout=3s"}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "cache.example:6380", o.Addr)
	assert.Equal(t, "alice", o.Username)
	assert.Equal(t, "s3cret", o.Password)
	assert.Equal(t, 4, o.DB)
	require.NotNil(t, o.TLSConfig)
	assert.Equal(t, 3*time.Second, o.DialTimeout)

	o, err = Options{URL: "redis://:pw@127.0.0.1:7000?addr=127.0.0.1:7001", ClusterMode: true}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7000", "127.0.0.1:7001"}, o.Addrs)
	d, _ := o.deployment()
	assert.Equal(t, cluster, d)
}

func TestURLErrorsNeverContainPassword(t *testing.T) {
	for _, u := range []string{
		"redis://user:hunter2@host:notaport/0",
		"redis://user:hunter2@host:6379/notadb",
		"redis://user:hunter2@[::1/0",
		"ftp://user:hunter2@host/0",
	} {
		_, err := New(Options{URL: u})
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), "hunter2", u)
		assert.ErrorIs(t, err, ErrInvalidOptions)
	}
	_, err := optionsFromLookup(envFrom(map[string]string{"REDIS_URL": "redis://u:hunter2@[::1/0"}))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Contains(t, err.Error(), "REDIS_URL")
}

func TestOptionsFromEnv(t *testing.T) {
	o, err := optionsFromLookup(envFrom(map[string]string{
		"REDIS_HOST": "10.0.0.5", "REDIS_PORT": "6380", "REDIS_PASSWORD": "pw", "REDIS_DB": "3",
		"REDIS_NAMESPACE": "prod", "REDIS_DEFAULT_TTL": "3600", "REDIS_POOL_SIZE": "20",
	}))
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.5:6380", o.Addr)
	assert.Equal(t, "pw", o.Password)
	assert.Equal(t, 3, o.DB)
	assert.Equal(t, "prod", o.Namespace)
	assert.Equal(t, time.Hour, o.DefaultTTL)
	assert.Equal(t, 20, o.PoolSize)

	o, err = optionsFromLookup(envFrom(map[string]string{"REDIS_ADDR": "h:1", "REDIS_DEFAULT_TTL": "90s"}))
	require.NoError(t, err)
	assert.Equal(t, "h:1", o.Addr)
	assert.Equal(t, 90*time.Second, o.DefaultTTL)

	o, err = optionsFromLookup(envFrom(map[string]string{"REDIS_URL": "redis://u:p@h:2/1"}))
	require.NoError(t, err)
	o, err = o.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "h:2", o.Addr)
	assert.Equal(t, 1, o.DB)

	o, err = optionsFromLookup(envFrom(map[string]string{"REDIS_URL": "redis://:fromurl@h:2/1", "REDIS_PASSWORD": "fromenv"}))
	require.NoError(t, err)
	o, err = o.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "fromurl", o.Password, "the URL's password wins")
	o, err = optionsFromLookup(envFrom(map[string]string{"REDIS_URL": "redis://h:2/1", "REDIS_PASSWORD": "fromenv"}))
	require.NoError(t, err)
	o, err = o.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "fromenv", o.Password, "REDIS_PASSWORD fills in")

	o, err = optionsFromLookup(envFrom(map[string]string{"REDIS_CLUSTER_ADDRS": "a:1, b:2,c:3"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"a:1", "b:2", "c:3"}, o.Addrs)

	o, err = optionsFromLookup(envFrom(map[string]string{"REDIS_SENTINEL_MASTER": "mymaster", "REDIS_SENTINEL_ADDRS": "s:1,s:2", "REDIS_SENTINEL_PASSWORD": "sp"}))
	require.NoError(t, err)
	assert.Equal(t, "mymaster", o.MasterName)
	assert.Equal(t, []string{"s:1", "s:2"}, o.SentinelAddrs)
	assert.Equal(t, "sp", o.SentinelPassword)

	o, err = optionsFromLookup(envFrom(nil))
	require.NoError(t, err)
	assert.Equal(t, Options{}, o)
}

func TestOptionsFromEnvErrorsNameTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"REDIS_PORT":               {"REDIS_HOST": "h", "REDIS_PORT": "http"},
		"REDIS_DB":                 {"REDIS_DB": "two"},
		"REDIS_DEFAULT_TTL":        {"REDIS_DEFAULT_TTL": "forever"},
		"REDIS_POOL_SIZE":          {"REDIS_POOL_SIZE": "0"},
		"REDIS_ADDR":               {"REDIS_ADDR": "nohostport"},
		"REDIS_CLUSTER_ADDRS":      {"REDIS_CLUSTER_ADDRS": "a:1,b"},
		"REDIS_SENTINEL_ADDRS":     {"REDIS_SENTINEL_MASTER": "m"},
		"REDIS_URL and REDIS_ADDR": {"REDIS_URL": "redis://h", "REDIS_ADDR": "h:1"},
		"REDIS_NAMESPACE":          {"REDIS_NAMESPACE": ":::"},
	}
	for want, env := range cases {
		t.Run(want, func(t *testing.T) {
			env["REDIS_PASSWORD"] = "topsecret"
			_, err := optionsFromLookup(envFrom(env))
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
			assert.NotContains(t, err.Error(), "topsecret")
			assert.True(t, errors.Is(err, ErrInvalidOptions))
		})
	}
}

func TestOptionsFromEnvReal(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	t.Setenv("REDIS_ADDR", "127.0.0.1:6390")
	t.Setenv("REDIS_NAMESPACE", "envns")
	o, err := OptionsFromEnv()
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6390", o.Addr)
	assert.Equal(t, "envns", o.Namespace)
}

// The test kit's list of the library's environment variables, which tests
// clear so the machine's settings do not leak in, is every variable
// OptionsFromEnv reads.
func TestLibraryEnvIsComplete(t *testing.T) {
	var read []string
	_, err := optionsFromLookup(func(name string) (string, bool) {
		read = append(read, name)
		return "", false
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, read, testkit.LibraryEnv)
}
