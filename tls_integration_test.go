package redisclient

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// These tests run against redis-server processes with TLS ports and ACL
// users, certificates made by deploy/tls-certs.sh (see internal/testkit).

// envClient builds the process-wide client from the environment, as a
// service's GetClient does, and undoes it when the test ends.
func envClient(t *testing.T, kv ...string) *Client {
	t.Helper()
	testkit.SetLibraryEnv(t, kv...)
	SetDefault(nil)
	c, err := Default()
	require.NoError(t, err)
	t.Cleanup(func() {
		SetDefault(nil)
		_ = c.Close()
	})
	return c
}

// tlsHealth is Health with a deadline long enough for its TLS probes.
func tlsHealth(t *testing.T, c *Client) HealthReport {
	t.Helper()
	r := c.Health(testCtx(t))
	t.Logf("health: status=%s failure=%s problems=%q notes=%q error=%s", r.Status, r.Failure, r.Problems, r.Notes, r.Error)
	return r
}

func TestTLSPrivateCAFromEnvironment(t *testing.T) {
	certs := testkit.MakeCerts(t)
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs, TLSOnly: true})

	c := envClient(t, EnvAddr, srv.TLSAddr(), EnvTLSCAFile, certs.CA)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", time.Minute))
	var got string
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "v", got)
	r := tlsHealth(t, c)
	assert.Equal(t, StatusHealthy, r.Status)
	assert.True(t, r.TLS)
	assert.False(t, r.TLSInsecureSkipVerify)
	assert.Empty(t, r.Notes)

	// The same through a rediss:// URL.
	c = envClient(t, EnvURL, "rediss://"+srv.TLSAddr()+"/0", EnvTLSCAFile, certs.CA)
	require.NoError(t, c.Ping(testCtx(t)))

	// Without the CA: the system roots do not know it.
	c = envClient(t, EnvAddr, srv.TLSAddr(), EnvTLS, "true")
	r = tlsHealth(t, c)
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.Equal(t, FailureTLSCertificate, r.Failure)
	assert.Contains(t, r.Problems[0], "x509: certificate signed by unknown authority")
	assert.Contains(t, r.Problems[0], "set REDIS_TLS_CA_FILE")
}

func TestTLSMutual(t *testing.T) {
	certs := testkit.MakeCerts(t)
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs, ClientAuth: "yes", TLSOnly: true})

	c := envClient(t, EnvAddr, srv.TLSAddr(), EnvTLSCAFile, certs.CA,
		EnvTLSCertFile, certs.ClientCert, EnvTLSKeyFile, certs.ClientKey)
	require.NoError(t, c.Set(testCtx(t), "k", "v", time.Minute))
	assert.Equal(t, StatusHealthy, tlsHealth(t, c).Status)

	// No client certificate: the server ends the handshake.
	c = envClient(t, EnvAddr, srv.TLSAddr(), EnvTLSCAFile, certs.CA)
	r := tlsHealth(t, c)
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.Equal(t, FailureTLSClientCertificate, r.Failure)
	assert.Contains(t, r.Problems[0], "set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE")

	// A client certificate of another CA: refused too.
	other := testkit.MakeCerts(t)
	c = envClient(t, EnvAddr, srv.TLSAddr(), EnvTLSCAFile, certs.CA,
		EnvTLSCertFile, other.ClientCert, EnvTLSKeyFile, other.ClientKey)
	// With TLS 1.3 the client finishes its handshake before the server
	// checks the certificate; the server's alert can lose the race with its
	// reset, and then all the client sees is a closed connection.
	r = tlsHealth(t, c)
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.Contains(t, []FailureKind{FailureTLSClientCertificate, FailureClosed}, r.Failure, "%+v", r)
}

func TestTLSWrongServerName(t *testing.T) {
	certs := testkit.MakeCerts(t, "redis.example.internal")
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs, TLSOnly: true})

	// Dialed by name, and by address.
	localhost := strings.Replace(srv.TLSAddr(), "127.0.0.1", "localhost", 1)
	for addr, why := range map[string]string{
		localhost:     "certificate is valid for redis.example.internal, not localhost",
		srv.TLSAddr(): "cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
	} {
		c := envClient(t, EnvAddr, addr, EnvTLSCAFile, certs.CA)
		err := c.Ping(testCtx(t))
		require.Error(t, err)
		assert.Contains(t, err.Error(), why)
		r := tlsHealth(t, c)
		assert.Equal(t, FailureTLSCertificate, r.Failure)
		assert.Contains(t, r.Problems[0], why)
		assert.Contains(t, r.Problems[0], "REDIS_TLS_SERVER_NAME")
	}

	// The name the certificate carries, while dialing the address.
	c := envClient(t, EnvAddr, srv.TLSAddr(), EnvTLSCAFile, certs.CA, EnvTLSServerName, "redis.example.internal")
	require.NoError(t, c.Ping(testCtx(t)))
	assert.Equal(t, StatusHealthy, tlsHealth(t, c).Status)
}

// TestTLSMismatch points a plain client at a TLS port and a TLS client at a
// plain port: Health names the mismatch and its fix, where it said "redis
// answers but refuses commands (EOF)" and "context deadline exceeded".
func TestTLSMismatch(t *testing.T) {
	certs := testkit.MakeCerts(t)
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs})

	t.Run("redis:// at the TLS port", func(t *testing.T) {
		c := envClient(t, EnvURL, "redis://"+srv.TLSAddr()+"/0")
		r := tlsHealth(t, c)
		assert.Equal(t, StatusUnhealthy, r.Status)
		assert.Equal(t, FailureTLSRequired, r.Failure)
		require.Len(t, r.Problems, 1)
		assert.Contains(t, r.Problems[0], "speaks TLS (a tls-port) but the client connects without it: use rediss://")
		assert.NotContains(t, r.Problems[0], "refuses commands")
	})
	t.Run("rediss:// at the plain port", func(t *testing.T) {
		c := envClient(t, EnvURL, "rediss://"+srv.Addr()+"/0", EnvTLSCAFile, certs.CA)
		start := time.Now()
		r := tlsHealth(t, c)
		assert.Equal(t, StatusUnhealthy, r.Status)
		assert.Equal(t, FailureTLSUnsupported, r.Failure)
		require.Len(t, r.Problems, 1)
		assert.Contains(t, r.Problems[0], "answers plain Redis, not TLS, but the client uses TLS: use redis://")
		t.Logf("took %v", time.Since(start))
	})
	t.Run("TLS variables at the plain port", func(t *testing.T) {
		c := envClient(t, EnvAddr, srv.Addr(), EnvTLSCAFile, certs.CA)
		assert.Equal(t, FailureTLSUnsupported, tlsHealth(t, c).Failure)
	})
}

func TestTLSInsecureSkipVerify(t *testing.T) {
	certs := testkit.MakeCerts(t, "redis.example.internal")
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs, TLSOnly: true})

	for name, kv := range map[string][]string{
		"variable": {EnvAddr, srv.TLSAddr(), EnvTLSInsecureSkipVerify, "true"},
		"url":      {EnvURL, "rediss://" + srv.TLSAddr() + "/0?skip_verify=true"},
	} {
		t.Run(name, func(t *testing.T) {
			testkit.SetLibraryEnv(t, kv...)
			o, err := OptionsFromEnv()
			require.NoError(t, err)
			var log bytes.Buffer
			o.Logger = slog.New(slog.NewTextHandler(&log, nil))
			c, err := New(o)
			require.NoError(t, err)
			defer c.Close()
			assert.Contains(t, log.String(), "level=WARN")
			assert.Contains(t, log.String(), "TLS certificate verification is off")

			require.NoError(t, c.Ping(testCtx(t)), "no CA, wrong name: accepted all the same")
			r := tlsHealth(t, c)
			assert.Equal(t, StatusHealthy, r.Status, "a note, not a problem")
			assert.True(t, r.TLSInsecureSkipVerify)
			require.Len(t, r.Notes, 1)
			assert.True(t, strings.HasPrefix(r.Notes[0], "TLS certificate verification is off"))
		})
	}
}

// TestHealthLeastPrivilegeUsers: a user that may not run INFO, or PING, is
// healthy with a note (it was "degraded" for good without INFO); one that
// may not SELECT its DB cannot work at all, and Health says what to allow.
func TestHealthLeastPrivilegeUsers(t *testing.T) {
	testkit.NeedSuite(t)
	srv := testkit.StartServer(t, testkit.Config{Lines: []string{
		strings.Replace(testkit.DeployUser(t, "redisclient", appPassword, "-info"), "redisclient", "noinfo", 1),
		strings.Replace(testkit.DeployUser(t, "redisclient", appPassword, "-ping"), "redisclient", "noping", 1),
		testkit.DeployUser(t, "redisclient", appPassword),
	}})
	health := func(user string, db int) HealthReport {
		c, err := New(Options{Addr: srv.Addr(), Username: user, Password: appPassword, DB: db})
		require.NoError(t, err)
		defer c.Close()
		return tlsHealth(t, c)
	}

	r := health("noinfo", 0)
	assert.Equal(t, StatusHealthy, r.Status, "%q", r.Problems)
	assert.True(t, r.Connected)
	assert.Empty(t, r.Error)
	assert.Equal(t, []string{noteNoInfo}, r.Notes)
	assert.Empty(t, r.Version, "unknown without INFO")
	assert.Positive(t, r.ResponseTimeMS)

	r = health("noping", 0)
	assert.Equal(t, StatusHealthy, r.Status, "%q", r.Problems)
	assert.True(t, r.Connected)
	assert.Equal(t, []string{noteNoPing}, r.Notes)
	assert.NotEmpty(t, r.Version)

	r = health("redisclient", 1)
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.Equal(t, FailureNoPerm, r.Failure)
	assert.Equal(t, []string{"the ACL user may not run SELECT (NOPERM), which every new connection needs: allow +select"}, r.Problems)
}

// TestBreakerRecoversWithoutPing: after an outage, a client whose ACL user
// may not run PING gets going again (the probe's NOPERM reply closes the
// breaker).
func TestBreakerRecoversWithoutPing(t *testing.T) {
	testkit.NeedSuite(t)
	srv := testkit.StartServer(t, testkit.Config{Lines: []string{
		testkit.DeployUser(t, "redisclient", appPassword, "-ping"),
	}})
	c, err := New(Options{Addr: srv.Addr(), Username: "redisclient", Password: appPassword,
		Breaker: BreakerOptions{Threshold: 2, Cooldown: 100 * time.Millisecond}})
	require.NoError(t, err)
	defer c.Close()
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", time.Minute))

	srv.Stop()
	require.Eventually(t, func() bool {
		_ = c.Set(ctx, "k", "v", time.Minute)
		return c.BreakerState() != BreakerClosed
	}, 5*time.Second, 10*time.Millisecond)
	srv.Restart()

	require.Eventually(t, func() bool { return c.Set(ctx, "k", "v2", time.Minute) == nil }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, BreakerClosed, c.BreakerState())
	assert.Contains(t, strings.Join(srv.ACLLog(t), "\n"), "object=ping", "the probe's PING was refused, and still closed the breaker")
}
