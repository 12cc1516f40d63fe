package redisclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeSpy is a hook installed inside the client's hooks: it records which
// commands were sent alone and which in pipelines (batches), and can hold
// every pipeline at a gate, so that the commands behind them stay queued,
// or fail pipelines as a lost connection would.
type pipeSpy struct {
	mu     sync.Mutex
	single map[string]int // command name -> times sent alone
	piped  map[string]int // command name -> times sent in a pipeline
	keys   map[string]int // args[1] of piped and single commands -> times sent

	gate    chan struct{}    // non-nil: pipelines wait until it is closed
	entered chan struct{}    // one token per pipeline held at the gate
	fail    func(n int) bool // non-nil: fails a pipeline of n commands when true
	failed  atomic.Int64     // pipelines failed
	held    atomic.Int64     // commands of the pipelines that reached the gate
}

func newPipeSpy() *pipeSpy {
	return &pipeSpy{single: map[string]int{}, piped: map[string]int{}, keys: map[string]int{}, entered: make(chan struct{}, 64)}
}

func (s *pipeSpy) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s *pipeSpy) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		s.note(s.single, cmd)
		return next(ctx, cmd)
	}
}

func (s *pipeSpy) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		s.mu.Lock()
		gate := s.gate
		s.mu.Unlock()
		if gate != nil {
			s.held.Add(int64(len(cmds)))
			s.entered <- struct{}{}
			<-gate
		}
		for _, cmd := range cmds {
			s.note(s.piped, cmd)
		}
		if s.fail != nil && s.fail(len(cmds)) {
			s.failed.Add(1)
			err := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

func (s *pipeSpy) note(m map[string]int, cmd redis.Cmder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[cmd.Name()]++
	if args := cmd.Args(); len(args) > 1 {
		if k, ok := args[1].(string); ok {
			s.keys[k]++
		}
	}
}

func (s *pipeSpy) counts(name string) (single, piped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.single[name], s.piped[name]
}

func (s *pipeSpy) sent(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[key]
}

// hold makes pipelines wait at the gate from now on.
func (s *pipeSpy) hold() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

// release opens the gate.
func (s *pipeSpy) release() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// forceBatching makes c batch every batchable command, even a lone
// caller's, and installs a spy. Tests with many goroutines use it so that
// batching does not depend on how the scheduler interleaves them.
func forceBatching(t *testing.T, c *Client) (*autoPipeliner, *pipeSpy) {
	t.Helper()
	ap := c.shared.pipe
	require.NotNil(t, ap, "auto-pipelining is on by default")
	ap.minOthers = 0
	spy := newPipeSpy()
	c.Redis().AddHook(spy)
	t.Cleanup(spy.release)
	return ap, spy
}

// holdFlushers sends commands until every flusher of the client's single
// batcher is held at the spy's gate, and returns the blockers' results.
func holdFlushers(t *testing.T, c *Client, spy *pipeSpy) <-chan error {
	t.Helper()
	spy.hold()
	done := make(chan error, batchesInFlight)
	for i := range batchesInFlight {
		go func() { done <- c.Set(context.Background(), fmt.Sprintf("blocker%d", i), i, 0) }()
		select {
		case <-spy.entered:
		case <-time.After(waitFor):
			t.Fatalf("flusher %d not held", i)
		}
	}
	return done
}

// queued returns how many commands wait in b's queue for a batch (not
// counting those whose callers left).
func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, w := range b.queue {
		if w.state.Load() == waitQueued {
			n++
		}
	}
	return n
}

func waitQueuedN(t *testing.T, b *batcher, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return b.queued() == n }, waitFor, time.Millisecond, "want %d queued", n)
}

// startedFlushers returns how many flushers b started.
func (b *batcher) startedFlushers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return batchesInFlight
	}
	return 0
}

// flushersRunning counts the flusher goroutines of every client.
func flushersRunning() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "redisclient.(*batcher).flush(")
}

func TestAutoPipelineLoneCallerDirect(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	for i := range 200 {
		require.NoError(t, c.Set(ctx, "k", i, 0))
		var v int
		require.NoError(t, c.Get(ctx, "k", &v))
		require.Equal(t, i, v)
	}
	assert.Zero(t, c.shared.pipe.batches.Load(), "one caller: every command goes directly")
	assert.Equal(t, 0, c.shared.pipe.single.startedFlushers(), "no flusher started")
}

func TestAutoPipelineDisabled(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{DisableAutoPipeline: true})
	assert.Nil(t, c.shared.pipe)
	ctx := testCtx(t)
	runConcurrently(t, 16, 50, func(g, i int) error { return c.Set(ctx, fmt.Sprint(g), i, 0) })
	assert.Zero(t, flushersRunning())
}

func TestAutoPipelineEnv(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "false": false, "0": false} {
		o, err := optionsFromLookup(lookupOf(map[string]string{EnvDisableAutoPipeline: v}))
		require.NoError(t, err, v)
		assert.Equal(t, want, o.DisableAutoPipeline, v)
	}
	_, err := optionsFromLookup(lookupOf(map[string]string{EnvDisableAutoPipeline: "sometimes"}))
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.Contains(t, err.Error(), EnvDisableAutoPipeline)
}

func lookupOf(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// runConcurrently runs fn(g, i) for i < n in each of goroutines goroutines
// and fails t with the first error.
func runConcurrently(t *testing.T, goroutines, n int, fn func(g, i int) error) {
	t.Helper()
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range n {
				if err := fn(g, i); err != nil {
					errs <- fmt.Errorf("goroutine %d op %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestAutoPipelineUnderLoad runs mixed commands from 32 goroutines with the
// default threshold: reads and idempotent writes are batched, each caller
// gets its own reply, and INCR (not idempotent) is never batched.
func TestAutoPipelineUnderLoad(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	spy := newPipeSpy()
	c.Redis().AddHook(spy)
	ctx := testCtx(t)
	const goroutines, ops = 32, 100
	runConcurrently(t, goroutines, ops, func(g, i int) error {
		k := fmt.Sprintf("g%d", g)
		if err := c.Set(ctx, k, i, 0); err != nil {
			return err
		}
		var v int
		if err := c.Get(ctx, k, &v); err != nil || v != i {
			return fmt.Errorf("get %s = %d, %v; want %d", k, v, err, i)
		}
		if _, err := c.Incr(ctx, "counter", 1); err != nil {
			return err
		}
		if _, err := c.HSet(ctx, k+":h", "f", i); err != nil {
			return err
		}
		got, err := MGet[int](ctx, c, k, k+":missing")
		if err != nil || len(got) != 1 || got[k] != i {
			return fmt.Errorf("mget %s = %v, %v", k, got, err)
		}
		if err := c.Get(ctx, k+":missing", &v); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("get missing: %v", err)
		}
		return nil
	})
	ap := c.shared.pipe
	batches, batched := ap.batches.Load(), ap.batched.Load()
	t.Logf("%d commands in %d batches", batched, batches)
	require.NotZero(t, batches, "32 busy goroutines batch")
	assert.Greater(t, float64(batched)/float64(batches), 1.5, "batches carry several commands")
	_, incrPiped := spy.counts("incrby")
	assert.Zero(t, incrPiped, "INCR is never batched")
	n, err := mr.Get(c.Key("counter"))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(goroutines*ops), n, "every INCR ran exactly once")
}

// TestAutoPipelineWhatIsBatched sends each kind of command with batching
// forced and checks whether it went in a batch.
func TestAutoPipelineWhatIsBatched(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	_, spy := forceBatching(t, c)
	ctx := testCtx(t)
	rdb := c.Redis()
	k := c.Key("k")
	mr.Lpush(c.Key("list"), "x")
	big := strings.Repeat("x", maxPipelinedArg+1)
	cases := []struct {
		name    string
		run     func() error
		cmd     string
		batched bool
	}{
		{"get", func() error { return ignoreNil(rdb.Get(ctx, k).Err()) }, "get", true},
		{"set", func() error { return rdb.Set(ctx, k, "v", time.Minute).Err() }, "set", true},
		{"mget", func() error { return rdb.MGet(ctx, k, k).Err() }, "mget", true},
		{"hgetall", func() error { return rdb.HGetAll(ctx, c.Key("h")).Err() }, "hgetall", true},
		{"ttl", func() error { return rdb.TTL(ctx, k).Err() }, "ttl", true},
		{"do get", func() error { return ignoreNil(rdb.Do(ctx, "get", k).Err()) }, "get", true},
		{"set nx", func() error { return rdb.SetNX(ctx, k, "v", 0).Err() }, "set", false},
		{"setnx", func() error { return rdb.Do(ctx, "setnx", k, "v").Err() }, "setnx", false},
		{"set nx ex", func() error { return rdb.SetNX(ctx, k, "v", time.Minute).Err() }, "set", false},
		{"set get", func() error { return ignoreNil(rdb.SetArgs(ctx, k, "v", redis.SetArgs{Get: true}).Err()) }, "set", false},
		{"big set", func() error { return rdb.Set(ctx, c.Key("big"), big, 0).Err() }, "set", false},
		{"incr", func() error { return rdb.Incr(ctx, c.Key("n")).Err() }, "incr", false},
		{"lpush", func() error { return rdb.LPush(ctx, c.Key("l"), "x").Err() }, "lpush", false},
		{"lpop", func() error { return rdb.LPop(ctx, c.Key("list")).Err() }, "lpop", false},
		{"publish", func() error { return rdb.Publish(ctx, "ch", "x").Err() }, "publish", false},
		{"ping", func() error { return rdb.Ping(ctx).Err() }, "ping", false},
		{"eval", func() error { return ignoreNil(rdb.Eval(ctx, "return 1", []string{k}).Err()) }, "eval", false},
		{"xrange", func() error { return rdb.XRange(ctx, c.Key("s"), "-", "+").Err() }, "xrange", false},
		{"zadd incr", func() error {
			return rdb.ZAddArgsIncr(ctx, c.Key("z"), redis.ZAddArgs{Members: []redis.Z{{Score: 1, Member: "m"}}}).Err()
		}, "zadd", false},
	}
	for _, tc := range cases {
		s0, p0 := spy.counts(tc.cmd)
		require.NoError(t, tc.run(), tc.name)
		s1, p1 := spy.counts(tc.cmd)
		if tc.batched {
			assert.Equal(t, 1, p1-p0, "%s: batched", tc.name)
		} else {
			assert.Equal(t, 0, p1-p0, "%s: not batched", tc.name)
			assert.Equal(t, 1, s1-s0, "%s: sent alone", tc.name)
		}
	}
}

func ignoreNil(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// TestAutoPipelinePerCommandErrors puts commands with different outcomes in
// one batch: each caller gets its own reply or error.
func TestAutoPipelinePerCommandErrors(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ap, spy := forceBatching(t, c)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "str", "v", 0))
	mr.HSet(c.Key("hash"), "f", "1")
	blockers := holdFlushers(t, c, spy)
	batches := ap.batches.Load()

	type result struct {
		name string
		err  error
		val  string
	}
	ops := map[string]func() result{
		"hit": func() result {
			var s string
			err := c.Get(ctx, "str", &s)
			return result{"hit", err, s}
		},
		"miss":      func() result { return result{"miss", c.Get(ctx, "missing", new(string)), ""} },
		"wrongtype": func() result { return result{"wrongtype", c.Get(ctx, "hash", new(string)), ""} },
		"hgetall wrongtype": func() result {
			return result{"hgetall wrongtype", c.HGetAll(ctx, "str", &map[string]string{}), ""}
		},
		"hget": func() result {
			var s string
			err := c.HGet(ctx, "hash", "f", &s)
			return result{"hget", err, s}
		},
	}
	results := make(chan result, len(ops))
	for _, op := range ops {
		go func() { results <- op() }()
	}
	waitQueuedN(t, ap.single, len(ops))
	spy.release()
	for range 2 {
		require.NoError(t, <-blockers)
	}
	got := map[string]result{}
	for range ops {
		r := <-results
		got[r.name] = r
	}
	assert.NoError(t, got["hit"].err)
	assert.Equal(t, "v", got["hit"].val)
	assert.ErrorIs(t, got["miss"].err, ErrNotFound)
	assert.ErrorContains(t, got["wrongtype"].err, "WRONGTYPE")
	assert.ErrorContains(t, got["wrongtype"].err, c.Key("hash"), "the error names the caller's key")
	assert.ErrorContains(t, got["hgetall wrongtype"].err, "WRONGTYPE")
	assert.NoError(t, got["hget"].err)
	assert.Equal(t, "1", got["hget"].val)
	assert.Equal(t, batches+1, ap.batches.Load(), "the five commands went in one batch")
	assert.Equal(t, BreakerClosed, c.BreakerState())
}

// TestAutoPipelineContextEndsWhileQueued: a caller whose deadline passes
// while its command waits for a batch returns at once, and the command is
// never sent.
func TestAutoPipelineContextEndsWhileQueued(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ap, spy := forceBatching(t, c)
	blockers := holdFlushers(t, c, spy)

	for _, how := range []string{"deadline", "cancel"} {
		t.Run(how, func(t *testing.T) {
			key := "late-" + how
			var ctx context.Context
			var cancel context.CancelFunc
			if how == "deadline" {
				ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
			} else {
				ctx, cancel = context.WithCancel(context.Background())
				go func() {
					for ap.single.queued() == 0 {
						time.Sleep(time.Millisecond)
					}
					cancel()
				}()
			}
			defer cancel()
			start := time.Now()
			err := c.Set(ctx, key, "v", 0)
			took := time.Since(start)
			require.Error(t, err)
			if how == "deadline" {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			} else {
				assert.ErrorIs(t, err, context.Canceled)
			}
			var e *Error
			require.ErrorAs(t, err, &e, "names the operation and key")
			assert.Less(t, took, 2*time.Second, "returned on time, not with the held batch")
		})
	}
	spy.release()
	for range batchesInFlight {
		require.NoError(t, <-blockers)
	}
	require.NoError(t, c.Set(testCtx(t), "after", "v", 0)) // drains the queue
	assert.Zero(t, ap.single.queued())
	assert.Zero(t, spy.sent(c.Key("late-deadline")), "never sent")
	assert.Zero(t, spy.sent(c.Key("late-cancel")), "never sent")
	assert.False(t, mr.Exists(c.Key("late-deadline")))
	assert.False(t, mr.Exists(c.Key("late-cancel")))
	assert.Zero(t, c.shared.breaker.failures.Load(), "the caller's context is not Redis's failure")
}

// TestAutoPipelineContextEndsWhileSent: a caller whose batch is on its way
// returns at once when its context is cancelled; the batch fills in a copy
// of its command, never the one the caller reads (the race detector would
// see it).
func TestAutoPipelineContextEndsWhileSent(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	_, spy := forceBatching(t, c)
	require.NoError(t, c.Set(testCtx(t), "k", "v", 0))
	spy.hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cmd := redis.NewStringCmd(ctx, "get", c.Key("k"))
	go func() { done <- c.Redis().Process(ctx, cmd) }()
	<-spy.entered // the batch with the GET is being sent
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, cmd.Err(), context.Canceled)
		assert.Empty(t, cmd.Val())
	case <-time.After(waitFor):
		t.Fatal("the caller waited for its batch")
	}
	spy.release() // the batch now completes into the copy
	var s string
	require.NoError(t, c.Get(testCtx(t), "k", &s))
	assert.Equal(t, "v", s)
	assert.Empty(t, cmd.Val(), "the abandoned command is left alone")
}

// TestAutoPipelineCloseWithQueuedCommands: Close fails the queued commands
// with ErrClosed and leaves no flusher behind.
func TestAutoPipelineCloseWithQueuedCommands(t *testing.T) {
	require.Eventually(t, func() bool { return flushersRunning() == 0 }, waitFor, time.Millisecond,
		"the flushers of closed clients end")
	c, _ := newMiniredisClient(t, Options{})
	ap, spy := forceBatching(t, c)
	blockers := holdFlushers(t, c, spy)
	assert.Equal(t, batchesInFlight, flushersRunning())

	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.Get(context.Background(), fmt.Sprint(i), new(string)) }()
	}
	waitQueuedN(t, ap.single, n)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	for range n {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, ErrClosed)
		case <-time.After(waitFor):
			t.Fatal("a queued command outlived Close")
		}
	}
	spy.release() // the held batches end (with ErrClosed: the pool closed)
	for range batchesInFlight {
		err := <-blockers
		if err != nil {
			assert.ErrorIs(t, err, ErrClosed)
		}
	}
	require.NoError(t, <-closed)
	require.Eventually(t, func() bool { return flushersRunning() == 0 }, waitFor, time.Millisecond,
		"no flusher outlives Close")
	assert.ErrorIs(t, c.Get(testCtx(t), "k", new(string)), ErrClosed)
	assert.Zero(t, ap.single.queued())
}

// TestAutoPipelineBreakerCountsBatchOnce: a batch that loses its connection
// counts once against the breaker, however many commands it carried; the
// other callers' batches go on; the idempotent commands of the failed batch
// are retried one by one under the policy and succeed.
func TestAutoPipelineBreakerCountsBatchOnce(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{Breaker: BreakerOptions{Threshold: 3}, Retry: RetryPolicy{MinBackoff: -1}})
	ap, spy := forceBatching(t, c)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))
	blockers := holdFlushers(t, c, spy)

	const n = 20
	var failOnce atomic.Bool
	spy.fail = func(size int) bool { return size == n && failOnce.CompareAndSwap(false, true) }
	errs := make(chan error, n)
	for range n {
		go func() {
			var s string
			err := c.Get(ctx, "k", &s)
			if err == nil && s != "v" {
				err = fmt.Errorf("read %q", s)
			}
			errs <- err
		}()
	}
	waitQueuedN(t, ap.single, n)
	spy.release()
	for range batchesInFlight {
		require.NoError(t, <-blockers)
	}
	for range n {
		require.NoError(t, <-errs, "retried after the lost connection")
	}
	require.Equal(t, int64(1), spy.failed.Load(), "one batch of %d failed", n)
	_, piped := spy.counts("get")
	assert.GreaterOrEqual(t, piped, 2*n, "each GET was sent again")
	assert.Equal(t, BreakerClosed, c.BreakerState(), "one failed batch is one failure, below the threshold of 3")
	assert.Zero(t, c.shared.breaker.failures.Load(), "and the retries' success reset the count")
}

// TestAutoPipelineBreakerFailedBatchesCount: with retries off, each failed
// batch counts once against the breaker, not once per command.
func TestAutoPipelineBreakerFailedBatchesCount(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{Breaker: BreakerOptions{Threshold: 100}, Retry: RetryPolicy{Attempts: 1}})
	ap, spy := forceBatching(t, c)
	ctx := testCtx(t)
	spy.fail = func(int) bool { return true }
	spy.hold()
	const n = 30
	errs := make(chan error, n)
	for range n {
		go func() { errs <- c.Get(ctx, "k", new(string)) }()
	}
	// The flushers hold their batches at the gate (one flusher may have
	// taken every command), the other commands wait.
	require.Eventually(t, func() bool { return int64(ap.single.queued())+spy.held.Load() == n }, waitFor, time.Millisecond)
	spy.release()
	for range n {
		err := <-errs
		require.Error(t, err)
		require.True(t, isConnFailure(err), "%v", err)
	}
	failedBatches := spy.failed.Load()
	t.Logf("%d commands failed in %d batches", n, failedBatches)
	assert.Less(t, failedBatches, int64(n/2))
	assert.Equal(t, failedBatches, c.shared.breaker.failures.Load(), "one failure per batch")
}

// TestAutoPipelineBreakerOpenFailsFast: while the breaker is open, busy
// callers fail at once with ErrUnavailable; nothing is queued or sent.
func TestAutoPipelineBreakerOpenFailsFast(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Breaker: BreakerOptions{Cooldown: time.Hour}})
	ap, _ := forceBatching(t, c)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))
	c.shared.breaker.trip(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})
	require.Equal(t, BreakerOpen, c.BreakerState())
	batches, cmds := ap.batches.Load(), mr.CommandCount()
	runConcurrently(t, 16, 20, func(int, int) error {
		if err := c.Get(ctx, "k", new(string)); !errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("want ErrUnavailable, got %v", err)
		}
		return nil
	})
	assert.Equal(t, batches, ap.batches.Load(), "nothing queued while open")
	assert.Equal(t, cmds, mr.CommandCount(), "nothing sent while open")
}

// TestAutoPipelineConnKeepsItsConnection: the commands of a Conn or a Tx
// made from the client stay on their connection, never in a batch of the
// client: a Conn that selected another database reads that database.
func TestAutoPipelineConnKeepsItsConnection(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	_, spy := forceBatching(t, c)
	ctx := testCtx(t)
	mr.Select(1)
	mr.Set("db1key", "one")
	mr.Select(0)
	mr.Set("db1key", "zero")

	rdb := c.Redis().(*redis.Client)
	conn := rdb.Conn()
	defer conn.Close()
	require.NoError(t, conn.Select(ctx, 1).Err())
	_, piped0 := spy.counts("get")
	runConcurrently(t, 8, 50, func(g, i int) error {
		if g == 0 {
			v, err := conn.Get(ctx, "db1key").Result()
			if err != nil || v != "one" {
				return fmt.Errorf("conn read %q, %v from database 0", v, err)
			}
			return nil
		}
		return ignoreNil(rdb.Get(ctx, "db1key").Err())
	})
	err := rdb.Watch(ctx, func(tx *redis.Tx) error {
		return ignoreNil(tx.Get(ctx, "db1key").Err())
	}, "db1key")
	require.NoError(t, err)
	_, piped1 := spy.counts("get")
	assert.Equal(t, 7*50, piped1-piped0, "only the client's own GETs were batched")
}

// TestAutoPipelineRetriesAfterLostConnection checks that a read whose batch
// lost its connection is retried alone under the policy, with the policy's
// attempts in total: the batch was the first.
func TestAutoPipelineRetryAttempts(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{Retry: RetryPolicy{Attempts: 2, MinBackoff: -1}, Breaker: BreakerOptions{Threshold: -1}})
	_, spy := forceBatching(t, c)
	spy.fail = func(int) bool { return true }
	err := c.Get(testCtx(t), "k", new(string))
	require.Error(t, err)
	assert.True(t, isConnFailure(err), "%v", err)
	_, piped := spy.counts("get")
	assert.Equal(t, 2, piped, "two attempts in all")
}
