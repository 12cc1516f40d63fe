package testkit

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultProxy is a TCP proxy between a client and a Redis server that
// understands RESP well enough to act per command: it can cut every
// connection, refuse service, stall (blackhole), add latency, answer a
// command itself, or run a command and lose its reply. It counts what it
// sees, so tests assert on traffic rather than on timing.
//
// It relays one command and then its one reply, so it suits request/reply
// traffic and pipelines, not Pub/Sub pushes.
type FaultProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	down       atomic.Bool  // accept, then close at once
	blackholed atomic.Bool  // read commands, never answer
	latency    atomic.Int64 // added before forwarding each command
	rule       atomic.Pointer[Rule]

	accepted  atomic.Int64 // connections accepted
	commands  atomic.Int64 // commands read from clients
	forwarded atomic.Int64 // commands sent to the server
	cmdCounts sync.Map     // upper-case name -> *atomic.Int64, commands read
}

// Rule decides what happens to one command; args[0] is its name, upper
// case.
type Rule func(args []string) Action

// Action is what a Rule wants done with a command. The zero Action
// forwards it.
type Action struct {
	// Reply, when set, is raw RESP sent back instead of forwarding.
	Reply string
	// LoseReply forwards the command, waits for its reply, then cuts the
	// connection instead of relaying it.
	LoseReply bool
}

// NewFaultProxy starts a proxy to the Redis server at target, closed when
// the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: proxy: %v", err)
	}
	p := &FaultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is where clients connect.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and waits for its goroutines.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

// Cut closes every open connection, client and server side, as a network
// failure or a server crash would. New connections are still accepted.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// SetDown makes the proxy accept connections and close them at once (and
// cuts the open ones), like a server that is gone.
func (p *FaultProxy) SetDown(down bool) {
	p.down.Store(down)
	if down {
		p.Cut()
	}
}

// SetBlackhole makes the proxy swallow commands without answering, on open
// and new connections alike: calls end only by their timeouts.
func (p *FaultProxy) SetBlackhole(on bool) { p.blackholed.Store(on) }

// SetLatency delays every command by d before forwarding it.
func (p *FaultProxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetRule installs rule (nil removes it).
func (p *FaultProxy) SetRule(rule Rule) {
	if rule == nil {
		p.rule.Store(nil)
		return
	}
	p.rule.Store(&rule)
}

// Count returns how many commands named cmd (any case) clients sent.
func (p *FaultProxy) Count(cmd string) int64 {
	if v, ok := p.cmdCounts.Load(strings.ToUpper(cmd)); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Accepted counts the connections accepted.
func (p *FaultProxy) Accepted() int64 { return p.accepted.Load() }

// Commands counts the commands read from clients.
func (p *FaultProxy) Commands() int64 { return p.commands.Load() }

// Forwarded counts the commands sent on to the server.
func (p *FaultProxy) Forwarded() int64 { return p.forwarded.Load() }

func (p *FaultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *FaultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.down.Load() {
			c.Close()
			continue
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *FaultProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	var server net.Conn
	defer func() {
		if server != nil {
			p.untrack(server)
		}
	}()
	cr := bufio.NewReader(client)
	var sr *bufio.Reader
	for {
		raw, args, err := readCommand(cr)
		if err != nil {
			return
		}
		p.commands.Add(1)
		name := strings.ToUpper(args[0])
		n, _ := p.cmdCounts.LoadOrStore(name, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if p.blackholed.Load() || p.down.Load() {
			continue
		}
		if d := time.Duration(p.latency.Load()); d > 0 {
			time.Sleep(d)
		}
		var act Action
		if r := p.rule.Load(); r != nil {
			act = (*r)(append([]string{name}, args[1:]...))
		}
		if act.Reply != "" {
			if _, err := io.WriteString(client, act.Reply); err != nil {
				return
			}
			continue
		}
		if server == nil {
			if server, err = net.DialTimeout("tcp", p.target, 5*time.Second); err != nil {
				server = nil
				return
			}
			if !p.track(server) {
				server = nil
				return
			}
			sr = bufio.NewReader(server)
		}
		if _, err := server.Write(raw); err != nil {
			return
		}
		p.forwarded.Add(1)
		reply, err := readReply(sr)
		if err != nil {
			return
		}
		if act.LoseReply {
			return
		}
		if _, err := client.Write(reply); err != nil {
			return
		}
	}
}
