// Package securetest starts redis-server processes with TLS and ACL users for
// the tests of the root package and of cmd/redisdoctor. Certificates come
// from deploy/tls-certs.sh (openssl), so the tests also check the steps the
// deploy kit documents.
//
// A test that needs these servers skips when REDISCLIENT_INTEGRATION and
// REDISCLIENT_TEST_URL are both unset; with REDISCLIENT_INTEGRATION=1 a
// missing redis-server or openssl fails it.
package securetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// wait bounds start-up, shutdown and every admin command.
const wait = 10 * time.Second

// Need skips t outside the integration suite, and fails it there when a
// program it needs (besides redis-server and openssl) is missing.
func Need(t testing.TB, programs ...string) {
	t.Helper()
	integration := os.Getenv("REDISCLIENT_INTEGRATION") == "1"
	if !integration && os.Getenv("REDISCLIENT_TEST_URL") == "" {
		t.Skip("integration test: set REDISCLIENT_INTEGRATION=1 or run scripts/test.sh")
	}
	for _, p := range append([]string{"redis-server", "openssl", "bash"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			if integration {
				t.Fatalf("REDISCLIENT_INTEGRATION=1 but %s is not installed (scripts/deps.sh install): %v", p, err)
			}
			t.Skipf("%s is not installed", p)
		}
	}
}

// DeployDir is the absolute path of the repository's deploy/ directory.
func DeployDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy")
}

// Certs are the files deploy/tls-certs.sh writes.
type Certs struct {
	Dir string
	// Names are the names given to MakeCerts (none: the script's defaults).
	Names                                            []string
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// MakeCerts runs deploy/tls-certs.sh into a new temporary directory, with
// names as the server certificate's names (none: its defaults, localhost
// and the loopback addresses).
func MakeCerts(t testing.TB, names ...string) Certs {
	t.Helper()
	Need(t)
	dir := filepath.Join(t.TempDir(), "tls")
	cmd := exec.Command("bash", append([]string{filepath.Join(DeployDir(), "tls-certs.sh"), dir}, names...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy/tls-certs.sh: %v\n%s", err, out)
	}
	return Certs{
		Dir: dir, Names: names, CA: filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
	}
}

// ClientTLS is a client configuration that trusts the CA, expects the first
// of Names, with the client certificate when withCert is set.
func (c Certs) ClientTLS(t testing.TB, withCert bool) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(c.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if len(c.Names) > 0 {
		cfg.ServerName = c.Names[0]
	}
	if withCert {
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// Config says how to start a server.
type Config struct {
	// Plain opens a plain TCP port.
	Plain bool
	// TLS opens a TLS port with these certificates.
	TLS *Certs
	// ClientAuth is tls-auth-clients: "yes", "optional" or "no" (default
	// "no").
	ClientAuth string
	// Lines are more redis.conf lines, such as ACL user directives.
	Lines []string
}

// Server is a redis-server child process of one test, stopped when it ends.
type Server struct {
	t       testing.TB
	cfg     Config
	Dir     string
	Port    int // plain port, 0 without one
	TLSPort int // TLS port, 0 without one

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}

	adminOnce sync.Once
	admin     *redis.Client
}

// Start starts a server on free loopback ports and waits until it answers.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	Need(t)
	if !cfg.Plain && cfg.TLS == nil {
		t.Fatal("securetest: a server needs a plain or a TLS port")
	}
	s := &Server{t: t, cfg: cfg, Dir: t.TempDir()}
	t.Cleanup(func() {
		if s.admin != nil {
			_ = s.admin.Close()
		}
		s.Stop()
	})
	var err error
	for range 5 { // another process may take a port between probe and start
		if cfg.Plain {
			s.Port = freePort(t)
		}
		if cfg.TLS != nil {
			s.TLSPort = freePort(t)
		}
		if err = s.start(); err == nil {
			return s
		}
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	t.Fatalf("securetest: start redis-server: %v", err)
	return nil
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the plain host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// TLSAddr is the TLS host:port.
func (s *Server) TLSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.TLSPort)) }

func (s *Server) conf() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bind 127.0.0.1\nport %d\ndir %q\nlogfile %q\nsave \"\"\nappendonly no\n",
		s.Port, s.Dir, filepath.Join(s.Dir, "redis.log"))
	if c := s.cfg.TLS; c != nil {
		auth := s.cfg.ClientAuth
		if auth == "" {
			auth = "no"
		}
		fmt.Fprintf(&b, "tls-port %d\ntls-cert-file %q\ntls-key-file %q\ntls-ca-cert-file %q\ntls-auth-clients %s\n",
			s.TLSPort, c.ServerCert, c.ServerKey, c.CA, auth)
	}
	for _, l := range s.cfg.Lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conf := filepath.Join(s.Dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(s.conf()), 0o600); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(s.Dir, "redis.log"))
	cmd := exec.Command("redis-server", conf)
	cmd.Dir = s.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	rdb := s.newAdmin()
	defer rdb.Close()
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s%s", out.String(), tail(s.Log()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("no PONG within %v: %v\n%s", wait, err, tail(s.Log()))
		}
	}
}

// newAdmin is a go-redis client of the default user, over TLS (with the
// client certificate) when the server has no plain port.
func (s *Server) newAdmin() *redis.Client {
	o := &redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: wait, DisableIdentity: true}
	if s.Port == 0 {
		o.Addr = s.TLSAddr()
		o.TLSConfig = s.cfg.TLS.ClientTLS(s.t, true)
	}
	return redis.NewClient(o)
}

// Admin is a client of the default user (no password), for checking state
// behind the library's back.
func (s *Server) Admin() *redis.Client {
	s.adminOnce.Do(func() { s.admin = s.newAdmin() })
	return s.admin
}

// Stop kills the server, as a crash would. It may be called any number of
// times.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(wait):
		s.t.Errorf("redis-server pid %d did not exit", s.cmd.Process.Pid)
	}
	s.cmd = nil
}

// Restart starts the server again on the same ports after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("securetest: restart redis-server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log is the server's log file.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return string(b)
}

// ACLLog returns the server's ACL LOG entries, one line each ("reason=command
// object=ping username=app context=toplevel"), oldest first.
func (s *Server) ACLLog(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	v, err := s.Admin().Do(ctx, "ACL", "LOG").Slice()
	if err != nil {
		t.Fatalf("ACL LOG: %v", err)
	}
	var out []string
	for i := len(v) - 1; i >= 0; i-- {
		m := entryMap(v[i])
		out = append(out, fmt.Sprintf("reason=%v object=%v username=%v context=%v", m["reason"], m["object"], m["username"], m["context"]))
	}
	return out
}

// ResetACLLog empties the ACL LOG.
func (s *Server) ResetACLLog(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.Admin().Do(ctx, "ACL", "LOG", "RESET").Err(); err != nil {
		t.Fatalf("ACL LOG RESET: %v", err)
	}
}

// CommandsRun lists the commands the server has run since start (INFO
// commandstats), lower case, subcommands as "client|setinfo", sorted.
func (s *Server) CommandsRun(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	info, err := s.Admin().Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	var out []string
	for line := range strings.Lines(info) {
		name, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":")
		if ok && !strings.HasPrefix(line, "#") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// entryMap turns one ACL LOG entry (a RESP2 flat list or a RESP3 map) into
// a map.
func entryMap(v any) map[string]any {
	switch e := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(e))
		for k, val := range e {
			m[fmt.Sprint(k)] = val
		}
		return m
	case []any:
		m := make(map[string]any, len(e)/2)
		for i := 0; i+1 < len(e); i += 2 {
			m[fmt.Sprint(e[i])] = e[i+1]
		}
		return m
	}
	return map[string]any{"entry": v}
}

// DeployUser returns the "user NAME ..." directive of deploy/users.conf,
// with password as its password and extra ACL rules appended (a later rule
// wins: "-ping" takes +ping away).
func DeployUser(t testing.TB, name, password string, extra ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(DeployDir(), "users.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "user" || f[1] != name {
			continue
		}
		for i, w := range f {
			if strings.HasPrefix(w, "#REPLACE_WITH_SHA256_OF_") {
				f[i] = ">" + password
			}
		}
		return strings.Join(append(f, extra...), " ")
	}
	t.Fatalf("deploy/users.conf has no user %s", name)
	return ""
}

// AllowedCommands lists the +command rules of a user directive, lower
// case ("config|get" for subcommands).
func AllowedCommands(directive string) []string {
	var out []string
	for _, w := range strings.Fields(directive) {
		if c, ok := strings.CutPrefix(w, "+"); ok && !strings.HasPrefix(c, "@") {
			out = append(out, strings.ToLower(c))
		}
	}
	return out
}

// tail is the end of a log, for error messages.
func tail(s string) string {
	const n = 3000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
