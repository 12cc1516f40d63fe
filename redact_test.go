package redisclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// Markers around the special characters: no part of a secret may show, so
// tests look for both halves.
const (
	secretHead = "Qx7"
	secretTail = "Zv4"
	userHead   = "Uu1"
	userTail   = "Ww2"
)

// leakyUserInfo are user infos that break URL parsing in ways whose errors
// quoted part of them: unencoded / # ? space, a bad % escape, an extra @.
func leakyUserInfo() []string {
	var out []string
	for _, c := range []string{"/", "#", "?", " ", "%zz", "%", "@", ":", "[", "\x7f"} {
		out = append(out,
			":"+secretHead+c+secretTail,
			userHead+c+userTail+":"+secretHead+c+secretTail,
			userHead+c+userTail)
	}
	return out
}

func assertNoSecret(t *testing.T, text, context string) {
	t.Helper()
	for _, s := range []string{secretHead, secretTail, userHead, userTail} {
		assert.NotContains(t, text, s, "%s leaks part of the user info: %s", context, text)
	}
}

func TestURLErrorsNeverShowUserInfo(t *testing.T) {
	for _, ui := range leakyUserInfo() {
		for _, tail := range []string{"@h:6379/0", "@h:6379/x", "@h:port/0", "@[::1/0", "@h:6379/0?dial_timeout=never"} {
			u := "redis://" + ui + tail
			for _, scheme := range []string{"redis://", "rediss://", "unix://"} {
				u := strings.Replace(u, "redis://", scheme, 1)
				o, err := (Options{URL: u}).withDefaults()
				if err != nil {
					require.ErrorIs(t, err, ErrInvalidOptions, u)
					assertNoSecret(t, err.Error(), "New(URL)")
				} else {
					assertNoSecret(t, o.Addr, "the address of "+u) // errors and Health show it
				}
				o, err = (Options{URL: u, ClusterMode: true}).withDefaults()
				if err != nil {
					require.ErrorIs(t, err, ErrInvalidOptions, u)
					assertNoSecret(t, err.Error(), "New(URL, ClusterMode)")
				} else {
					assertNoSecret(t, strings.Join(o.Addrs, ","), "the seeds of "+u)
				}
				_, err = optionsFromLookup(envFrom(map[string]string{"REDIS_URL": u}))
				if err != nil {
					require.ErrorIs(t, err, ErrInvalidOptions, u)
					assertNoSecret(t, err.Error(), "OptionsFromEnv(REDIS_URL)")
				}
			}
		}
	}
}

func TestURLErrorStillSaysWhatIsWrong(t *testing.T) {
	_, err := New(Options{URL: "redis://:" + secretHead + "/" + secretTail + "@h:6379/0"})
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.Equal(t, "redisclient: invalid options: URL redis://xxxxx@h:6379/0: malformed user name or password: "+
		"percent-encode the characters / ? # @ : % and spaces in them (%2F %3F %23 %40 %3A %25 %20)", err.Error())

	_, err = New(Options{URL: "redis://:" + secretHead + "@h:6379/x"})
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.Contains(t, err.Error(), `URL redis://xxxxx@h:6379/x: redis: invalid database number: "x"`)

	// Percent-encoded, the same password works.
	o, err := (Options{URL: "redis://:" + secretHead + "%2F" + secretTail + "@h:6379/0"}).withDefaults()
	require.NoError(t, err)
	assert.Equal(t, secretHead+"/"+secretTail, o.Password)
}

// Addresses never carry credentials: pasted URLs would put them in every
// dial error.
func TestAddressesWithUserInfoAreRefused(t *testing.T) {
	leaky := "redis://:" + secretHead + "/" + secretTail + "@h:6379"
	for name, o := range map[string]Options{
		"Addr":          {Addr: leaky},
		"Addrs":         {Addrs: []string{"h:1", leaky}},
		"SentinelAddrs": {MasterName: "m", SentinelAddrs: []string{leaky}},
	} {
		_, err := New(o)
		require.ErrorIs(t, err, ErrInvalidOptions, name)
		assert.Contains(t, err.Error(), name)
		assertNoSecret(t, err.Error(), name)
	}
	_, err := New(Options{Addr: "unix:@abstract-socket"})
	require.NoError(t, err, "a Linux abstract socket name starts with @")

	for _, env := range []map[string]string{
		{"REDIS_ADDR": leaky},
		{"REDIS_HOST": secretHead + ":" + secretTail + "@h"},
		{"REDIS_CLUSTER_ADDRS": "h:1," + leaky},
		{"REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_ADDRS": leaky},
		{"REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_ADDRS": secretHead + ":" + secretTail + "@h:26379"},
	} {
		_, err := optionsFromLookup(envFrom(env))
		require.ErrorIs(t, err, ErrInvalidOptions, "%v", env)
		assert.Contains(t, err.Error(), "holds user info")
		assertNoSecret(t, err.Error(), fmt.Sprint(len(env), " variables"))
	}
}

// secretOptions holds a secret in every field that can hold one.
func secretOptions(t *testing.T) (Options, []string) {
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	pw, sentinelPW, urlPW := "Pw"+secretHead+"1", "Sp"+secretHead+"2", "Up"+secretHead+"3"
	o := Options{
		URL:              "redis://" + userHead + ":" + urlPW + "@h:6379/0",
		Username:         "app",
		Password:         pw,
		MasterName:       "m",
		SentinelAddrs:    []string{"s:26379"},
		SentinelUsername: "sentinel-user",
		SentinelPassword: sentinelPW,
		TLSConfig: &tls.Config{
			ServerName:   "redis.internal",
			Certificates: []tls.Certificate{{Certificate: [][]byte{[]byte("cert")}, PrivateKey: key}},
		},
		Namespace: "orders",
	}
	secrets := []string{pw, sentinelPW, urlPW, userHead, string(key)}
	var withEncodings []string
	for _, s := range secrets {
		withEncodings = append(withEncodings, s, hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s))),
			fmt.Sprint([]byte(s)), fmt.Sprintf("%q", s))
	}
	// The key also as fmt prints it: its bytes in decimal and hex.
	withEncodings = append(withEncodings, fmt.Sprint(key)[1:20], fmt.Sprintf("%x", key)[:16])
	return o, withEncodings
}

func TestOptionsFormatRedactsEveryVerb(t *testing.T) {
	o, secrets := secretOptions(t)
	type config struct {
		Service string
		Redis   Options
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%20v", "%-8.3s", "%#x", "% x", "%+q", "%#q"} {
		outs = append(outs,
			fmt.Sprintf(verb, o),
			fmt.Sprintf(verb, &o),
			fmt.Sprintf(verb, config{"svc", o}),
			fmt.Sprintf(verb, &config{"svc", o}),
			fmt.Sprintf(verb, []Options{o}),
			fmt.Sprintf(verb, map[string]Options{"redis": o}),
			fmt.Sprintf(verb, []any{o}),
		)
	}
	outs = append(outs, fmt.Sprint(o), fmt.Sprintln(o), fmt.Sprint(&o))
	for _, out := range outs {
		for _, s := range secrets {
			require.NotContains(t, out, s)
		}
	}
	assert.Contains(t, fmt.Sprintf("%+v", o), "Password:[REDACTED]")
	assert.Contains(t, fmt.Sprintf("%+v", o), "SentinelPassword:[REDACTED]")
	assert.Contains(t, fmt.Sprintf("%+v", o), "URL:redis://xxxxx@h:6379/0")
	assert.True(t, strings.HasPrefix(fmt.Sprintf("%#v", o), "redisclient.Options{URL:\"redis://xxxxx@h:6379/0\""), fmt.Sprintf("%#v", o))
	assert.Contains(t, fmt.Sprintf("%v", o), "orders", "the other fields still print")
	assert.NotContains(t, fmt.Sprintf("%+v", Options{}), redactedMark, "an empty password prints empty")
}

func TestOptionsLogValueRedacts(t *testing.T) {
	o, secrets := secretOptions(t)
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("connecting", "options", o)
		log.Info("connecting", slog.Any("options", &o))
		log.Info("connecting", slog.Group("redis", slog.Any("options", o)))
		log.With("options", o).Info("with")
	}
	out := buf.String()
	for _, s := range secrets {
		require.NotContains(t, out, s)
	}
	assert.Contains(t, out, `"password":"[REDACTED]"`)
	assert.Contains(t, out, `"sentinel_password":"[REDACTED]"`)
	assert.Contains(t, out, `"url":"redis://xxxxx@h:6379/0"`)
	assert.Contains(t, out, `"server_name":"redis.internal"`)
	assert.Contains(t, out, `options.password=[REDACTED]`)
	assert.Contains(t, out, `options.namespace=orders`)

	// A struct holding Options in an exported field, logged as a whole.
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "cfg", struct{ Redis Options }{o})
	for _, s := range secrets {
		require.NotContains(t, buf.String(), s)
	}
}

// Failing calls, health reports and logs never carry a password, whatever
// the deployment, including the sentinels' own password.
func TestSecretsNeverInErrorsReportsOrLogs(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireAuth("right-password")
	closed := closedAddr(t)
	pw, spw := "Pw"+secretHead+"1", "Sp"+secretHead+"2"
	for name, o := range map[string]Options{
		"wrong password":      {Addr: mr.Addr(), Password: pw},
		"wrong url password":  {URL: "redis://app:" + pw + "@" + mr.Addr() + "/0"},
		"standalone down":     {Addr: closed, Password: pw},
		"cluster down":        {Addrs: []string{closed}, Password: pw},
		"sentinel down":       {MasterName: "m", SentinelAddrs: []string{closed}, Password: pw, SentinelPassword: spw},
		"sentinel wrong auth": {MasterName: "m", SentinelAddrs: []string{mr.Addr()}, Password: pw, SentinelPassword: spw},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			o.Retry = RetryPolicy{Attempts: 1}
			c, err := New(o)
			require.NoError(t, err)
			defer c.Close()
			ctx := testCtx(t)
			var texts []string
			for _, err := range []error{
				c.Ping(ctx),
				c.Set(ctx, "k", "v", 0),
				c.Get(ctx, "k", new(string)),
			} {
				require.Error(t, err)
				texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			}
			_, err = GetOrSet(ctx, c, "g", 0, func(context.Context) (string, error) { return "loaded", nil })
			require.NoError(t, err, "fail-open")
			rep, err := json.Marshal(c.Health(ctx))
			require.NoError(t, err)
			texts = append(texts, string(rep), logs.String(), fmt.Sprintf("%+v", c))
			for _, text := range texts {
				assert.NotContains(t, text, secretHead)
			}
		})
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(t)))
}
