package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartServers starts servers of the given scripts/servers.sh kinds
// ("standalone", "cluster", "sentinel", "ha-cluster") in a state directory of
// the test's own, for tests that kill or reconfigure them, and stops them
// when the test ends. It returns the directory and the variables servers.sh
// wrote for them (EnvURL, EnvClusterAddrs, EnvHAClusterAddrs, ...).
//
// Starting a cluster takes seconds, so it runs only under
// REDISCLIENT_INTEGRATION=1 and skips otherwise.
func StartServers(t testing.TB, kinds ...string) (dir string, env map[string]string) {
	t.Helper()
	if !Integration() {
		t.Skipf("integration test: starts servers of its own (set %s=1, or run scripts/test.sh)", EnvIntegration)
	}
	for _, bin := range []string{"bash", "redis-server", "redis-cli"} {
		NeedBinary(t, bin)
	}
	script := RepoPath("scripts", "servers.sh")
	dir = t.TempDir()
	t.Cleanup(func() {
		if out, err := exec.Command("bash", script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("servers.sh stop %s: %v\n%s", dir, err, out)
		}
	})
	start := time.Now()
	out, err := exec.Command("bash", append([]string{script, "start", dir}, kinds...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("servers.sh start %s: %v\n%s", strings.Join(kinds, " "), err, out)
	}
	t.Logf("%s ready in %v", strings.Join(kinds, " "), time.Since(start).Round(time.Millisecond))

	raw, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	env = map[string]string{}
	for line := range strings.Lines(string(raw)) {
		if k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "="); ok {
			env[k] = v
		}
	}
	return dir, env
}
