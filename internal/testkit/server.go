package testkit

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config says how StartServer configures a server. The zero Config is a
// plain server on a loopback port without persistence.
type Config struct {
	// Args are more redis-server arguments ("--maxmemory", "64mb"); they
	// override the config file, so "--appendonly", "yes" turns the AOF on.
	Args []string
	// Lines are more redis.conf lines, such as ACL user directives.
	Lines []string
	// Password is requirepass; Admin authenticates with it.
	Password string
	// TLS opens a TLS port with these certificates, ClientAuth being
	// tls-auth-clients ("yes", "optional"; default "no"). TLSOnly closes the
	// plain port.
	TLS        *Certs
	ClientAuth string
	TLSOnly    bool
}

// Server is a redis-server child process of one test, on free loopback
// ports, in a directory of its own (Dir, which holds redis.conf and
// redis.log), killed when the test ends. Its data survives Stop and Restart
// only when Args turn persistence on.
type Server struct {
	t       testing.TB
	cfg     Config
	Dir     string
	Port    int // plain port, 0 with TLSOnly
	TLSPort int // TLS port, 0 without TLS

	mu   sync.Mutex
	proc *process // nil while stopped

	adminOnce sync.Once
	admin     *redis.Client
}

// StartServer starts a server and waits until it answers PING. Without
// redis-server it ends t by Unavailable.
func StartServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	NeedBinary(t, "redis-server")
	if cfg.TLSOnly && cfg.TLS == nil {
		t.Fatal("testkit: TLSOnly without TLS certificates")
	}
	dir, err := filepath.EvalSymlinks(t.TempDir()) // as the server's getcwd sees it
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, cfg: cfg, Dir: dir}
	t.Cleanup(func() {
		if s.admin != nil {
			_ = s.admin.Close()
		}
		s.Stop()
	})
	for range 5 { // another process may take a port between probe and start
		if !cfg.TLSOnly {
			s.Port = FreePort(t)
		}
		if cfg.TLS != nil {
			s.TLSPort = FreePort(t)
		}
		if err = s.start(); err == nil {
			return s
		}
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	t.Fatalf("testkit: start redis-server: %v", err)
	return nil
}

// Addr is the plain host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// TLSAddr is the TLS host:port.
func (s *Server) TLSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.TLSPort)) }

// URL is a redis:// URL for DB 0 on the plain port, without the password.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

func (s *Server) conf() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bind 127.0.0.1\nport %d\ndir %q\nlogfile %q\nsave \"\"\nappendonly no\ndaemonize no\n",
		s.Port, s.Dir, filepath.Join(s.Dir, "redis.log"))
	if s.cfg.Password != "" {
		fmt.Fprintf(&b, "requirepass %q\n", s.cfg.Password)
	}
	if c := s.cfg.TLS; c != nil {
		fmt.Fprintf(&b, "tls-port %d\ntls-cert-file %q\ntls-key-file %q\ntls-ca-cert-file %q\ntls-auth-clients %s\n",
			s.TLSPort, c.ServerCert, c.ServerKey, c.CA, cmp.Or(s.cfg.ClientAuth, "no"))
	}
	for _, l := range s.cfg.Lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("redis-server on %s is already running", s.Addr())
	}
	conf := filepath.Join(s.Dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(s.conf()), 0o600); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(s.Dir, "redis.log"))
	p := Process{Args: append([]string{conf}, s.cfg.Args...), Dir: s.Dir, Addr: s.Addr()}
	if s.Port == 0 {
		p.Addr, p.TLS = s.TLSAddr(), s.cfg.TLS.ClientTLS(s.t, true)
	}
	proc, err := spawn(p)
	if err != nil {
		return fmt.Errorf("%w\nredis.log: %s", err, tail(s.Log()))
	}
	s.proc = proc
	return nil
}

// Stop kills the server, as a crash would, and waits until it has exited:
// clients see their connections reset. It may be called any number of
// times.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.kill(s.t)
	s.proc = nil
}

// Restart starts the server again on the same ports after Stop, and waits
// until it answers; it fails the test when it does not come up.
func (s *Server) Restart() {
	s.t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		err := s.start()
		if err == nil {
			return
		}
		// The old socket may linger for a moment after a kill.
		if time.Now().After(deadline) {
			s.t.Fatalf("testkit: restart redis-server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Admin is a go-redis client of the default user (with Password), over TLS
// with the client certificate on a TLS-only server, for checking and
// changing state behind the library's back. It is closed when the test ends.
func (s *Server) Admin() *redis.Client {
	s.adminOnce.Do(func() {
		o := &redis.Options{Addr: s.Addr(), Password: s.cfg.Password, MaxRetries: -1,
			DialTimeout: time.Second, ReadTimeout: Wait, DisableIdentity: true}
		if s.Port == 0 {
			o.Addr, o.TLSConfig = s.TLSAddr(), s.cfg.TLS.ClientTLS(s.t, true)
		}
		s.admin = redis.NewClient(o)
	})
	return s.admin
}

// Log is the server's log file.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return string(b)
}
