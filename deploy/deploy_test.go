// Package deploy_test checks the Redis deploy kit in this directory against
// real binaries: redis.conf against redis-server 7, the systemd unit against
// systemd-analyze, and start-redis.sh end to end.
//
// Tests that need a binary skip when it is missing, unless
// REDISCLIENT_INTEGRATION=1 is set, in which case they fail (internal/testkit).
package deploy_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

const (
	confFile    = "redis.conf"
	unitFile    = "redisclient-redis.service"
	startScript = "start-redis.sh"

	// Exit codes documented in start-redis.sh --help.
	exitUsage     = 2
	exitPortInUse = 3

	readyTimeout   = testkit.Wait     // longest wait for a server to come up
	commandTimeout = 12 * time.Second // hard limit for any external command
	stopTimeout    = 5 * time.Second  // SIGTERM grace period before SIGKILL
)

// deployPath returns the absolute path of a file in this directory.
func deployPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(name)
	require.NoError(t, err)
	require.FileExists(t, p)
	return p
}

// tempDir is t.TempDir with symlinks resolved, because Redis reports its
// working directory the way getcwd sees it.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	return d
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// ---------------------------------------------------------------------------
// A minimal RESP2 client, enough for PING, AUTH, CONFIG GET and INFO.

type respError string

func (e respError) Error() string { return string(e) }

type respConn struct {
	conn net.Conn
	rd   *bufio.Reader
}

// addrOf is the loopback host:port of a port.
func addrOf(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func dialRedis(port int) (*respConn, error) {
	conn, err := net.DialTimeout("tcp", addrOf(port), time.Second)
	if err != nil {
		return nil, err
	}
	return &respConn{conn: conn, rd: bufio.NewReader(conn)}, nil
}

func mustDial(t *testing.T, port int) *respConn {
	t.Helper()
	c, err := dialRedis(port)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.conn.Close() })
	return c
}

// do sends one command. A Redis error reply comes back as a respError value,
// not as the error result, which is kept for I/O and protocol failures.
func (c *respConn) do(args ...string) (any, error) {
	if err := c.conn.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return nil, err
	}
	return c.read()
}

func (c *respConn) read() (any, error) {
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty RESP line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unexpected RESP line %q", line)
}

func (c *respConn) mustDo(t *testing.T, args ...string) any {
	t.Helper()
	reply, err := c.do(args...)
	require.NoError(t, err, "redis command %s", args[0])
	return reply
}

// configGet returns the value of one CONFIG GET parameter.
func configGet(t *testing.T, c *respConn, name string) string {
	t.Helper()
	reply := c.mustDo(t, "CONFIG", "GET", name)
	items, ok := reply.([]any)
	require.True(t, ok, "CONFIG GET %s: unexpected reply %#v", name, reply)
	require.Len(t, items, 2, "CONFIG GET %s: unexpected reply %#v", name, reply)
	v, ok := items[1].(string)
	require.True(t, ok, "CONFIG GET %s: unexpected reply %#v", name, reply)
	return v
}

// serverUp reports whether something answering like Redis listens on port.
// NOAUTH counts: the server is up, it just wants a password.
func serverUp(port int) bool {
	c, err := dialRedis(port)
	if err != nil {
		return false
	}
	defer c.conn.Close()
	reply, err := c.do("PING")
	if err != nil {
		return false
	}
	if e, ok := reply.(respError); ok {
		return strings.HasPrefix(string(e), "NOAUTH")
	}
	return reply == "PONG"
}

// ---------------------------------------------------------------------------
// Process helpers.

// stopPID stops a daemonized server that is not our child: SIGTERM, then
// SIGKILL after stopTimeout.
func stopPID(t *testing.T, pid int) {
	t.Helper()
	gone := func() bool {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		// A zombie waiting for its reaper is gone as far as we care.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
			return stat[i+2] == 'Z'
		}
		return false
	}
	if gone() {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(stopTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if gone() {
			return
		}
	}
	t.Logf("pid %d ignored SIGTERM for %s; killing it", pid, stopTimeout)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs a command with a hard time limit and returns its output and exit
// code; failing to start it at all fails the test.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	// Background servers started by the command may inherit the pipes for a
	// moment; do not wait for them to close them.
	cmd.WaitDelay = time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "%s %s timed out; stderr:\n%s", name, strings.Join(args, " "), stderr.String())
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		require.NoError(t, err, "running %s", name)
	}
	return res
}

// ---------------------------------------------------------------------------
// redis.conf

// Every directive in redis.conf must be explained by the comment line just
// above it, and no secret or mandatory include may live in the file.
func TestRedisConfDocumentsEveryDirective(t *testing.T) {
	data, err := os.ReadFile(deployPath(t, confFile))
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	directives := 0
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		directives++
		name := strings.ToLower(strings.Fields(trimmed)[0])
		require.NotEqual(t, "requirepass", name, "line %d: passwords do not belong in %s", i+1, confFile)
		require.NotEqual(t, "include", name, "line %d: a missing include file stops Redis from starting", i+1)
		require.True(t, i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#"),
			"line %d %q has no comment line directly above it", i+1, trimmed)
	}
	require.Greater(t, directives, 20)
}

// redis-server 7 accepts deploy/redis.conf with the host-specific settings
// overridden on the command line, and ends up with the intended settings.
func TestRedisConfAcceptedByRedis7(t *testing.T) {
	testkit.NeedBinary(t, "redis-server")
	conf := deployPath(t, confFile)
	dir := tempDir(t)
	port := testkit.FreePort(t)
	testkit.StartProcess(t, testkit.Process{Dir: dir, Addr: addrOf(port), Args: []string{conf,
		"--port", strconv.Itoa(port),
		"--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"),
		"--pidfile", filepath.Join(dir, "redis.pid"),
		"--daemonize", "no"}, Log: filepath.Join(dir, "redis.log")})

	c := mustDial(t, port)
	info, ok := c.mustDo(t, "INFO", "server").(string)
	require.True(t, ok)
	require.Regexp(t, regexp.MustCompile(`(?m)^redis_version:7\.`), info, "expected a Redis 7 server")

	want := map[string]string{
		"bind":                    "127.0.0.1 -::1",
		"protected-mode":          "yes",
		"port":                    strconv.Itoa(port),
		"dir":                     dir,
		"logfile":                 filepath.Join(dir, "redis.log"),
		"pidfile":                 filepath.Join(dir, "redis.pid"),
		"daemonize":               "no",
		"supervised":              "auto",
		"save":                    "900 1 300 10 60 10000",
		"appendonly":              "yes",
		"appendfsync":             "everysec",
		"aof-use-rdb-preamble":    "yes",
		"maxmemory":               "268435456",
		"maxmemory-policy":        "allkeys-lru",
		"slowlog-log-slower-than": "10000",
		"slowlog-max-len":         "128",
		"requirepass":             "",
	}
	for name, value := range want {
		require.Equal(t, value, configGet(t, c, name), "CONFIG GET %s", name)
	}
	require.Contains(t, configGet(t, c, "client-output-buffer-limit"), "pubsub 33554432 8388608 60")

	require.FileExists(t, filepath.Join(dir, "redis.pid"))
	logText, err := os.ReadFile(filepath.Join(dir, "redis.log"))
	require.NoError(t, err)
	require.Contains(t, string(logText), "Ready to accept connections")
}

// ---------------------------------------------------------------------------
// redisclient-redis.service

// unitDirectives parses a unit file into "Section.Key" -> values, in order.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string][]string{}
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			key, value, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s:%d: not a key=value line: %q", path, i+1, line)
			require.False(t, strings.HasSuffix(value, `\`), "%s:%d: keep directives on one line", path, i+1)
			k := section + "." + strings.TrimSpace(key)
			out[k] = append(out[k], strings.TrimSpace(value))
		}
	}
	return out
}

func TestSystemdUnitDirectives(t *testing.T) {
	d := unitDirectives(t, deployPath(t, unitFile))
	single := map[string]string{
		"Service.Type":                    "notify",
		"Service.User":                    "redis",
		"Service.Group":                   "redis",
		"Service.Restart":                 "always",
		"Service.LimitNOFILE":             "65535",
		"Service.NoNewPrivileges":         "yes",
		"Service.ProtectSystem":           "strict",
		"Service.PrivateTmp":              "yes",
		"Service.ProtectHome":             "yes",
		"Service.PrivateDevices":          "yes",
		"Service.ProtectKernelTunables":   "yes",
		"Service.ProtectKernelModules":    "yes",
		"Service.ProtectControlGroups":    "yes",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Service.UMask":                   "0077",
		"Service.CapabilityBoundingSet":   "",
		"Service.StateDirectory":          "redisclient-redis",
		"Service.LogsDirectory":           "redisclient-redis",
		"Service.RuntimeDirectory":        "redisclient-redis",
		"Service.WorkingDirectory":        "/var/lib/redisclient-redis",
		"Install.WantedBy":                "multi-user.target",
	}
	for key, want := range single {
		require.Equal(t, []string{want}, d[key], "%s", key)
	}
	require.ElementsMatch(t,
		[]string{"/var/lib/redisclient-redis", "/var/log/redisclient-redis"},
		strings.Fields(strings.Join(d["Service.ReadWritePaths"], " ")))

	require.Len(t, d["Service.ExecStart"], 1)
	execStart := d["Service.ExecStart"][0]
	require.True(t, strings.HasPrefix(execStart, "/usr/bin/redis-server /etc/redisclient-redis/redis.conf "), execStart)
	require.True(t, strings.HasSuffix(execStart, " --supervised systemd --daemonize no"), execStart)
	require.NotContains(t, execStart, "requirepass", "a password on the command line is visible to every local user")
	require.NotContains(t, d, "Service.EnvironmentFile")
	require.NotContains(t, d, "Service.Environment")
}

// systemd-analyze verify must accept the real unit file without a single
// warning (it reports unknown keys and bad values only as warnings).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testkit.NeedBinary(t, "systemd-analyze")
	unit := deployPath(t, unitFile)
	// verify checks that the ExecStart binary exists at its absolute path;
	// it does not resolve User=, so the real file is verified as it is.
	execStart := unitDirectives(t, unit)["Service.ExecStart"]
	require.Len(t, execStart, 1)
	testkit.NeedBinary(t, strings.Fields(execStart[0])[0])

	args := []string{"verify"}
	if man, err := exec.LookPath("man"); err != nil || exec.Command(man, "-w", "redis-server").Run() != nil {
		// verify also checks Documentation=man: pages; hosts without man
		// pages installed would fail on that alone.
		t.Log("redis-server man page not installed; verifying with --man=no")
		args = append(args, "--man=no")
	}
	res := run(t, nil, analyze, append(args, unit)...)
	require.Equal(t, 0, res.code, "systemd-analyze verify failed:\n%s%s", res.stdout, res.stderr)
	require.Empty(t, strings.TrimSpace(res.stdout+res.stderr), "systemd-analyze verify complained")

	t.Run("security exposure", func(t *testing.T) {
		res := run(t, nil, analyze, "security", "--offline=yes", "--no-pager", unit)
		if res.code != 0 && strings.Contains(res.stderr, "offline") {
			t.Skipf("this systemd-analyze cannot assess unit files offline: %s", res.stderr)
		}
		require.Equal(t, 0, res.code, "systemd-analyze security failed:\n%s", res.stderr)
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(res.stdout)
		require.NotNil(t, m, "no exposure level in:\n%s", res.stdout)
		exposure, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		t.Logf("exposure level %.1f (0 = most restricted, 10 = unrestricted)", exposure)
		require.LessOrEqual(t, exposure, 2.0, "hardening got weaker:\n%s", res.stdout)
	})
}

// Runs the unit's ExecStart the way systemd would (working directory, a
// NOTIFY_SOCKET), with /etc/redisclient-redis moved to a temp dir: the server
// must report READY=1, start without any conf.d/ file, and pick up a
// password from conf.d/.
func TestSystemdUnitExecStart(t *testing.T) {
	testkit.NeedBinary(t, "redis-server")
	d := unitDirectives(t, deployPath(t, unitFile))
	require.Len(t, d["Service.ExecStart"], 1)
	argv := strings.Fields(d["Service.ExecStart"][0])
	require.NotContains(t, d["Service.ExecStart"][0], `"`, "the argument split below assumes no quoting")
	require.Equal(t, "/usr/bin/redis-server", argv[0])
	const etc = "/etc/redisclient-redis"
	require.Equal(t, etc+"/redis.conf", argv[1])

	start := func(t *testing.T, setup func(confDir string)) *respConn {
		root := tempDir(t)
		etcDir := filepath.Join(root, "etc")
		workDir := filepath.Join(root, "lib")
		for _, p := range []string{etcDir, workDir, filepath.Join(root, "log")} {
			require.NoError(t, os.MkdirAll(p, 0o700))
		}
		conf, err := os.ReadFile(deployPath(t, confFile))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(etcDir, "redis.conf"), conf, 0o644))
		if setup != nil {
			setup(filepath.Join(etcDir, "conf.d"))
		}

		notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(root, "notify.sock"), Net: "unixgram"})
		require.NoError(t, err)
		t.Cleanup(func() { _ = notify.Close() })

		// Paths redis.conf points at that only exist under systemd go first;
		// Redis checks the log file as soon as it has read an include.
		port := testkit.FreePort(t)
		args := []string{strings.Replace(argv[1], etc, etcDir, 1),
			"--port", strconv.Itoa(port),
			"--logfile", filepath.Join(root, "log", "redis-server.log"),
			"--pidfile", filepath.Join(root, "redis-server.pid")}
		for _, a := range argv[2:] {
			args = append(args, strings.Replace(a, etc, etcDir, 1))
		}
		testkit.StartProcess(t, testkit.Process{Args: args, Dir: workDir, Addr: addrOf(port),
			Env: []string{"NOTIFY_SOCKET=" + notify.LocalAddr().String()}, Log: filepath.Join(root, "log", "redis-server.log")})

		require.NoError(t, notify.SetReadDeadline(time.Now().Add(readyTimeout)))
		var msgs []string
		buf := make([]byte, 4096)
		for !strings.Contains(strings.Join(msgs, "\n"), "READY=1") {
			n, _, err := notify.ReadFrom(buf)
			require.NoError(t, err, "no READY=1 on NOTIFY_SOCKET; got %q", msgs)
			msgs = append(msgs, string(buf[:n]))
		}

		c := mustDial(t, port)
		t.Cleanup(func() {
			// WorkingDirectory= is where the data must land.
			if !t.Failed() {
				require.DirExists(t, filepath.Join(workDir, "appendonlydir"))
			}
		})
		return c
	}

	t.Run("without conf.d", func(t *testing.T) {
		c := start(t, nil)
		require.Equal(t, "PONG", c.mustDo(t, "PING"))
		require.Equal(t, "systemd", configGet(t, c, "supervised"))
		require.Equal(t, "no", configGet(t, c, "daemonize"))
	})

	t.Run("password from conf.d", func(t *testing.T) {
		password := "conf.d " + randomHex(t, 8)
		c := start(t, func(confDir string) {
			require.NoError(t, os.Mkdir(confDir, 0o750))
			require.NoError(t, os.WriteFile(filepath.Join(confDir, "password.conf"),
				[]byte(`requirepass "`+password+`"`+"\n"), 0o640))
		})
		reply := c.mustDo(t, "PING")
		require.IsType(t, respError(""), reply)
		require.True(t, strings.HasPrefix(string(reply.(respError)), "NOAUTH"), "PING without AUTH: %v", reply)
		require.Equal(t, "OK", c.mustDo(t, "AUTH", password))
		require.Equal(t, "PONG", c.mustDo(t, "PING"))
	})
}

// ---------------------------------------------------------------------------
// start-redis.sh

func TestStartScriptHelp(t *testing.T) {
	testkit.NeedBinary(t, "bash")
	script := deployPath(t, startScript)
	st, err := os.Stat(script)
	require.NoError(t, err)
	require.NotZero(t, st.Mode().Perm()&0o111, "%s must be executable", startScript)

	for _, arg := range []string{"--help", "-h"} {
		res := run(t, nil, script, arg)
		require.Equal(t, 0, res.code, "%s %s: %s", startScript, arg, res.stderr)
		for _, want := range []string{"--port", "--dir", "--log-dir", "--password-file", "--foreground", "Exit codes", "already in use"} {
			require.Contains(t, res.stdout, want)
		}
	}

	res := run(t, nil, script, "--port", "70000")
	require.Equal(t, exitUsage, res.code)
	require.Contains(t, res.stderr, "--port")
	res = run(t, nil, script, "--no-such-option")
	require.Equal(t, exitUsage, res.code)
	require.Contains(t, res.stderr, "--no-such-option")
}

// scriptServer is a server started by start-redis.sh in tmp.
type scriptServer struct {
	port                   int
	dataDir, logDir, pidFn string
}

func newScriptServer(t *testing.T) scriptServer {
	t.Helper()
	tmp := tempDir(t)
	port := testkit.FreePort(t)
	s := scriptServer{
		port:    port,
		dataDir: filepath.Join(tmp, "data"),
		logDir:  filepath.Join(tmp, "log"),
		pidFn:   filepath.Join(tmp, "data", fmt.Sprintf("redis-%d.pid", port)),
	}
	// Registered before the start so a server is stopped even if the test
	// fails half-way.
	t.Cleanup(func() {
		if b, err := os.ReadFile(s.pidFn); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				stopPID(t, pid)
			}
		}
	})
	return s
}

func (s scriptServer) args(extra ...string) []string {
	return append([]string{"--port", strconv.Itoa(s.port), "--dir", s.dataDir,
		"--log-dir", s.logDir, "--timeout", "8"}, extra...)
}

func TestStartScriptPasswordAndPortInUse(t *testing.T) {
	testkit.NeedBinary(t, "bash")
	testkit.NeedBinary(t, "redis-server")
	script := deployPath(t, startScript)
	s := newScriptServer(t)

	// Spaces, quotes, a backslash, a dollar and non-ASCII bytes all have to
	// survive the trip into local.conf; the random part makes the ps check
	// meaningful.
	password := `tr@de "desk" \ $HOME ü-` + randomHex(t, 8)
	pwFile := filepath.Join(filepath.Dir(s.dataDir), "password")
	require.NoError(t, os.WriteFile(pwFile, []byte(password+"\n"), 0o600))

	// Redis rewrites its own process title, so ps alone would not notice a
	// password passed as an argument: record the real argv with a wrapper.
	argvLog := filepath.Join(filepath.Dir(s.dataDir), "argv.log")
	wrapper := filepath.Join(filepath.Dir(s.dataDir), "redis-server-wrapper")
	require.NoError(t, os.WriteFile(wrapper, []byte("#!/bin/sh\n"+
		`for a in "$@"; do printf '%s\n' "$a"; done >>"$ARGV_LOG"`+"\n"+
		`exec "$REAL_REDIS_SERVER" "$@"`+"\n"), 0o755))
	env := append(os.Environ(), "REDIS_SERVER="+wrapper, "ARGV_LOG="+argvLog,
		"REAL_REDIS_SERVER="+testkit.NeedBinary(t, "redis-server"))

	res := run(t, env, script, s.args("--password-file", pwFile)...)
	require.Equal(t, 0, res.code, "start failed:\nstdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	logFile := filepath.Join(s.logDir, fmt.Sprintf("redis-%d.log", s.port))
	require.Contains(t, res.stdout, logFile, "the script must say where the logs are")
	require.NotContains(t, res.stdout+res.stderr, password)
	require.FileExists(t, logFile)

	pidText, err := os.ReadFile(s.pidFn)
	require.NoError(t, err)
	pid := strings.TrimSpace(string(pidText))

	localConf := filepath.Join(s.dataDir, "local.conf")
	st, err := os.Stat(localConf)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "local.conf holds the password")

	t.Run("password required", func(t *testing.T) {
		c := mustDial(t, s.port)
		reply := c.mustDo(t, "PING")
		require.IsType(t, respError(""), reply, "PING without AUTH must fail")
		require.True(t, strings.HasPrefix(string(reply.(respError)), "NOAUTH"), "PING without AUTH: %v", reply)
		reply = c.mustDo(t, "AUTH", "wrong-"+password)
		require.IsType(t, respError(""), reply, "AUTH with a wrong password must fail")
		require.Equal(t, "OK", c.mustDo(t, "AUTH", password))
		require.Equal(t, "PONG", c.mustDo(t, "PING"))
		require.Equal(t, s.dataDir, configGet(t, c, "dir"))
	})

	t.Run("password not in arguments", func(t *testing.T) {
		argv, err := os.ReadFile(argvLog)
		require.NoError(t, err)
		require.Contains(t, string(argv), "--include\n"+localConf+"\n", "redis-server was not started through the wrapper")
		require.NotContains(t, string(argv), randomPart(password))
	})

	t.Run("password not in process list", func(t *testing.T) {
		res := run(t, nil, testkit.NeedBinary(t, "ps"), "-eo", "pid,args")
		require.Equal(t, 0, res.code, res.stderr)
		require.Regexp(t, regexp.MustCompile(`(?m)^\s*`+pid+`\s.*redis-server`), res.stdout, "ps must list the server")
		require.NotContains(t, res.stdout, password)
		require.NotContains(t, res.stdout, randomPart(password))
		cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
		require.NoError(t, err)
		require.NotContains(t, string(cmdline), randomPart(password))
	})

	t.Run("second start on the same port", func(t *testing.T) {
		res := run(t, nil, script, s.args()...)
		require.Equal(t, exitPortInUse, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
		require.Contains(t, res.stderr, fmt.Sprintf("port %d", s.port))
		if _, err := exec.LookPath("ss"); err == nil {
			require.Contains(t, res.stderr, fmt.Sprintf("redis-server (pid %s)", pid))
		}
		// Nothing was killed or reconfigured.
		require.True(t, serverUp(s.port))
		c := mustDial(t, s.port)
		require.IsType(t, respError(""), c.mustDo(t, "PING"), "the running server must still want its password")
	})
}

func randomPart(password string) string {
	return password[strings.LastIndexByte(password, '-')+1:]
}

// pathWithout returns a directory of symlinks to every command on PATH
// except the named ones, to run the script as on a host lacking them.
func pathWithout(t *testing.T, missing ...string) string {
	t.Helper()
	bin := filepath.Join(tempDir(t), "bin")
	require.NoError(t, os.Mkdir(bin, 0o755))
	skip := map[string]bool{}
	for _, m := range missing {
		skip[m] = true
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if skip[e.Name()] {
				continue
			}
			link := filepath.Join(bin, e.Name())
			if _, err := os.Lstat(link); err == nil {
				continue // an earlier PATH entry wins, as in a real lookup
			}
			_ = os.Symlink(filepath.Join(dir, e.Name()), link)
		}
	}
	return bin
}

// A port held by something other than Redis is reported, not taken over:
// with ss the message names the holder; without it a /dev/tcp probe still
// detects the listener.
func TestStartScriptPortHeldByAnotherProcess(t *testing.T) {
	testkit.NeedBinary(t, "bash")
	testkit.NeedBinary(t, "redis-server")
	script := deployPath(t, startScript)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	port := l.Addr().(*net.TCPAddr).Port

	cases := []struct {
		name    string
		env     func(t *testing.T) []string
		message string
	}{
		{
			name: "named by ss",
			env: func(t *testing.T) []string {
				testkit.NeedBinary(t, "ss")
				return nil
			},
			message: fmt.Sprintf("(pid %d)", os.Getpid()),
		},
		{
			name: "probed without ss",
			env: func(t *testing.T) []string {
				return append(os.Environ(), "PATH="+pathWithout(t, "ss"))
			},
			message: "unknown process",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env(t)
			s := newScriptServer(t)
			s.port = port
			res := run(t, env, script, s.args()...)
			require.Equal(t, exitPortInUse, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			require.Contains(t, res.stderr, fmt.Sprintf("port %d is already in use", port))
			require.Contains(t, res.stderr, tc.message)
			require.NoDirExists(t, s.dataDir, "nothing should be created when refusing to start")
		})
	}
}
