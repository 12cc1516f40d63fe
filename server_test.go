package redisclient

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is a redis-server child process of one test, on a loopback
// port of its own, for fault tests that stop and restart the server. It
// keeps no data across restarts (no RDB, no AOF) unless its extra
// arguments turn persistence on.
type testServer struct {
	t     testing.TB
	port  int
	dir   string
	extra []string // more redis-server arguments, overriding the defaults

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer // output of the current process
	end chan struct{} // closed when the current process has exited
}

// serverWait bounds every wait of testServer: start-up, shutdown, PING.
const serverWait = 10 * time.Second

// startRedisServer starts a redis-server on a free 127.0.0.1 port and stops
// it when the test ends; extra arguments (such as "--appendonly", "yes")
// override the defaults. Without a redis-server binary it skips the test, or
// fails it when REDISCLIENT_INTEGRATION=1.
func startRedisServer(t testing.TB, extra ...string) *testServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv(envIntegration) == "1" {
			t.Fatalf("%s=1 but redis-server is not installed: %v", envIntegration, err)
		}
		t.Skip("redis-server not installed")
	}
	s := &testServer{t: t, dir: t.TempDir(), extra: extra}
	t.Cleanup(s.Stop)
	var err error
	for range 5 { // another process may take the port between probe and start
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("start redis-server: %v", err)
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns the server's host:port.
func (s *testServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns a redis:// URL for DB 0 of the server.
func (s *testServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Start starts the server again on the same port after Stop and waits until
// it answers PING. It fails the test when the server does not come up.
func (s *testServer) Start() {
	s.t.Helper()
	deadline := time.Now().Add(serverWait)
	for {
		err := s.start()
		if err == nil {
			return
		}
		// The old socket may linger for a moment after a kill.
		if time.Now().After(deadline) {
			s.t.Fatalf("restart redis-server on %s: %v", s.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *testServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("redis-server on %s is already running", s.Addr())
	}
	cmd := exec.Command("redis-server", append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", s.dir}, s.extra...)...)
	// One writer for both streams: exec then writes from one goroutine. It
	// is read only after the process has exited.
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	end := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(end)
	}()
	if err := waitPing(s.Addr(), end); err != nil {
		_ = cmd.Process.Kill()
		<-end
		return fmt.Errorf("%w\n%s", err, tail(out.String(), 2000))
	}
	s.cmd, s.out, s.end = cmd, out, end
	return nil
}

// Stop kills the server, as a crash would, and waits until it has exited.
// Clients see their connections reset. It does nothing when the server is
// not running, so it may be called any number of times.
func (s *testServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.end:
	case <-time.After(serverWait):
		s.t.Errorf("redis-server pid %d on %s did not exit after SIGKILL", s.cmd.Process.Pid, s.Addr())
	}
	s.cmd = nil
}

// Running reports whether the server process is up.
func (s *testServer) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// waitPing waits until addr answers PING with PONG, the process exits, or
// serverWait passes.
func waitPing(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(serverWait)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited during start-up")
		default:
		}
		if last = ping(addr); last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no PONG from %s within %v: %v", addr, serverWait, last)
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func TestTestServerRestart(t *testing.T) {
	s := startRedisServer(t)
	addr := s.Addr()
	if err := ping(addr); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if err := ping(addr); err == nil {
		t.Fatal("server still answers after Stop")
	}
	s.Start()
	if err := ping(addr); err != nil {
		t.Fatal(err)
	}
	if got := s.URL(); got != "redis://"+addr+"/0" {
		t.Fatalf("URL() = %q", got)
	}
}
