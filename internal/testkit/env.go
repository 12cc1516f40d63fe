// Package testkit is what the test packages of this repository share: the
// environment checks of the integration suite, throwaway redis-server
// processes (plain, with TLS, with ACL users, or a whole set started by
// scripts/servers.sh), certificates from deploy/tls-certs.sh, and a fault
// proxy that cuts, stalls and rewrites Redis traffic.
//
// The rule every helper follows: a test that needs something missing (a
// server variable, a program) skips, except under REDISCLIENT_INTEGRATION=1
// (as scripts/test.sh and CI set it), where it fails instead.
package testkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Environment of the integration suite, written by scripts/servers.sh (see
// scripts/README.md) except EnvIntegration.
const (
	// EnvIntegration=1 makes every missing server or program a failure.
	EnvIntegration = "REDISCLIENT_INTEGRATION"

	EnvURL                 = "REDISCLIENT_TEST_URL"
	EnvClusterAddrs        = "REDISCLIENT_TEST_CLUSTER_ADDRS"
	EnvSentinelAddrs       = "REDISCLIENT_TEST_SENTINEL_ADDRS"
	EnvSentinelMaster      = "REDISCLIENT_TEST_SENTINEL_MASTER"
	EnvSentinelMasterAddr  = "REDISCLIENT_TEST_SENTINEL_MASTER_ADDR"
	EnvSentinelReplicaAddr = "REDISCLIENT_TEST_SENTINEL_REPLICA_ADDR"
	EnvHAClusterAddrs      = "REDISCLIENT_TEST_HA_CLUSTER_ADDRS"
)

// LibraryEnv lists every variable redisclient.OptionsFromEnv reads (the
// root package's TestLibraryEnvIsComplete keeps it complete).
var LibraryEnv = []string{
	"REDIS_URL", "REDIS_ADDR", "REDIS_HOST", "REDIS_PORT", "REDIS_USERNAME", "REDIS_PASSWORD",
	"REDIS_DB", "REDIS_NAMESPACE", "REDIS_DEFAULT_TTL", "REDIS_POOL_SIZE", "REDIS_CLUSTER_ADDRS",
	"REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_PASSWORD",
	"REDIS_TLS", "REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE", "REDIS_TLS_SERVER_NAME",
	"REDIS_TLS_INSECURE_SKIP_VERIFY", "REDIS_DISABLE_AUTO_PIPELINE",
	"REDIS_LOCAL_CACHE", "REDIS_LOCAL_CACHE_MAX_ENTRIES", "REDIS_LOCAL_CACHE_MAX_BYTES", "REDIS_LOCAL_CACHE_MAX_STALENESS",
}

// SetLibraryEnv empties every variable of LibraryEnv for the test, so the
// machine's own settings do not leak in, then sets the kv pairs
// ("REDIS_URL", url, ...).
func SetLibraryEnv(t testing.TB, kv ...string) {
	t.Helper()
	for _, k := range LibraryEnv {
		t.Setenv(k, "")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

// Integration reports whether the integration tests are required
// (REDISCLIENT_INTEGRATION=1).
func Integration() bool { return os.Getenv(EnvIntegration) == "1" }

// Unavailable ends t because something it needs is missing: it fails under
// REDISCLIENT_INTEGRATION=1 and skips otherwise.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Integration() {
		t.Fatalf("%s=1 but %s", EnvIntegration, msg)
	}
	t.Skip(msg)
}

// RequireEnv returns the value of an integration variable, ending t by
// Unavailable when it is unset.
func RequireEnv(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	Unavailable(t, "%s is not set: start the servers with scripts/servers.sh, or run scripts/test.sh", name)
	return ""
}

// NeedBinary returns the path of a program, ending t by Unavailable when it
// is not installed (scripts/deps.sh installs them).
func NeedBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s is not installed (scripts/deps.sh install): %v", name, err)
	}
	return p
}

// NeedSuite skips t outside the integration suite (neither
// REDISCLIENT_INTEGRATION nor REDISCLIENT_TEST_URL set), for tests too slow
// or too demanding for a plain go test, and needs redis-server, openssl, bash
// and programs by NeedBinary.
func NeedSuite(t testing.TB, programs ...string) {
	t.Helper()
	if !Integration() && os.Getenv(EnvURL) == "" {
		t.Skipf("integration test: set %s=1 or run scripts/test.sh", EnvIntegration)
	}
	for _, p := range append([]string{"redis-server", "openssl", "bash"}, programs...) {
		NeedBinary(t, p)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RepoPath is the absolute path of a file of this repository, such as
// RepoPath("deploy", "users.conf"), whatever the test's directory.
func RepoPath(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", ".."}, elem...)...)
}
