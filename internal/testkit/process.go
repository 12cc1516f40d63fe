package testkit

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Wait bounds every wait of the kit: a server's start-up, its exit after
// SIGKILL, an admin command.
const Wait = 10 * time.Second

// Process says how to run a redis-server the caller configures itself, such
// as one on the deploy kit's redis.conf.
type Process struct {
	// Args are redis-server's arguments: a config file and overrides.
	Args []string
	// Dir is its working directory; Env is added to the test's environment.
	Dir string
	Env []string
	// Addr is where it answers once up; TLS, when set, is how to reach it
	// there (a TLS-only server).
	Addr string
	TLS  *tls.Config
	// Log, when set, is the server's log file, quoted when it does not
	// come up.
	Log string
}

// StartProcess runs redis-server as p says, returns once it answers PING on
// p.Addr (a NOAUTH reply counts: it wants a password), and kills it when the
// test ends. A server that exits or does not answer within Wait fails t,
// with its output.
func StartProcess(t testing.TB, p Process) {
	t.Helper()
	NeedBinary(t, "redis-server")
	proc, err := spawn(p)
	if err != nil {
		t.Fatalf("testkit: redis-server %s: %v", strings.Join(p.Args, " "), err)
	}
	t.Cleanup(func() { proc.kill(t) })
}

// process is a running redis-server child.
type process struct {
	cmd  *exec.Cmd
	out  *Buffer
	done chan struct{} // closed when it has exited
}

// spawn starts redis-server and waits until it answers on p.Addr. On
// failure nothing is left running, and the error holds its output.
func spawn(p Process) (*process, error) {
	cmd := exec.Command("redis-server", p.Args...)
	cmd.Dir = p.Dir
	if p.Env != nil {
		cmd.Env = append(os.Environ(), p.Env...)
	}
	// One writer for both streams: exec then copies from one goroutine.
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	proc := &process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(proc.done)
	}()
	if err := proc.waitUp(p.Addr, p.TLS); err != nil {
		_ = cmd.Process.Kill()
		<-proc.done
		if p.Log != "" {
			b, _ := os.ReadFile(p.Log)
			out.Write(b)
		}
		return nil, fmt.Errorf("%w\n%s", err, tail(out.String()))
	}
	return proc, nil
}

// waitUp polls PING until the server answers, it exits, or Wait passes.
func (proc *process) waitUp(addr string, tlsConfig *tls.Config) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: tlsConfig, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, DisableIdentity: true})
	defer rdb.Close()
	deadline := time.Now().Add(Wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil || strings.HasPrefix(err.Error(), "NOAUTH") {
			return nil
		}
		select {
		case <-proc.done:
			return fmt.Errorf("redis-server exited during start-up")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING on %s within %v: %v", addr, Wait, err)
		}
	}
}

// kill ends the server as a crash would and waits until it has exited.
func (proc *process) kill(t testing.TB) {
	_ = proc.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-proc.done:
	case <-time.After(Wait):
		t.Errorf("testkit: redis-server pid %d did not exit after SIGKILL", proc.cmd.Process.Pid)
	}
}

// Buffer is a bytes.Buffer that one goroutine (a process, a service under
// test) may write while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is the end of a log, for error messages.
func tail(s string) string {
	const n = 3000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
