package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/testkit"
)

const (
	tlsSnippet = "tls.conf"
	usersFile  = "users.conf"
	certsPath  = "/etc/redisclient-redis/tls/"
)

// startTLSServer runs redis-server with redis.conf and the TLS snippet, the
// snippet's certificate paths pointed at certs and its port at a free one,
// and returns that port once the server answers over mutual TLS.
func startTLSServer(t *testing.T, certs testkit.Certs) int {
	t.Helper()
	dir := tempDir(t)
	port := testkit.FreePort(t)
	snippet, err := os.ReadFile(deployPath(t, tlsSnippet))
	require.NoError(t, err)
	require.Contains(t, string(snippet), "tls-port 6380\n")
	conf := strings.ReplaceAll(string(snippet), certsPath, certs.Dir+"/")
	conf = strings.Replace(conf, "tls-port 6380\n", "tls-port "+strconv.Itoa(port)+"\n", 1)
	local := filepath.Join(dir, "tls.conf")
	require.NoError(t, os.WriteFile(local, []byte(conf), 0o600))

	testkit.StartProcess(t, testkit.Process{Dir: dir, Addr: addrOf(port), TLS: certs.ClientTLS(t, true),
		Args: []string{deployPath(t, confFile),
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
			"--pidfile", filepath.Join(dir, "redis.pid"), "--daemonize", "no",
			"--include", local}, Log: filepath.Join(dir, "redis.log")})
	return port
}

// TestTLSSnippetWithGeneratedCertificates follows deploy/README.md, "TLS":
// tls-certs.sh makes the CA and certificates, redis.conf plus tls.conf runs
// a TLS-only server that wants client certificates, and the library
// connects with the REDIS_TLS_* settings.
func TestTLSSnippetWithGeneratedCertificates(t *testing.T) {
	testkit.NeedSuite(t)
	certs := testkit.MakeCerts(t)
	for _, f := range []string{certs.CA, certs.ServerCert, certs.ServerKey, certs.ClientCert, certs.ClientKey} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		if strings.HasSuffix(f, ".key") {
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
		}
	}
	port := startTLSServer(t, certs)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	c, err := redisclient.New(redisclient.Options{Addr: addr, TLS: redisclient.TLSOptions{
		CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Set(ctx, "k", "v", time.Minute))
	rep := c.Health(ctx)
	assert.True(t, rep.TLS)
	assert.True(t, rep.Connected, rep.Error)

	admin := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: certs.ClientTLS(t, true)})
	defer admin.Close()
	for name, want := range map[string]string{"port": "0", "tls-port": strconv.Itoa(port), "tls-auth-clients": "yes",
		"tls-protocols": "TLSv1.2 TLSv1.3", "tls-replication": "yes"} {
		got, err := admin.ConfigGet(ctx, name).Result()
		require.NoError(t, err)
		assert.Equal(t, want, got[name], name)
	}

	// Without a client certificate the server ends the handshake.
	noCert, err := redisclient.New(redisclient.Options{Addr: addr, TLS: redisclient.TLSOptions{CAFile: certs.CA},
		Retry: redisclient.RetryPolicy{Attempts: 1}})
	require.NoError(t, err)
	defer noCert.Close()
	err = noCert.Ping(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate required")
	assert.Equal(t, redisclient.FailureTLSClientCertificate, noCert.Health(ctx).Failure)

	// Running the script again keeps the CA: certificates of the first
	// run and the second verify against one CA file.
	again := exec.Command("bash", filepath.Join(testkit.RepoPath("deploy"), "tls-certs.sh"), certs.Dir, "redis.internal")
	out, err := again.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "reusing the CA")
	verify := exec.Command("openssl", "verify", "-CAfile", certs.CA, certs.ServerCert, certs.ClientCert)
	out, err = verify.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func TestTLSCertsScriptUsage(t *testing.T) {
	testkit.NeedSuite(t)
	script := filepath.Join(testkit.RepoPath("deploy"), "tls-certs.sh")
	r := run(t, nil, "bash", script, "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "deploy/tls-certs.sh [--days N] DIR [NAME...]")
	r = run(t, nil, "bash", script)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "missing DIR")
	r = run(t, nil, "bash", script, "--days", "soon", t.TempDir())
	assert.Equal(t, 2, r.code)
	r = run(t, nil, "bash", script, t.TempDir(), "bad name!")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "neither a host name nor an IP address")
}

// users.conf as shipped has placeholders instead of password hashes: Redis
// must refuse to start with it, so it is never deployed with a known
// password.
func TestUsersConfPlaceholdersStopRedis(t *testing.T) {
	bin := testkit.NeedBinary(t, "redis-server")
	r := run(t, nil, bin, "--port", strconv.Itoa(testkit.FreePort(t)), "--bind", "127.0.0.1", "--save", "",
		"--include", deployPath(t, usersFile))
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stdout+r.stderr, "The password hash must be exactly 64 characters")

	// With the hashes filled in, both users load.
	data, err := os.ReadFile(deployPath(t, usersFile))
	require.NoError(t, err)
	hash := strings.Repeat("ab", 32)
	filled := strings.NewReplacer("REPLACE_WITH_SHA256_OF_THE_APP_PASSWORD", hash,
		"REPLACE_WITH_SHA256_OF_THE_DOCTOR_PASSWORD", hash).Replace(string(data))
	dir := tempDir(t)
	local := filepath.Join(dir, "users.conf")
	require.NoError(t, os.WriteFile(local, []byte(filled), 0o600))
	port := testkit.FreePort(t)
	testkit.StartProcess(t, testkit.Process{Dir: dir, Addr: addrOf(port), Args: []string{"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--save", "", "--dir", dir, "--include", local}})
	c := mustDial(t, port)
	users, ok := c.mustDo(t, "ACL", "USERS").([]any)
	require.True(t, ok)
	assert.ElementsMatch(t, []any{"default", "redisclient", "redisdoctor"}, users)
}
