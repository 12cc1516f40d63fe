package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// These tests run the doctor against redis-server processes with TLS ports
// and the ACL users of deploy/users.conf (internal/testkit).

const (
	appPassword    = "app-Pa55word"
	doctorPassword = "doctor-Pa55word"
)

func TestTLSFromEnvironmentAndFlags(t *testing.T) {
	certs := testkit.MakeCerts(t)
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs, ClientAuth: "yes", TLSOnly: true})

	testkit.SetLibraryEnv(t, "REDIS_ADDR", srv.TLSAddr(), "REDIS_TLS_CA_FILE", certs.CA,
		"REDIS_TLS_CERT_FILE", certs.ClientCert, "REDIS_TLS_KEY_FILE", certs.ClientKey)
	r := doctor(t)
	require.Equal(t, exitHealthy, r.code, r.stderr)
	line := lineOf(t, r.stdout, checkTLS)
	assert.Contains(t, line, "OK    tls")
	assert.Regexp(t, `TLS 1\.[23] \(TLS_`, line)
	assert.Contains(t, line, "server certificate for localhost, 127.0.0.1, ::1 issued by redisclient private CA")
	assert.Contains(t, line, "client certificate sent; certificate verified")

	// The same settings as flags.
	testkit.SetLibraryEnv(t)
	r = doctor(t, "--url", "rediss://"+srv.TLSAddr()+"/0", "--tls-ca-file", certs.CA,
		"--tls-cert-file", certs.ClientCert, "--tls-key-file", certs.ClientKey)
	require.Equal(t, exitHealthy, r.code, r.stderr)
	assert.Contains(t, lineOf(t, r.stdout, checkTLS), "certificate verified")

	// Without the client certificate: the fix names the variables and flags.
	testkit.SetLibraryEnv(t, "REDIS_ADDR", srv.TLSAddr(), "REDIS_TLS_CA_FILE", certs.CA)
	r = doctor(t)
	require.Equal(t, exitUnhealthy, r.code)
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "tls: certificate required")
	assert.Contains(t, unwrap(r.stdout), "set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE (--tls-cert-file, --tls-key-file)")

	// A bad file is a configuration error naming the flag.
	r = doctor(t, "--tls-ca-file", certs.Dir+"/missing.crt")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--tls-ca-file (or REDIS_TLS_CA_FILE)")
	assert.Contains(t, r.stderr, "no such file")
	testkit.SetLibraryEnv(t, "REDIS_ADDR", srv.TLSAddr(), "REDIS_TLS_CA_FILE", certs.Dir+"/missing.crt")
	r = doctor(t)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "environment variable REDIS_TLS_CA_FILE")
}

// TestTLSMismatchAdvice: a plain client at a TLS port and a TLS client at a
// plain port are named as such, with the fix, where the doctor said "the
// server closed the connection" or "context deadline exceeded" with
// firewall advice.
func TestTLSMismatchAdvice(t *testing.T) {
	certs := testkit.MakeCerts(t)
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs})

	testkit.SetLibraryEnv(t)
	r := doctor(t, "--url", "redis://"+srv.TLSAddr()+"/0")
	require.Equal(t, exitUnhealthy, r.code)
	reach := lineOf(t, r.stdout, checkReachable)
	assert.Contains(t, reach, "FAIL  reachable")
	assert.Contains(t, reach, "speaks TLS (a tls-port) but the client connects without it")
	out := unwrap(r.stdout)
	assert.Contains(t, out, "use rediss:// in REDIS_URL (or --url)")
	assert.Contains(t, out, "redis-cli --tls --cacert CA.crt")
	assert.NotContains(t, out, "firewall")

	r = doctor(t, "--url", "rediss://"+srv.Addr()+"/0", "--tls-ca-file", certs.CA)
	require.Equal(t, exitUnhealthy, r.code)
	reach = lineOf(t, r.stdout, checkReachable)
	assert.Contains(t, reach, "answers plain Redis, not TLS")
	assert.NotContains(t, reach, "context deadline exceeded")
	out = unwrap(r.stdout)
	assert.Contains(t, out, "use redis:// and unset REDIS_TLS_* (or drop the --tls-* flags)")
	assert.NotContains(t, out, "a firewall drops")

	// Health in the JSON report says the same.
	code, rep, _ := doctorJSON(t, "--url", "rediss://"+srv.Addr()+"/0", "--tls-ca-file", certs.CA)
	assert.Equal(t, exitUnhealthy, code)
	assert.Equal(t, "tls_unsupported", string(rep.Health.Failure))
}

func TestTLSWrongServerNameAndInsecure(t *testing.T) {
	certs := testkit.MakeCerts(t, "redis.example.internal")
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs, TLSOnly: true})
	localhost := strings.Replace(srv.TLSAddr(), "127.0.0.1", "localhost", 1)

	testkit.SetLibraryEnv(t, "REDIS_ADDR", localhost, "REDIS_TLS_CA_FILE", certs.CA)
	r := doctor(t)
	require.Equal(t, exitUnhealthy, r.code)
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "certificate is valid for redis.example.internal, not localhost")
	assert.Contains(t, unwrap(r.stdout), "REDIS_TLS_SERVER_NAME (--tls-server-name)")

	r = doctor(t, "--tls-server-name", "redis.example.internal")
	require.Equal(t, exitHealthy, r.code, r.stderr)
	assert.Contains(t, lineOf(t, r.stdout, checkTLS), "OK    tls")

	// Verification off: it works, and the doctor warns.
	testkit.SetLibraryEnv(t, "REDIS_ADDR", localhost, "REDIS_TLS_INSECURE_SKIP_VERIFY", "true")
	r = doctor(t)
	require.Equal(t, exitHealthy, r.code, r.stderr)
	line := lineOf(t, r.stdout, checkTLS)
	assert.Contains(t, line, "WARN  tls")
	assert.Contains(t, line, "certificate verification is OFF")
	out := unwrap(r.stdout)
	assert.Contains(t, out, "anyone on the network path can pose as the server")
	assert.Contains(t, out, "redis-cli --tls --insecure", "redis-cli hints reach the server the same way")

	code, rep, _ := doctorJSON(t, "--url", "rediss://"+localhost+"/0?skip_verify=true")
	assert.Equal(t, exitHealthy, code)
	assert.Equal(t, StatusWarn, checkOf(t, rep, checkTLS).Status)
	assert.True(t, rep.Health.TLSInsecureSkipVerify)
}

// TestCLIHintsUseTLS: advice for a TLS server shows redis-cli with the
// same TLS settings as the client, not a plain `redis-cli -p PORT`.
func TestCLIHintsUseTLS(t *testing.T) {
	certs := testkit.MakeCerts(t)
	srv := testkit.StartServer(t, testkit.Config{TLS: &certs, ClientAuth: "yes", TLSOnly: true})
	testkit.SetLibraryEnv(t, "REDIS_ADDR", srv.TLSAddr(), "REDIS_TLS_CA_FILE", certs.CA,
		"REDIS_TLS_CERT_FILE", certs.ClientCert, "REDIS_TLS_KEY_FILE", certs.ClientKey)
	r := doctor(t) // no maxmemory, noeviction: warnings with redis-cli fixes
	require.Equal(t, exitHealthy, r.code, r.stderr)
	out := unwrap(r.stdout)
	want := "redis-cli --tls --cacert " + certs.CA + " --cert " + certs.ClientCert + " --key " + certs.ClientKey + " -p " + strings.Split(srv.TLSAddr(), ":")[1] + " config set maxmemory"
	assert.Contains(t, out, want)
	assert.NotContains(t, out, "`redis-cli -p ")
}

// TestDoctorAsOperatorUser runs the doctor as the redisdoctor user of
// deploy/users.conf: every check runs, and the server denied nothing.
func TestDoctorAsOperatorUser(t *testing.T) {
	testkit.NeedSuite(t)
	srv := testkit.StartServer(t, testkit.Config{Lines: []string{
		testkit.DeployUser(t, "redisdoctor", doctorPassword),
	}})
	testkit.SetLibraryEnv(t, "REDIS_ADDR", srv.Addr(), "REDIS_USERNAME", "redisdoctor", "REDIS_PASSWORD", doctorPassword)
	r := doctor(t)
	require.Equal(t, exitHealthy, r.code, r.stderr)
	for _, name := range allChecks {
		assert.NotContains(t, lineOf(t, r.stdout, name), "SKIP", name)
	}
	assert.Contains(t, lineOf(t, r.stdout, checkAuth), "authenticated as ACL user redisdoctor")
	assert.Empty(t, srv.ACLLog(t), "the operator user's rule covers the doctor")
	assert.NotContains(t, r.stdout, doctorPassword)
}

// TestAdviceForLeastPrivilegeUsers: the service's own user (INFO allowed,
// SLOWLOG not) is not told to allow +info; a user without PING is reached
// and warned; a user without SELECT is told exactly that; NOPERM advice
// asks for the library's rule, not for diagnostic rights.
func TestAdviceForLeastPrivilegeUsers(t *testing.T) {
	testkit.NeedSuite(t)
	app := testkit.DeployUser(t, "redisclient", appPassword)
	srv := testkit.StartServer(t, testkit.Config{Lines: []string{
		app,
		strings.Replace(testkit.DeployUser(t, "redisclient", appPassword, "-ping"), "redisclient", "noping", 1),
	}})

	testkit.SetLibraryEnv(t, "REDIS_ADDR", srv.Addr(), "REDIS_USERNAME", "redisclient", "REDIS_PASSWORD", appPassword)
	r := doctor(t)
	require.Equal(t, exitHealthy, r.code, r.stderr)
	slow := lineOf(t, r.stdout, checkSlowlog)
	assert.Contains(t, slow, "SKIP  slowlog")
	assert.Contains(t, slow, "NOPERM")
	out := unwrap(r.stdout)
	assert.NotContains(t, out, "allow +info")
	assert.Contains(t, out, "The ACL user may not run SLOWLOG, which the doctor reads. Run the doctor as the operator user of deploy/users.conf (REDIS_USERNAME=redisdoctor), or allow +slowlog|len +slowlog|get for this user; the library itself does not need it.")
	assert.NotContains(t, lineOf(t, r.stdout, checkMemory), "SKIP", "INFO is allowed: memory is checked")

	testkit.SetLibraryEnv(t, "REDIS_ADDR", srv.Addr(), "REDIS_USERNAME", "noping", "REDIS_PASSWORD", appPassword)
	r = doctor(t)
	require.Equal(t, exitHealthy, r.code, r.stderr)
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "OK    reachable")
	assert.Contains(t, lineOf(t, r.stdout, checkAuth), "WARN  auth")
	assert.Contains(t, lineOf(t, r.stdout, checkAuth), "may not run PING")
	assert.Contains(t, lineOf(t, r.stdout, checkLatency), "OK    latency")
	assert.Contains(t, unwrap(r.stdout), "Allow +ping (the rule of user redisclient in deploy/users.conf")

	testkit.SetLibraryEnv(t, "REDIS_ADDR", srv.Addr(), "REDIS_USERNAME", "redisclient", "REDIS_PASSWORD", appPassword, "REDIS_DB", "2")
	r = doctor(t)
	require.Equal(t, exitUnhealthy, r.code)
	assert.Contains(t, lineOf(t, r.stdout, checkAuth), "FAIL  auth")
	out = unwrap(r.stdout)
	assert.Contains(t, out, "may not run SELECT, which every connection to a DB other than 0 needs: allow +select")
	assert.NotContains(t, out, "+slowlog")
	assert.NotContains(t, out, "+config|get")
}
