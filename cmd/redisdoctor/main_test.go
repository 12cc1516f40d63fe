package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/redisinfo"
	"github.com/systemtrader/redisclient/internal/testkit"
)

type result struct {
	code           int
	stdout, stderr string
}

// doctor runs the command in-process with args and a 20 s bound.
func doctor(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	r := result{code, out.String(), errOut.String()}
	t.Logf("redisdoctor %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// doctorJSON runs the command with --json and decodes the report.
func doctorJSON(t *testing.T, args ...string) (int, Report, map[string]any) {
	t.Helper()
	r := doctor(t, append([]string{"--json"}, args...)...)
	var rep Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), "stdout: %s", r.stdout)
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &raw))
	return r.code, rep, raw
}

func checkOf(t *testing.T, rep Report, name string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, rep.Checks)
	return Check{}
}

// lineOf returns the report line of a check ("WARN  memory  ...").
func lineOf(t *testing.T, out, name string) string {
	t.Helper()
	for l := range strings.Lines(out) {
		f := strings.Fields(l)
		if len(f) >= 2 && f[1] == name && (Status(f[0]).rank() > 0 || f[0] == string(StatusSkip)) {
			return l
		}
	}
	t.Fatalf("no line for check %q in:\n%s", name, out)
	return ""
}

var allChecks = []string{checkReachable, checkAuth, checkTLS, checkLatency, checkServer, checkMemory, checkPolicy,
	checkEvicted, checkPersist, checkSlowlog, checkClients}

// ---------------------------------------------------------------- tests

func TestHealthyServerExitsZero(t *testing.T) {
	url := testkit.RequireEnv(t, testkit.EnvURL)
	testkit.SetLibraryEnv(t, "REDIS_URL", url)
	r := doctor(t)
	require.Equal(t, exitHealthy, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	for _, name := range allChecks {
		line := lineOf(t, r.stdout, name)
		assert.NotContains(t, line, "FAIL", name)
		assert.NotContains(t, line, "SKIP", name)
	}
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "OK    reachable")
	assert.Contains(t, lineOf(t, r.stdout, checkLatency), "PING median")
	assert.Regexp(t, `OK    server +Redis \d+\.\d+\.\d+ \(standalone mode\), role master`, r.stdout)
	assert.Regexp(t, `(?m)^healthy: 0 failed, \d+ warning\(s\), 0 skipped \(exit 0, `, r.stdout)
}

func TestURLFlagOverridesEnvironment(t *testing.T) {
	url := testkit.RequireEnv(t, testkit.EnvURL)
	testkit.SetLibraryEnv(t, "REDIS_ADDR", fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)))
	r := doctor(t, "--url", url)
	require.Equal(t, exitHealthy, r.code)
	assert.Contains(t, r.stdout, strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0"))
}

func TestClusterIntegration(t *testing.T) {
	addrs := testkit.RequireEnv(t, testkit.EnvClusterAddrs)
	testkit.SetLibraryEnv(t, "REDIS_CLUSTER_ADDRS", addrs)
	code, rep, _ := doctorJSON(t)
	require.Equal(t, exitHealthy, code)
	assert.Equal(t, "cluster", rep.Deployment)
	c := checkOf(t, rep, checkCluster)
	assert.Equal(t, StatusOK, c.Status)
	assert.Contains(t, c.Detail, "cluster_state ok; 16384 of 16384 slots ok")
	// One detail line per master.
	assert.Len(t, strings.Split(checkOf(t, rep, checkLatency).Detail, "\n"), 3)
}

func TestStoppedServerExitsOneWithAdvice(t *testing.T) {
	port := testkit.FreePort(t)
	testkit.SetLibraryEnv(t, "REDIS_ADDR", fmt.Sprintf("127.0.0.1:%d", port))
	r := doctor(t)
	require.Equal(t, exitUnhealthy, r.code)
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "FAIL  reachable")
	assert.Contains(t, r.stdout, "connection refused")
	// The troubleshooting checklist of deploy/README.md.
	for _, want := range []string{
		"systemctl status redisclient-redis",
		"deploy/start-redis.sh --port " + strconv.Itoa(port),
		fmt.Sprintf("ss -ltnp 'sport = :%d'", port),
		"journalctl -u redisclient-redis",
		"REDIS_URL, REDIS_ADDR or REDIS_HOST/REDIS_PORT",
	} {
		assert.Contains(t, unwrap(r.stdout), want)
	}
	for _, name := range allChecks[2:] {
		assert.Contains(t, lineOf(t, r.stdout, name), "SKIP", name)
	}
	assert.Contains(t, r.stdout, "UNHEALTHY: 1 failed")
}

// unwrap joins the wrapped advice lines, so a phrase split over two lines
// can be found.
func unwrap(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func TestStalledServerTimesOut(t *testing.T) {
	addr := testkit.Blackhole(t)
	testkit.SetLibraryEnv(t)
	start := time.Now()
	r := doctor(t, "--url", "redis://"+addr+"/0", "--timeout", "700ms")
	assert.Less(t, time.Since(start), 3*time.Second)
	require.Equal(t, exitUnhealthy, r.code)
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "FAIL")
	assert.Contains(t, unwrap(r.stdout), "Nothing answered in time")
}

func TestJSONOutput(t *testing.T) {
	mr := miniredis.RunT(t)
	testkit.SetLibraryEnv(t, "REDIS_URL", "redis://"+mr.Addr()+"/0")
	code, rep, raw := doctorJSON(t)
	require.Equal(t, exitHealthy, code)

	for _, k := range []string{"status", "exit_code", "target", "deployment", "db", "checked_at", "duration_ms", "checks", "health"} {
		assert.Contains(t, raw, k)
	}
	checks := raw["checks"].([]any)
	require.Len(t, checks, len(allChecks))
	for i, c := range checks {
		m := c.(map[string]any)
		assert.Equal(t, allChecks[i], m["name"])
		assert.Contains(t, []any{"OK", "WARN", "FAIL", "SKIP"}, m["status"])
		assert.IsType(t, "", m["detail"])
		if m["status"] == "WARN" || m["status"] == "FAIL" {
			assert.NotEmpty(t, m["advice"], "%s has no advice", m["name"])
		}
	}
	health := raw["health"].(map[string]any)
	for _, k := range []string{"status", "connected", "response_time_ms", "address", "host", "port", "pool", "breaker"} {
		assert.Contains(t, health, k)
	}
	assert.Equal(t, mr.Addr(), rep.Target)
	assert.Equal(t, "standalone", rep.Deployment)
	assert.True(t, rep.Health.Connected)
	assert.Equal(t, "healthy", string(rep.Health.Status))
}

func TestJSONOutputUnhealthy(t *testing.T) {
	testkit.SetLibraryEnv(t, "REDIS_ADDR", fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)))
	code, rep, _ := doctorJSON(t)
	require.Equal(t, exitUnhealthy, code)
	assert.Equal(t, StatusFail, rep.Status)
	assert.Equal(t, 1, rep.ExitCode)
	reach := checkOf(t, rep, checkReachable)
	assert.Equal(t, StatusFail, reach.Status)
	assert.NotEmpty(t, reach.Advice)
	assert.Equal(t, "unhealthy", string(rep.Health.Status))
	assert.NotEmpty(t, rep.Health.Error)
}

// miniredis lacks most INFO fields and SLOWLOG, CONFIG and TIME: the doctor
// must say so, not crash or fail.
func TestMiniredisLacksInfoFields(t *testing.T) {
	mr := miniredis.RunT(t)
	testkit.SetLibraryEnv(t, "REDIS_URL", "redis://"+mr.Addr()+"/0")
	r := doctor(t)
	require.Equal(t, exitHealthy, r.code, r.stderr)
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "OK")
	assert.Contains(t, lineOf(t, r.stdout, checkLatency), "OK")
	assert.Contains(t, lineOf(t, r.stdout, checkServer), "WARN  server           the server does not report its version")
	assert.Contains(t, lineOf(t, r.stdout, checkMemory), "SKIP  memory           memory use not reported by the server")
	assert.Contains(t, lineOf(t, r.stdout, checkPolicy), "SKIP")
	assert.Contains(t, lineOf(t, r.stdout, checkEvicted), "SKIP")
	assert.Contains(t, lineOf(t, r.stdout, checkPersist), "SKIP")
	assert.Contains(t, lineOf(t, r.stdout, checkSlowlog), "SKIP  slowlog          the server does not support SLOWLOG")
	assert.Contains(t, lineOf(t, r.stdout, checkClients), "OK    clients          1 connected (maxclients not reported)")
}

func TestAuthErrors(t *testing.T) {
	const password = "s3cret-Pa55word"
	const wrong = "wrong-Pa55word"
	cases := func(t *testing.T, addr string) {
		t.Run("none", func(t *testing.T) {
			testkit.SetLibraryEnv(t, "REDIS_ADDR", addr)
			r := doctor(t)
			require.Equal(t, exitUnhealthy, r.code)
			assert.Contains(t, lineOf(t, r.stdout, checkReachable), "OK")
			assert.Contains(t, lineOf(t, r.stdout, checkAuth), "FAIL  auth")
			assert.Contains(t, lineOf(t, r.stdout, checkAuth), "NOAUTH")
			assert.Contains(t, unwrap(r.stdout), "set REDIS_PASSWORD")
			assert.Contains(t, lineOf(t, r.stdout, checkLatency), "not checked: the server refused the client")
		})
		t.Run("wrong", func(t *testing.T) {
			testkit.SetLibraryEnv(t, "REDIS_URL", "redis://:"+wrong+"@"+addr+"/0")
			r := doctor(t)
			require.Equal(t, exitUnhealthy, r.code)
			assert.Contains(t, lineOf(t, r.stdout, checkAuth), "WRONGPASS")
			assert.Contains(t, unwrap(r.stdout), "The password (or user name) is wrong")
			assert.NotContains(t, r.stdout+r.stderr, wrong)

			code, rep, _ := doctorJSON(t)
			require.Equal(t, exitUnhealthy, code)
			b, _ := json.Marshal(rep)
			assert.NotContains(t, string(b), wrong)
		})
		t.Run("right", func(t *testing.T) {
			testkit.SetLibraryEnv(t, "REDIS_ADDR", addr, "REDIS_PASSWORD", password)
			r := doctor(t)
			require.Equal(t, exitHealthy, r.code)
			assert.Contains(t, lineOf(t, r.stdout, checkAuth), "OK    auth             authenticated with a password")
			assert.NotContains(t, r.stdout+r.stderr, password)
			if strings.Contains(r.stdout, "fix: ") && strings.Contains(r.stdout, "redis-cli") {
				assert.Contains(t, r.stdout, "redis-cli needs the password: `read -rs REDISCLI_AUTH && export REDISCLI_AUTH`")
			}
		})
		t.Run("right in URL", func(t *testing.T) {
			testkit.SetLibraryEnv(t, "REDIS_URL", "redis://:"+password+"@"+addr+"/0")
			r := doctor(t)
			require.Equal(t, exitHealthy, r.code)
			assert.Contains(t, lineOf(t, r.stdout, checkAuth), "OK    auth             authenticated with a password")
			assert.NotContains(t, r.stdout+r.stderr, password)
		})
		t.Run("URL user wins over REDIS_USERNAME", func(t *testing.T) {
			// The library connects as the URL's user; the report names that one.
			testkit.SetLibraryEnv(t, "REDIS_URL", "redis://default:"+password+"@"+addr+"/0", "REDIS_USERNAME", "bob")
			r := doctor(t)
			require.Equal(t, exitHealthy, r.code)
			assert.Contains(t, lineOf(t, r.stdout, checkAuth), "OK    auth             authenticated as ACL user default")
			assert.NotContains(t, r.stdout, "bob")
		})
		t.Run("--url replaces REDIS_PASSWORD", func(t *testing.T) {
			testkit.SetLibraryEnv(t, "REDIS_PASSWORD", wrong)
			r := doctor(t, "--url", "redis://default:"+password+"@"+addr+"/0")
			require.Equal(t, exitHealthy, r.code)
			assert.Contains(t, lineOf(t, r.stdout, checkAuth), "OK    auth             authenticated as ACL user default")
			assert.NotContains(t, r.stdout+r.stderr, password)
		})
	}
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		mr.RequireAuth(password)
		cases(t, mr.Addr())
	})
	t.Run("redis", func(t *testing.T) {
		s := testkit.StartServer(t, testkit.Config{Password: password})
		cases(t, s.Addr())
	})
}

func TestEvictionPolicy(t *testing.T) {
	s := testkit.StartServer(t, testkit.Config{Args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}})
	testkit.SetLibraryEnv(t, "REDIS_URL", s.URL())

	code, rep, _ := doctorJSON(t)
	require.Equal(t, exitHealthy, code)
	assert.Equal(t, StatusOK, checkOf(t, rep, checkPolicy).Status)
	assert.Equal(t, "allkeys-lru", checkOf(t, rep, checkPolicy).Detail)
	mem := checkOf(t, rep, checkMemory)
	assert.Equal(t, StatusOK, mem.Status)
	assert.Contains(t, mem.Detail, "of 64.0 MiB maxmemory")

	require.NoError(t, s.Admin().ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err())
	r := doctor(t)
	require.Equal(t, exitHealthy, r.code, "a warning is still exit 0")
	assert.Contains(t, lineOf(t, r.stdout, checkPolicy), "WARN  eviction-policy  noeviction: when memory reaches maxmemory, writes fail with OOM")
	assert.Contains(t, unwrap(r.stdout), fmt.Sprintf("redis-cli -p %d config set maxmemory-policy allkeys-lru", s.Port))
}

func TestMemoryNearMaxmemory(t *testing.T) {
	s := testkit.StartServer(t, testkit.Config{Args: []string{"--maxmemory-policy", "allkeys-lru"}})
	ctx := context.Background()
	used, err := s.Admin().Info(ctx, "memory").Result()
	require.NoError(t, err)
	n, _ := strconv.ParseInt(redisinfo.Parse(used)["used_memory"], 10, 64)
	// A limit just above current use: at or above 90% without evicting.
	require.NoError(t, s.Admin().ConfigSet(ctx, "maxmemory", strconv.FormatInt(n+n/20, 10)).Err())
	testkit.SetLibraryEnv(t, "REDIS_URL", s.URL())
	code, rep, _ := doctorJSON(t)
	require.Equal(t, exitHealthy, code)
	mem := checkOf(t, rep, checkMemory)
	assert.Equal(t, StatusWarn, mem.Status, mem.Detail)
	assert.Contains(t, strings.Join(mem.Advice, " "), "lower the TTLs")
}

func TestMaxmemoryZeroWarns(t *testing.T) {
	s := testkit.StartServer(t, testkit.Config{})
	testkit.SetLibraryEnv(t, "REDIS_URL", s.URL())
	_, rep, _ := doctorJSON(t)
	mem := checkOf(t, rep, checkMemory)
	assert.Equal(t, StatusWarn, mem.Status)
	assert.Contains(t, mem.Detail, "no maxmemory limit")
	assert.Contains(t, strings.Join(mem.Advice, " "), "config set maxmemory 256mb")
}

func TestPersistenceFailure(t *testing.T) {
	s := testkit.StartServer(t, testkit.Config{Args: []string{"--save", "3600 1", "--enable-protected-configs", "yes"}})
	ctx := context.Background()
	// Redis works in its data directory; once it is gone, a snapshot cannot
	// be written.
	// Redis refuses to shut down while it cannot save: turn saving off
	// before the server is stopped.
	t.Cleanup(func() { _ = s.Admin().ConfigSet(ctx, "save", "").Err() })
	data := filepath.Join(s.Dir, "data")
	require.NoError(t, os.Mkdir(data, 0o700))
	require.NoError(t, s.Admin().ConfigSet(ctx, "dir", data).Err())
	require.NoError(t, os.Remove(data))
	require.NoError(t, s.Admin().Set(ctx, "k", "v", 0).Err())
	require.NoError(t, s.Admin().BgSave(ctx).Err())
	require.Eventually(t, func() bool {
		info := redisinfo.Parse(s.Admin().Info(ctx, "persistence").Val())
		return info["rdb_bgsave_in_progress"] == "0" && info["rdb_last_bgsave_status"] == "err"
	}, 10*time.Second, 20*time.Millisecond)

	testkit.SetLibraryEnv(t, "REDIS_URL", s.URL())
	r := doctor(t)
	require.Equal(t, exitUnhealthy, r.code)
	line := lineOf(t, r.stdout, checkPersist)
	assert.Contains(t, line, "FAIL  persistence")
	assert.Contains(t, line, "(err)")
	// Redis refuses PING too (MISCONF), yet the server answers.
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "OK    reachable")
	assert.Contains(t, lineOf(t, r.stdout, checkReachable), "MISCONF")
	assert.Contains(t, lineOf(t, r.stdout, checkLatency), "OK    latency")
	out := unwrap(r.stdout)
	assert.Contains(t, out, "Redis now refuses every write")
	assert.Contains(t, out, "df -h DIR")
	assert.Contains(t, out, fmt.Sprintf("redis-cli -p %d config get dir", s.Port))
}

func TestSlowlogShowsCommandsNotValues(t *testing.T) {
	s := testkit.StartServer(t, testkit.Config{Args: []string{"--slowlog-log-slower-than", "0"}})
	ctx := context.Background()
	require.NoError(t, s.Admin().Set(ctx, "trading:quote:AAPL", "the-secret-value", 0).Err())
	// Log nothing from here on (this CONFIG SET included), so the newest
	// entries are the SET and the PINGs before it.
	require.NoError(t, s.Admin().ConfigSet(ctx, "slowlog-log-slower-than", "10000000").Err())
	testkit.SetLibraryEnv(t, "REDIS_URL", s.URL())
	r := doctor(t)
	require.Equal(t, exitHealthy, r.code)
	assert.Contains(t, lineOf(t, r.stdout, checkSlowlog), "WARN  slowlog")
	assert.Contains(t, r.stdout, "(commands slower than 10s)")
	assert.Contains(t, r.stdout, "SET trading:quote:AAPL (2 args)")
	assert.NotContains(t, r.stdout, "the-secret-value")
	assert.Contains(t, unwrap(r.stdout), fmt.Sprintf("redis-cli -p %d slowlog get 10", s.Port))
}

func TestUsageErrors(t *testing.T) {
	mr := miniredis.RunT(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"--nope"}, "flag provided but not defined: -nope"},
		{"bad timeout", nil, []string{"--timeout", "soon"}, "invalid value \"soon\" for flag -timeout"},
		{"zero timeout", nil, []string{"--timeout", "0s"}, "--timeout 0s: must be positive"},
		{"bad watch", nil, []string{"--watch", "often"}, "--watch \"often\": want a number of seconds"},
		{"tiny watch", nil, []string{"--watch", "0"}, "must be at least 100ms"},
		{"argument", nil, []string{"extra"}, "unexpected argument \"extra\""},
		{"bad url scheme", nil, []string{"--url", "http://user:hunter22@x/"}, "--url: want redis://"},
		{"bad env", []string{"REDIS_DB", "x"}, nil, "REDIS_DB"},
		{"env conflict", []string{"REDIS_URL", "redis://" + mr.Addr(), "REDIS_ADDR", mr.Addr()}, nil, "conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testkit.SetLibraryEnv(t, tc.env...)
			r := doctor(t, tc.args...)
			assert.Equal(t, exitUsage, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stderr, "hunter22")
		})
	}
}

// A configuration error that only New finds (a missing certificate file)
// is exit 2 with the flag's name, before any check and even when
// interrupted.
func TestConfigurationErrorFromNew(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.crt")
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"flag", []string{"REDIS_ADDR", addr}, []string{"--tls-ca-file", missing}, "redisdoctor: configuration: redisclient: invalid options: --tls-ca-file (or REDIS_TLS_CA_FILE): open " + missing},
		{"environment", []string{"REDIS_ADDR", addr, "REDIS_TLS_CA_FILE", missing}, nil, "redisdoctor: configuration: redisclient: invalid options: environment variable REDIS_TLS_CA_FILE: open " + missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testkit.SetLibraryEnv(t, tc.env...)
			r := doctor(t, tc.args...)
			assert.Equal(t, exitUsage, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tc.want)

			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var out, errOut bytes.Buffer
			assert.Equal(t, exitUsage, run(ctx, tc.args, &out, &errOut))
			assert.Empty(t, out.String())
			assert.Contains(t, errOut.String(), tc.want)
		})
	}
}

func TestHelp(t *testing.T) {
	testkit.SetLibraryEnv(t)
	r := doctor(t, "--help")
	assert.Equal(t, exitHealthy, r.code)
	for _, want := range []string{"Usage: redisdoctor", "-url", "-timeout", "-json", "-watch", "Exit codes: 0 healthy"} {
		assert.Contains(t, r.stdout, want)
	}
}

func TestWatchRepeatsUntilCancelled(t *testing.T) {
	mr := miniredis.RunT(t)
	testkit.SetLibraryEnv(t, "REDIS_URL", "redis://"+mr.Addr()+"/0")
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"--json", "--watch", "100ms"}, &out, &errOut)
	assert.Equal(t, exitHealthy, code)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.GreaterOrEqual(t, len(lines), 2, out.String())
	for _, l := range lines {
		var rep Report
		require.NoError(t, json.Unmarshal([]byte(l), &rep), l)
		assert.Equal(t, exitHealthy, rep.ExitCode)
	}
}

func TestWatchExitCodeIsTheLastRound(t *testing.T) {
	mr := miniredis.RunT(t)
	addr := mr.Addr()
	testkit.SetLibraryEnv(t, "REDIS_URL", "redis://"+addr+"/0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testkit.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--watch", "100ms"}, &out, &errOut) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "healthy: 0 failed") }, 5*time.Second, 10*time.Millisecond)
	mr.Close()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "UNHEALTHY") }, 5*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, exitUnhealthy, code)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
}

func TestInterruptedBeforeFirstRound(t *testing.T) {
	testkit.SetLibraryEnv(t, "REDIS_ADDR", fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	assert.Equal(t, exitInterrupted, run(ctx, nil, &out, &errOut))
	assert.Empty(t, out.String())
	assert.Contains(t, errOut.String(), "interrupted")
}

// TestMain lets a test run this test binary as the command itself.
func TestMain(m *testing.M) {
	if os.Getenv("REDISDOCTOR_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is this test binary running as the command.
type proc struct {
	cmd    *exec.Cmd
	out    *testkit.Buffer
	exited chan struct{}
}

// startSelf runs this test binary as the command, with env and args; it is
// killed when the test ends if still running.
func startSelf(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(os.Args[0], args...), out: &testkit.Buffer{}, exited: make(chan struct{})}
	p.cmd.Env = append([]string{"REDISDOCTOR_TEST_MAIN=1"}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// exitCode waits for the command and returns its exit code.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatalf("the command did not exit:\n%s", p.out.String())
		return -1
	}
}

// The program itself: SIGTERM or SIGINT during --watch ends it with the last
// round's exit code.
func TestSignalEndsWatch(t *testing.T) {
	mr := miniredis.RunT(t)
	p := startSelf(t, []string{"REDIS_URL=redis://" + mr.Addr() + "/0"}, "--watch", "100ms")
	require.Eventually(t, func() bool { return strings.Count(p.out.String(), "healthy: 0 failed") >= 2 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitHealthy, p.exitCode(t), p.out.String())

	p = startSelf(t, []string{fmt.Sprintf("REDIS_ADDR=127.0.0.1:%d", testkit.FreePort(t))}, "--watch", "100ms", "--json")
	require.Eventually(t, func() bool { return strings.Count(p.out.String(), "\n") >= 2 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	assert.Equal(t, exitUnhealthy, p.exitCode(t), p.out.String())
}

// ---------------------------------------------------------------- units

func TestSaveRules(t *testing.T) {
	pts := parseSave("900 1 300 10 60 10000")
	require.Len(t, pts, 3)
	_, ok := saveDue(pts, 0)
	assert.False(t, ok)
	due, ok := saveDue(pts, 5)
	assert.True(t, ok)
	assert.Equal(t, 900*time.Second, due)
	due, _ = saveDue(pts, 50)
	assert.Equal(t, 300*time.Second, due)
	due, _ = saveDue(pts, 20000)
	assert.Equal(t, 60*time.Second, due)
	assert.Empty(t, parseSave(""))
}

func TestPersistenceVerdicts(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	n := func(kv ...string) *node {
		nd := &node{info: map[string]string{}, config: map[string]string{"save": "900 1"}, now: now}
		for i := 0; i+1 < len(kv); i += 2 {
			nd.info[kv[i]] = kv[i+1]
		}
		return nd
	}
	last := strconv.FormatInt(now.Add(-2*time.Hour).Unix(), 10)
	v := persistenceCheck(target{}, n("rdb_last_bgsave_status", "ok", "rdb_last_save_time", last, "rdb_changes_since_last_save", "3", "aof_enabled", "0"))
	assert.Equal(t, StatusWarn, v.status, v.detail)
	assert.Contains(t, v.detail, "RDB last save 2h ago (ok), 3 change(s) since, overdue")

	v = persistenceCheck(target{}, n("rdb_last_bgsave_status", "ok", "rdb_last_save_time", last, "rdb_changes_since_last_save", "0", "aof_enabled", "0"))
	assert.Equal(t, StatusOK, v.status, v.detail)

	v = persistenceCheck(target{}, n("rdb_last_bgsave_status", "ok", "aof_enabled", "1", "aof_last_write_status", "err", "aof_last_bgrewrite_status", "ok"))
	assert.Equal(t, StatusFail, v.status)
	assert.Contains(t, v.detail, "AOF on (last write err, last rewrite ok)")

	v = persistenceCheck(target{}, n())
	assert.Equal(t, StatusSkip, v.status)
}

func TestClassify(t *testing.T) {
	for msg, want := range map[string]string{
		"NOAUTH Authentication required.":                   "noauth",
		"WRONGPASS invalid username-password pair":          "wrongpass",
		"ERR invalid password":                              "wrongpass",
		"LOADING Redis is loading the dataset in memory":    "loading",
		"ERR max number of clients reached":                 "maxclients",
		"dial tcp 127.0.0.1:1: connect: connection refused": "refused",
		"dial tcp: lookup nohost: no such host":             "dns",
		"dial tcp 10.0.0.1:6379: i/o timeout":               "timeout",
		"EOF":                                               "closed",
		"something else":                                    "other",
	} {
		assert.Equal(t, want, classify(fmt.Errorf("%s", msg)), msg)
	}
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "42s", fmtAge(42*time.Second))
	assert.Equal(t, "3m", fmtAge(3*time.Minute))
	assert.Equal(t, "3m10s", fmtAge(3*time.Minute+10*time.Second))
	assert.Equal(t, "5h7m", fmtAge(5*time.Hour+7*time.Minute))
	assert.Equal(t, "3d4h", fmtAge(76*time.Hour))
	assert.Equal(t, "512 B", fmtBytes(512))
	assert.Equal(t, "256.0 MiB", fmtBytes(256<<20))
	assert.Equal(t, "72µs", fmtDur(72*time.Microsecond+300))
	assert.Equal(t, "SET k (2 args)", describeArgs([]string{"set", "k", "v"}))
	assert.Equal(t, "AUTH (1 args)", describeArgs([]string{"auth", "pw"}))
	for _, l := range wrap(strings.Repeat("word ", 50), 60) {
		assert.LessOrEqual(t, len(l), 60)
	}
}

// A password with unencoded / # ? @ or space, or a bad % escape, made URL
// parsers quote the start of it ("invalid port \":Qx7\""). Neither --url
// nor REDIS_URL may bring any part of the user info to the output.
func TestURLUserInfoNeverShown(t *testing.T) {
	const head, tail, user = "Qx7", "Zv4", "Uu1"
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	for _, c := range []string{"/", "#", "?", " ", "%zz", "@", ":"} {
		for _, ui := range []string{":" + head + c + tail, user + c + ":" + head + c + tail} {
			u := "redis://" + ui + "@" + addr + "/0"
			check := func(r result) {
				t.Helper()
				for _, s := range []string{head, tail, user} {
					assert.NotContains(t, r.stdout+r.stderr, s, "user info %q", ui)
				}
				assert.NotEqual(t, 0, r.code)
			}
			testkit.SetLibraryEnv(t)
			check(doctor(t, "--url", u, "--timeout", "2s"))
			check(doctor(t, "--json", "--url", u, "--timeout", "2s"))
			testkit.SetLibraryEnv(t, "REDIS_URL", u)
			check(doctor(t, "--timeout", "2s"))
		}
	}
}
