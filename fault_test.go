package redisclient

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/systemtrader/redisclient/internal/testkit"
)

// Fault tests run against a redis-server of their own (testkit.StartServer),
// often behind a testkit.FaultProxy. They are integration tests: they run when
// REDISCLIENT_TEST_URL is set and must run with REDISCLIENT_INTEGRATION=1.

func faultServer(t *testing.T) *testkit.Server {
	t.Helper()
	testkit.RequireEnv(t, testkit.EnvURL)
	return testkit.StartServer(t, testkit.Config{})
}

// newFaultClient returns a client on addr that is closed when the test ends.
func newFaultClient(t *testing.T, addr string, o Options) *Client {
	t.Helper()
	o.Addr = addr
	if o.Namespace == "" {
		o.Namespace = uniqueNamespace(t)
	}
	c, err := New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// adminClient talks to the server directly, without the library, to check
// state behind its back and to reconfigure the server.
func adminClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// surfacedProperly checks that a failed call reports its failure as it
// should: an *Error naming the operation, whose cause is the breaker, the
// network, the caller's context or a transient reply.
func surfacedProperly(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("not a *redisclient.Error: %T %v", err, err)
	}
	if e.Op == "" {
		return fmt.Errorf("no operation named: %v", err)
	}
	switch {
	case errors.Is(err, ErrUnavailable), isConnFailure(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil
	}
	if msg, ok := replyError(err); ok && transientReply(msg) {
		return nil
	}
	return fmt.Errorf("unexpected kind of error: %v", err)
}

// worker runs mixed commands on keys of its own and keeps what it needs to
// check afterwards that no write was lost or doubled.
type worker struct {
	id                 int
	ok, failed         atomic.Int64
	lastSet            atomic.Int64 // value of the last Set that succeeded, -1 none
	incrOK, incrFailed atomic.Int64
}

func (w *worker) key() string { return "w" + strconv.Itoa(w.id) }

// step runs operation i and returns its error (nil for a miss).
func (w *worker) step(ctx context.Context, c *Client, i int) (err error) {
	k := w.key()
	switch i % 8 {
	case 0:
		if err = c.Set(ctx, k, i, 0); err == nil {
			w.lastSet.Store(int64(i))
		}
	case 1:
		var v int
		err = c.Get(ctx, k, &v)
		if err == nil && v > i {
			return fmt.Errorf("get %s = %d, never written before step %d", k, v, i)
		}
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
	case 2:
		_, err = c.Incr(ctx, k+":n", 1)
		if err == nil {
			w.incrOK.Add(1)
		} else if !neverSent(err) && !errors.Is(err, ErrUnavailable) && !errors.Is(ctx.Err(), context.Canceled) {
			w.incrFailed.Add(1) // may or may not have run
		}
	case 3:
		_, err = MGet[int](ctx, c, k, k+":missing")
	case 4:
		_, err = c.Exists(ctx, k, k+":n")
	case 5:
		_, err = c.Delete(ctx, k+":tmp")
	case 6:
		_, err = c.Publish(ctx, "fault:"+k, i)
	case 7:
		_, err = c.Redis().Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, c.Key(k))
			p.Exists(ctx, c.Key(k+":n"))
			return nil
		})
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		err = opErr("pipeline", k, err)
	}
	return err
}

// load runs workers until stopped, checking every error.
type load struct {
	workers  []*worker
	mu       sync.Mutex
	bad      []string
	wg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
}

func startLoad(ctx context.Context, c *Client, n int, pause time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	for id := range n {
		w := &worker{id: id}
		w.lastSet.Store(-1)
		l.workers = append(l.workers, w)
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				err := w.step(ctx, c, i)
				if err == nil {
					w.ok.Add(1)
				} else {
					w.failed.Add(1)
					if bad := surfacedProperly(err); bad != nil {
						l.mu.Lock()
						if len(l.bad) < 20 {
							l.bad = append(l.bad, fmt.Sprintf("worker %d step %d: %v", w.id, i, bad))
						}
						l.mu.Unlock()
					}
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		})
	}
	return l
}

// Stop stops the workers and waits for them; it may be called again.
func (l *load) Stop() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *load) totals() (ok, failed int64) {
	for _, w := range l.workers {
		ok += w.ok.Load()
		failed += w.failed.Load()
	}
	return ok, failed
}

// allSucceedAfter waits until every worker has succeeded more often than in
// before, and returns how long that took.
func (l *load) allSucceedAfter(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	base := make([]int64, len(l.workers))
	for i, w := range l.workers {
		base[i] = w.ok.Load()
	}
	require.Eventually(t, func() bool {
		for i, w := range l.workers {
			if w.ok.Load() <= base[i] {
				return false
			}
		}
		return true
	}, within, time.Millisecond, "not every worker recovered within %v", within)
	return time.Since(start)
}

// checkWrites verifies on the server that no acknowledged write was lost and
// no increment applied twice.
func (l *load) checkWrites(t *testing.T, c *Client, admin *redis.Client) {
	t.Helper()
	ctx := testCtx(t)
	for _, w := range l.workers {
		if last := w.lastSet.Load(); last >= 0 {
			v, err := admin.Get(ctx, c.Key(w.key())).Int64()
			require.NoError(t, err, "worker %d", w.id)
			assert.GreaterOrEqual(t, v, last, "worker %d: acknowledged Set lost", w.id)
		}
		n, err := admin.Get(ctx, c.Key(w.key()+":n")).Int64()
		if errors.Is(err, redis.Nil) {
			n, err = 0, nil
		}
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, w.incrOK.Load(), "worker %d: acknowledged INCR lost", w.id)
		assert.LessOrEqual(t, n, w.incrOK.Load()+w.incrFailed.Load(), "worker %d: INCR applied more often than sent", w.id)
	}
}

func TestFaultServerRestartMidLoad(t *testing.T) {
	s := faultServer(t)
	const cooldown = 200 * time.Millisecond
	c := newFaultClient(t, s.Addr(), Options{
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		Breaker: BreakerOptions{Threshold: 5, Cooldown: cooldown},
	})
	ctx := testCtx(t)
	l := startLoad(ctx, c, 16, time.Millisecond)
	defer l.Stop()
	l.allSucceedAfter(t, 5*time.Second)

	s.Stop()
	require.Eventually(t, func() bool { return c.BreakerState() != BreakerClosed }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // calls answered before the kill finish counting
	okDown, failDown := l.totals()
	time.Sleep(300 * time.Millisecond)
	okDown2, failDown2 := l.totals()
	assert.Greater(t, failDown2, failDown, "calls keep failing while the server is down")
	assert.LessOrEqual(t, okDown2-okDown, int64(0), "no call succeeds against a dead server")

	s.Restart()
	took := l.allSucceedAfter(t, cooldown+5*time.Second)
	t.Logf("server restart: all 16 workers succeeded again %v after the server was back (cooldown %v)", took, cooldown)
	l.Stop()
	ok, failed := l.totals()
	t.Logf("%d calls succeeded, %d failed, all failures surfaced", ok, failed)
	assert.Empty(t, l.bad)
	assert.Equal(t, BreakerClosed, c.BreakerState())
	assert.Equal(t, StatusHealthy, c.Health(ctx).Status)
}

func TestFaultBlackhole(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	const timeout, cooldown = 200 * time.Millisecond, 300 * time.Millisecond
	c := newFaultClient(t, p.Addr(), Options{
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		Breaker: BreakerOptions{Threshold: 3, Cooldown: cooldown},
	})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))

	p.SetBlackhole(true)
	start := time.Now()
	gets, hellos := p.Count("GET"), p.Count("HELLO")
	err := c.Get(ctx, "k", new(string))
	took := time.Since(start)
	require.Error(t, err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "ends by its read timeout: %v", err)
	// Each attempt is the GET on the pooled connection or, on a new
	// connection, its HELLO: the handshake belongs to the attempt.
	assert.Equal(t, int64(1), p.Count("GET")-gets)
	assert.Equal(t, int64(2), p.Count("HELLO")-hellos, "a read is retried: 3 attempts")
	assert.GreaterOrEqual(t, took, 3*timeout)
	assert.Less(t, took, 3*timeout+2*time.Second)
	t.Logf("blackholed GET failed after %v (3 attempts × %v read timeout + backoff)", took, timeout)
	assert.Equal(t, BreakerOpen, c.BreakerState(), "3 timeouts open the breaker")

	// Open: fail fast, nothing reaches the proxy.
	acc, cmds := p.Accepted(), p.Commands()
	start = time.Now()
	for range 1000 {
		require.ErrorIs(t, c.Get(ctx, "k", new(string)), ErrUnavailable)
	}
	t.Logf("1000 calls with the breaker open took %v", time.Since(start))
	assert.Equal(t, acc, p.Accepted())
	assert.Equal(t, cmds, p.Commands())

	// Still blackholed after the cooldown: the probe times out, the breaker
	// re-opens, callers never wait.
	time.Sleep(cooldown)
	start = time.Now()
	require.ErrorIs(t, c.Get(ctx, "k", new(string)), ErrUnavailable)
	assert.Less(t, time.Since(start), timeout, "the probe runs in the background")
	require.Eventually(t, func() bool { return c.BreakerState() == BreakerOpen }, 5*time.Second, time.Millisecond)
	assert.Equal(t, acc+1, p.Accepted(), "one probe, on a new connection")

	// A non-idempotent command on a fresh breaker: one attempt, no retry.
	c2 := newFaultClient(t, p.Addr(), Options{
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, Breaker: BreakerOptions{Threshold: -1},
	})
	p.SetBlackhole(false)
	require.NoError(t, c2.Ping(ctx))
	p.SetBlackhole(true)
	incrs := p.Count("INCRBY")
	start = time.Now()
	_, err = c2.Incr(ctx, "n", 1)
	require.Error(t, err)
	assert.Equal(t, int64(1), p.Count("INCRBY")-incrs, "INCR is not retried after a timeout")
	assert.Less(t, time.Since(start), timeout+time.Second)

	// Network back: traffic resumes within about one cooldown.
	p.SetBlackhole(false)
	back := time.Now()
	require.Eventually(t, func() bool { return c.Get(ctx, "k", new(string)) == nil }, cooldown+5*time.Second, time.Millisecond)
	t.Logf("traffic resumed %v after the blackhole ended (cooldown %v)", time.Since(back), cooldown)
}

func TestFaultInjectedTransientReplies(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	c := newFaultClient(t, p.Addr(), Options{Retry: RetryPolicy{Attempts: 4}})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))

	var loading, readonly atomic.Int32
	p.SetRule(func(args []string) testkit.Action {
		switch {
		case args[0] == "GET" && loading.Add(1) <= 2:
			return testkit.Action{Reply: "-LOADING Redis is loading the dataset in memory\r\n"}
		case args[0] == "SET" && readonly.Add(1) <= 1:
			return testkit.Action{Reply: "-READONLY You can't write against a read only replica.\r\n"}
		}
		return testkit.Action{}
	})
	gets := p.Count("GET")
	var got string
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "v", got)
	assert.Equal(t, int64(3), p.Count("GET")-gets, "two LOADING replies, then the value")

	sets := p.Count("SET")
	require.NoError(t, c.Set(ctx, "k", "w", 0))
	assert.Equal(t, int64(2), p.Count("SET")-sets)
	assert.Equal(t, BreakerClosed, c.BreakerState())
	p.SetRule(nil)
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "w", got)
}

// TestFaultRealReadonly makes the server a replica (of nothing) so it really
// answers READONLY, and promotes it back before the retry.
func TestFaultRealReadonly(t *testing.T) {
	s := faultServer(t)
	admin := adminClient(t, s.Addr())
	c := newFaultClient(t, s.Addr(), Options{Retry: RetryPolicy{Attempts: 3}})
	ctx := testCtx(t)
	require.NoError(t, c.Ping(ctx))
	var attempts atomic.Int32
	var promoteErr error
	c.Redis().AddHook(attemptCounter{onProcess: func(cmd redis.Cmder) {
		if cmd.Name() == "set" && attempts.Add(1) == 2 {
			promoteErr = admin.ReplicaOf(ctx, "NO", "ONE").Err()
		}
	}})
	dead := testkit.FreePort(t)
	require.NoError(t, admin.ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(dead)).Err())
	t.Cleanup(func() { _ = admin.ReplicaOf(context.Background(), "NO", "ONE").Err() })

	require.NoError(t, c.Set(ctx, "k", "v", 0))
	require.NoError(t, promoteErr)
	assert.Equal(t, int32(2), attempts.Load(), "READONLY, then success after promotion")
	v, err := admin.Get(ctx, c.Key("k")).Result()
	require.NoError(t, err)
	assert.Equal(t, "v", v)

	// Still a replica: the READONLY error surfaces after the attempts.
	require.NoError(t, admin.ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(dead)).Err())
	attempts.Store(10)
	err = c.Set(ctx, "k", "w", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set "+c.Key("k")+": READONLY")
	assert.Equal(t, int32(13), attempts.Load())
	var got string
	require.NoError(t, c.Get(ctx, "k", &got), "reads still work on a replica")
	assert.Equal(t, "v", got)
}

func TestFaultOOM(t *testing.T) {
	s := faultServer(t)
	admin := adminClient(t, s.Addr())
	ctx := testCtx(t)
	require.NoError(t, admin.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	require.NoError(t, admin.ConfigSet(ctx, "maxmemory", "1mb").Err())
	c := newFaultClient(t, s.Addr(), Options{Breaker: BreakerOptions{Threshold: 1}})
	var attempts atomic.Int32
	c.Redis().AddHook(attemptCounter{process: &attempts})

	var err error
	big := strings.Repeat("x", 64<<10)
	for i := range 100 { // the server alone may already be over 1 MB
		if err = c.Set(ctx, fmt.Sprintf("big%d", i), big, 0); err != nil {
			break
		}
	}
	require.Error(t, err)
	attempts.Store(0)
	start := time.Now()
	err = c.Set(ctx, "one-more", big, 0)
	took := time.Since(start)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set "+c.Key("one-more")+": OOM command not allowed when used memory > 'maxmemory'")
	assert.False(t, IsRetryable(err))
	assert.Equal(t, int32(1), attempts.Load(), "OOM is not retried")
	assert.Less(t, took, time.Second)
	assert.Equal(t, BreakerClosed, c.BreakerState(), "a reply does not open the breaker, even at threshold 1")
	_, err = c.Exists(ctx, "one-more")
	require.NoError(t, err, "reads still work")

	r := c.Health(ctx)
	assert.Equal(t, StatusDegraded, r.Status, "%q", r.Problems)
	assert.Equal(t, int64(1<<20), r.MaxMemory)
	assert.Greater(t, r.MemoryUsagePct, 90.0)
	assert.Equal(t, "noeviction", r.MaxMemoryPolicy)
}

func TestFaultCancelledContext(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	c := newFaultClient(t, p.Addr(), Options{ReadTimeout: 10 * time.Second, Breaker: BreakerOptions{Threshold: 2}})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))

	// Deadline shorter than the read timeout: the call ends with it, once.
	p.SetLatency(2 * time.Second)
	gets := p.Count("GET")
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Get(dctx, "k", new(string))
	took := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, took, time.Second, "the 10 s read timeout must not apply")
	assert.Equal(t, int64(1), p.Count("GET")-gets, "not retried")
	t.Logf("GET with a 100ms deadline against a 2s-latency link returned after %v", took)
	// Redis did not answer within the caller's deadline: that counts.
	assert.Equal(t, int64(1), c.shared.breaker.failures.Load())
	p.SetLatency(0)
	time.Sleep(2 * time.Second) // let the delayed reply drain from the proxy

	// Already cancelled: nothing is sent.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	cmds := p.Commands()
	start = time.Now()
	_, err = c.Incr(cctx, "n", 1)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
	assert.Equal(t, cmds, p.Commands())
	assert.Equal(t, int64(1), c.shared.breaker.failures.Load(), "a cancelled call is not Redis's fault")
	assert.Equal(t, BreakerClosed, c.BreakerState())
}

func TestFaultNoDoubleIncrement(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	admin := adminClient(t, s.Addr())
	// Without a breaker: every call below loses its connection, and the
	// breaker would rightly stop sending after 5.
	c := newFaultClient(t, p.Addr(), Options{Breaker: BreakerOptions{Threshold: -1}})
	ctx := testCtx(t)
	require.NoError(t, c.Ping(ctx))

	// The proxy delivers INCRBY, the server runs it, the reply is lost.
	p.SetRule(func(args []string) testkit.Action {
		return testkit.Action{LoseReply: args[0] == "INCRBY" || args[0] == "LPUSH" || args[0] == "EXEC"}
	})
	for i := 1; i <= 20; i++ {
		_, err := c.Incr(ctx, "n", 10)
		require.Error(t, err, "the lost reply surfaces")
		require.NoError(t, surfacedProperly(err))
		n, err := admin.Get(ctx, c.Key("n")).Int64()
		require.NoError(t, err)
		require.Equal(t, int64(10*i), n, "incremented exactly once per call")
	}
	assert.Equal(t, int64(20), p.Count("INCRBY"))

	_, err := c.Redis().LPush(ctx, c.Key("l"), "x").Result()
	require.Error(t, err)
	assert.Equal(t, int64(1), admin.LLen(ctx, c.Key("l")).Val())

	// A transaction: EXEC ran, its reply was lost. Not retried.
	p.SetRule(func(args []string) testkit.Action { return testkit.Action{LoseReply: args[0] == "EXEC"} })
	_, err = c.Redis().TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.Set(ctx, c.Key("t"), "1", 0)
		pl.IncrBy(ctx, c.Key("tn"), 1)
		return nil
	})
	require.Error(t, err)
	assert.Equal(t, int64(1), p.Count("EXEC"))
	assert.Equal(t, "1", admin.Get(ctx, c.Key("tn")).Val())

	// The same fault on a read: retried on a new connection, succeeds.
	p.SetRule(func(args []string) testkit.Action {
		return testkit.Action{LoseReply: args[0] == "GET" && p.Count("GET") == 1}
	})
	require.NoError(t, admin.Set(ctx, c.Key("k"), "v", 0).Err())
	var got string
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "v", got)
	assert.Equal(t, int64(2), p.Count("GET"))
}

func TestFaultConcurrentMixedLoad(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	admin := adminClient(t, s.Addr())
	const timeout, cooldown = 100 * time.Millisecond, 100 * time.Millisecond
	c := newFaultClient(t, p.Addr(), Options{
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		Breaker: BreakerOptions{Threshold: 5, Cooldown: cooldown},
	})
	ctx := testCtx(t)
	// A short pause per call: a loop spinning at full speed on failing calls
	// would starve the probe of CPU on a small machine.
	l := startLoad(ctx, c, 64, 100*time.Microsecond)
	defer l.Stop()
	l.allSucceedAfter(t, 10*time.Second)

	faults := []struct {
		name       string
		start, end func()
	}{
		{"latency", func() { p.SetLatency(2 * time.Millisecond) }, func() { p.SetLatency(0) }},
		{"cut connections", func() { p.Cut(); time.Sleep(20 * time.Millisecond); p.Cut() }, func() {}},
		{"lost replies", func() {
			p.SetRule(func(args []string) testkit.Action { return testkit.Action{LoseReply: args[0] == "INCRBY"} })
		}, func() { p.SetRule(nil) }},
		{"blackhole", func() { p.SetBlackhole(true) }, func() { p.SetBlackhole(false) }},
		{"server gone", func() { p.SetDown(true) }, func() { p.SetDown(false) }},
	}
	for _, f := range faults {
		f.start()
		time.Sleep(200 * time.Millisecond)
		f.end()
		took := l.allSucceedAfter(t, cooldown+10*time.Second)
		t.Logf("after %s: all 64 workers succeeded again within %v", f.name, took)
	}
	l.Stop()
	ok, failed := l.totals()
	t.Logf("64 workers: %d calls succeeded, %d failed", ok, failed)
	assert.Empty(t, l.bad, "every error surfaced as an *Error with a known cause")
	assert.Greater(t, failed, int64(0))
	l.checkWrites(t, c, admin)
}

func TestFaultBreakerOpenNoTraffic(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	const cooldown = 2 * time.Second
	c := newFaultClient(t, p.Addr(), Options{Breaker: BreakerOptions{Threshold: 3, Cooldown: cooldown}})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))

	p.SetDown(true)
	for c.BreakerState() == BreakerClosed {
		require.Error(t, c.Get(ctx, "k", new(string)))
	}
	opened := time.Now()

	// Up to 10,000 calls, within half the cooldown (a loaded machine with
	// the race detector may not fit them all).
	acc, cmds := p.Accepted(), p.Commands()
	var n int
	for ; n < 10000 && time.Since(opened) < cooldown/2; n++ {
		var err error
		switch n % 3 {
		case 0:
			err = c.Get(ctx, "k", new(string))
		case 1:
			_, err = c.Incr(ctx, "n", 1)
		default:
			err = c.Set(ctx, "k", n, 0)
		}
		require.ErrorIs(t, err, ErrUnavailable)
	}
	require.Less(t, time.Since(opened), cooldown, "the open window outlasted the loop")
	require.Greater(t, n, 100, "calls that failed fast while open")
	assert.Equal(t, acc, p.Accepted(), "no connection while open")
	assert.Equal(t, cmds, p.Commands(), "no command while open")

	// Back up: resumes once the cooldown has passed and the probe answered.
	p.SetDown(false)
	var calls int
	for c.Get(ctx, "k", new(string)) != nil {
		calls++
		require.Less(t, time.Since(opened), cooldown+5*time.Second, "traffic did not resume")
		time.Sleep(time.Millisecond)
	}
	since := time.Since(opened)
	t.Logf("traffic resumed %v after the breaker opened (cooldown %v); %d calls failed fast meanwhile; %d probe PINGs",
		since, cooldown, calls, p.Count("PING"))
	assert.Less(t, since, cooldown+time.Second)
	assert.LessOrEqual(t, p.Count("PING"), int64(2))
}

// TestFaultFailFastLatency measures a failing GET against a stopped server
// with the default policy, with the breaker closed (disabled) and open.
func TestFaultFailFastLatency(t *testing.T) {
	s := faultServer(t)
	ctx := testCtx(t)
	closed := newFaultClient(t, s.Addr(), Options{Breaker: BreakerOptions{Threshold: -1}})
	open := newFaultClient(t, s.Addr(), Options{Breaker: BreakerOptions{Cooldown: time.Hour}})
	require.NoError(t, closed.Ping(ctx))
	require.NoError(t, open.Ping(ctx))
	s.Stop()

	const closedCalls = 20
	start := time.Now()
	for range closedCalls {
		require.Error(t, closed.Get(ctx, "k", new(string)))
	}
	closedPer := time.Since(start) / closedCalls

	for open.BreakerState() != BreakerOpen {
		require.Error(t, open.Get(ctx, "k", new(string)))
	}
	const openCalls = 100000
	start = time.Now()
	for range openCalls {
		require.ErrorIs(t, open.Get(ctx, "k", new(string)), ErrUnavailable)
	}
	openPer := time.Since(start) / openCalls
	t.Logf("GET against a stopped server: breaker closed %v per call (3 refused dials + backoff), breaker open %v per call", closedPer, openPer)
	assert.Less(t, openPer, 100*time.Microsecond)
	assert.Less(t, closedPer, time.Second, "refused dials fail fast even without the breaker")
}

// TestFaultDefaultWorstCase checks the documented bounds of RetryPolicy with
// the default options against a stalled link (1 s timeouts).
func TestFaultDefaultWorstCase(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 4 s")
	}
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	c := newFaultClient(t, p.Addr(), Options{Breaker: BreakerOptions{Threshold: -1}})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))
	p.SetBlackhole(true)

	start := time.Now()
	require.Error(t, c.Get(ctx, "k", new(string)))
	get := time.Since(start)
	start = time.Now()
	_, err := c.Incr(ctx, "n", 1)
	require.Error(t, err)
	incr := time.Since(start)
	t.Logf("default policy, stalled server: GET failed after %v, INCR after %v", get, incr)
	assert.InDelta(t, 3*time.Second+24*time.Millisecond, float64(get), float64(500*time.Millisecond))
	assert.InDelta(t, time.Second, float64(incr), float64(500*time.Millisecond))
}
