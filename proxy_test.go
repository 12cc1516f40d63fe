package redisclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultProxy is a TCP proxy between a client and a Redis server that
// understands RESP well enough to act per command: it can cut every
// connection, refuse service, stall (blackhole), add latency, answer a
// command itself, or run a command and lose its reply. It counts what it
// sees, so tests assert on traffic rather than on timing.
//
// It relays one command and then its one reply, so it suits request/reply
// traffic and pipelines, not Pub/Sub pushes.
type faultProxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	down       atomic.Bool  // accept, then close at once
	blackholed atomic.Bool  // read commands, never answer
	latency    atomic.Int64 // added before forwarding each command
	rule       atomic.Pointer[proxyRule]

	accepted  atomic.Int64 // connections accepted
	commands  atomic.Int64 // commands read from clients
	forwarded atomic.Int64 // commands sent to the server
	cmdCounts sync.Map     // upper-case name -> *atomic.Int64, commands read
}

// proxyRule decides what happens to one command (args[0] upper-cased).
type proxyRule func(args []string) proxyAction

type proxyAction struct {
	reply     string // non-empty: answer with this raw RESP, do not forward
	loseReply bool   // forward, wait for the reply, then cut the connection
}

func newFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &faultProxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is where clients connect.
func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and waits for its goroutines.
func (p *faultProxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

// Cut closes every open connection, client and server side, as a network
// failure or a server crash would. New connections are still accepted.
func (p *faultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// SetDown makes the proxy accept connections and close them at once (and
// cuts the open ones), like a server that is gone.
func (p *faultProxy) SetDown(down bool) {
	p.down.Store(down)
	if down {
		p.Cut()
	}
}

// SetBlackhole makes the proxy swallow commands without answering, on open
// and new connections alike: calls end only by their timeouts.
func (p *faultProxy) SetBlackhole(on bool) { p.blackholed.Store(on) }

// SetLatency delays every command by d before forwarding it.
func (p *faultProxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetRule installs rule (nil removes it).
func (p *faultProxy) SetRule(rule proxyRule) {
	if rule == nil {
		p.rule.Store(nil)
		return
	}
	p.rule.Store(&rule)
}

// Count returns how many commands named cmd (any case) clients sent.
func (p *faultProxy) Count(cmd string) int64 {
	if v, ok := p.cmdCounts.Load(strings.ToUpper(cmd)); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *faultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

func (p *faultProxy) accept() {
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

func (p *faultProxy) serve(client net.Conn) {
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
		var act proxyAction
		if r := p.rule.Load(); r != nil {
			act = (*r)(append([]string{name}, args[1:]...))
		}
		if act.reply != "" {
			if _, err := io.WriteString(client, act.reply); err != nil {
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
		if act.loseReply {
			return
		}
		if _, err := client.Write(reply); err != nil {
			return
		}
	}
}

// readCommand reads one RESP command (an array of bulk strings) and returns
// its raw bytes and arguments.
func readCommand(r *bufio.Reader) (raw []byte, args []string, err error) {
	var buf bytes.Buffer
	line, err := readLine(r, &buf)
	if err != nil {
		return nil, nil, err
	}
	if len(line) == 0 || line[0] != '*' {
		return nil, nil, fmt.Errorf("proxy: not a RESP array: %q", line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 1 {
		return nil, nil, fmt.Errorf("proxy: bad array header %q", line)
	}
	for range n {
		h, err := readLine(r, &buf)
		if err != nil {
			return nil, nil, err
		}
		if len(h) == 0 || h[0] != '$' {
			return nil, nil, fmt.Errorf("proxy: not a bulk string: %q", h)
		}
		size, err := strconv.Atoi(h[1:])
		if err != nil || size < 0 {
			return nil, nil, fmt.Errorf("proxy: bad bulk header %q", h)
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, err
		}
		buf.Write(b)
		args = append(args, string(b[:size]))
	}
	return buf.Bytes(), args, nil
}

// readReply reads one RESP2 or RESP3 reply, nested ones included, and
// returns its raw bytes.
func readReply(r *bufio.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if err := readValue(r, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readValue(r *bufio.Reader, buf *bytes.Buffer) error {
	line, err := readLine(r, buf)
	if err != nil {
		return err
	}
	if line == "" {
		return errors.New("proxy: empty reply line")
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return nil
	case '$', '!', '=': // bulk string, bulk error, verbatim string
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return err
		}
		if n < 0 {
			return nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		buf.Write(b)
		return nil
	case '*', '~', '>', '%', '|': // array, set, push, map, attribute
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return err
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for range n {
			if err := readValue(r, buf); err != nil {
				return err
			}
		}
		if line[0] == '|' { // an attribute precedes the reply it describes
			return readValue(r, buf)
		}
		return nil
	}
	return fmt.Errorf("proxy: unknown reply type %q", line)
}

// readLine reads a CRLF-terminated line into buf and returns it without CRLF.
func readLine(r *bufio.Reader, buf *bytes.Buffer) (string, error) {
	b, err := r.ReadBytes('\n')
	if err != nil {
		return "", err
	}
	buf.Write(b)
	return strings.TrimRight(string(b), "\r\n"), nil
}

func TestProxyRESPParsing(t *testing.T) {
	raw, args, err := readCommand(bufio.NewReader(strings.NewReader("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n")))
	require.NoError(t, err)
	assert.Equal(t, []string{"SET", "k", "v\r\nx"}, args)
	assert.Equal(t, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n", string(raw))

	replies := "+OK\r\n" + "-ERR x\r\n" + ":5\r\n" + "$-1\r\n" + "$3\r\nabc\r\n" + "_\r\n" +
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n" + "%1\r\n+k\r\n~2\r\n,1.5\r\n#t\r\n" + "|1\r\n+a\r\n+b\r\n:7\r\n" + "=8\r\ntxt:abcd\r\n"
	r := bufio.NewReader(strings.NewReader(replies))
	var got []string
	for {
		b, err := readReply(r)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, string(b))
	}
	assert.Equal(t, []string{"+OK\r\n", "-ERR x\r\n", ":5\r\n", "$-1\r\n", "$3\r\nabc\r\n", "_\r\n",
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "%1\r\n+k\r\n~2\r\n,1.5\r\n#t\r\n", "|1\r\n+a\r\n+b\r\n:7\r\n", "=8\r\ntxt:abcd\r\n"}, got)
}

// TestFaultProxyRelays checks the proxy itself against a real server: it
// relays every command of the client, pipelines and transactions included.
func TestFaultProxyRelays(t *testing.T) {
	s := faultServer(t)
	p := newFaultProxy(t, s.Addr())
	c := newFaultClient(t, p.Addr(), Options{})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))
	var got string
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "v", got)
	require.NoError(t, c.MSet(ctx, map[string]any{"a": 1, "b": 2}, 0))
	_, err := c.Redis().TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.Incr(ctx, c.Key("n"))
		pl.Incr(ctx, c.Key("n"))
		return nil
	})
	require.NoError(t, err)
	n, err := c.Incr(ctx, "n", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	assert.Equal(t, int64(1), p.Count("GET"))
	assert.Equal(t, p.commands.Load(), p.forwarded.Load())
	r := c.Health(ctx)
	assert.Equal(t, StatusHealthy, r.Status, "%q %s", r.Problems, r.Error)
	assert.NotEmpty(t, r.Version)

	p.SetRule(func(args []string) proxyAction {
		if args[0] == "GET" {
			return proxyAction{reply: "$5\r\nproxy\r\n"}
		}
		return proxyAction{}
	})
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "proxy", got)
}
