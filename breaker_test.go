package redisclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// fakeClock is a settable time source for the breaker.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// scriptedProbe is a probe that blocks until the test tells it how to end.
type scriptedProbe struct {
	calls   atomic.Int32
	started chan struct{}
	result  chan error
}

func newScriptedProbe() *scriptedProbe {
	return &scriptedProbe{started: make(chan struct{}, 10), result: make(chan error)}
}

func (p *scriptedProbe) probe(ctx context.Context, _ redis.UniversalClient) error {
	p.calls.Add(1)
	p.started <- struct{}{}
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newTestBreaker(t *testing.T, o BreakerOptions) (*breaker, *fakeClock) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	b := newBreaker(o, nil)
	b.now = clock.Now
	t.Cleanup(b.close)
	return b, clock
}

var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// waitState polls until the breaker reaches want; the probe runs on its own
// goroutine, so its end is observed, not timed.
func waitState(t *testing.T, b *breaker, want BreakerState) {
	t.Helper()
	require.Eventually(t, func() bool { return b.State() == want }, 5*time.Second, time.Millisecond, "breaker never became %v", want)
}

func TestBreakerStateMachine(t *testing.T) {
	p := newScriptedProbe()
	b, clock := newTestBreaker(t, BreakerOptions{Threshold: 3, Cooldown: time.Second, Probe: p.probe})
	ctx := context.Background()

	// Failures count only when consecutive; any reply resets the count.
	b.record(ctx, errRefused)
	b.record(ctx, io.EOF)
	b.record(ctx, replyErr("WRONGTYPE Operation against a key holding the wrong kind of value"))
	b.record(ctx, errRefused)
	b.record(ctx, errRefused)
	b.record(ctx, redis.Nil)
	b.record(ctx, errRefused)
	b.record(ctx, errRefused)
	b.record(ctx, nil)
	assert.Equal(t, BreakerClosed, b.State())
	assert.NoError(t, b.allow())

	// Cancelled callers and bare context errors neither count nor reset.
	b.record(ctx, errRefused)
	b.record(ctx, errRefused)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	b.record(cctx, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded})
	b.record(ctx, context.Canceled)
	b.record(ctx, context.DeadlineExceeded)
	assert.Equal(t, BreakerClosed, b.State())
	cause := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	b.record(ctx, cause)
	assert.Equal(t, BreakerOpen, b.State(), "third consecutive failure opens")

	err := b.allow()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, syscall.ECONNRESET, "the cause is reachable")
	assert.Contains(t, err.Error(), "circuit breaker open")
	assert.Contains(t, err.Error(), "connection reset")
	assert.Same(t, err, b.allow(), "failing fast does not build a new error")

	// Before the cooldown: no probe, however many calls.
	clock.Advance(999 * time.Millisecond)
	for range 1000 {
		require.ErrorIs(t, b.allow(), ErrUnavailable)
	}
	assert.Equal(t, int32(0), p.calls.Load())

	// After it: exactly one probe, while concurrent calls keep failing fast.
	clock.Advance(time.Millisecond)
	var wg sync.WaitGroup
	var passed atomic.Int32
	for range 64 {
		wg.Go(func() {
			for range 100 {
				if b.allow() == nil {
					passed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	<-p.started
	assert.Equal(t, BreakerHalfOpen, b.State())
	assert.Equal(t, int32(0), passed.Load(), "half-open lets no call through")
	assert.Equal(t, int32(1), p.calls.Load(), "exactly one probe")

	// Probe fails: open again for a full cooldown, with the probe's error.
	p.result <- errors.New("still down")
	waitState(t, b, BreakerOpen)
	err = b.allow()
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "probe: still down")
	clock.Advance(999 * time.Millisecond)
	assert.Error(t, b.allow())
	assert.Equal(t, int32(1), p.calls.Load())

	// Next probe succeeds: closed, and calls pass.
	clock.Advance(time.Millisecond)
	assert.Error(t, b.allow(), "the call that starts the probe still fails fast")
	<-p.started
	p.result <- nil
	waitState(t, b, BreakerClosed)
	assert.NoError(t, b.allow())
	assert.Equal(t, int32(2), p.calls.Load())

	// The count starts from zero again.
	b.record(ctx, errRefused)
	b.record(ctx, errRefused)
	assert.Equal(t, BreakerClosed, b.State())
	b.record(ctx, errRefused)
	assert.Equal(t, BreakerOpen, b.State())
}

func TestBreakerOutcomesWhileOpenIgnored(t *testing.T) {
	p := newScriptedProbe()
	b, _ := newTestBreaker(t, BreakerOptions{Threshold: 1, Probe: p.probe})
	ctx := context.Background()
	b.record(ctx, errRefused)
	require.Equal(t, BreakerOpen, b.State())
	// A call that was in flight when the breaker opened finishes: only the
	// probe decides.
	b.record(ctx, nil)
	b.record(ctx, errRefused)
	assert.Equal(t, BreakerOpen, b.State())
}

func TestBreakerDisabled(t *testing.T) {
	b, _ := newTestBreaker(t, BreakerOptions{Threshold: -1})
	for range 100 {
		b.record(context.Background(), errRefused)
	}
	assert.Equal(t, BreakerClosed, b.State())
	assert.NoError(t, b.allow())

	var nilBreaker *breaker
	assert.Equal(t, BreakerClosed, nilBreaker.State())
	assert.NoError(t, nilBreaker.allow())
	nilBreaker.record(context.Background(), errRefused)
	nilBreaker.close()
	assert.Equal(t, BreakerClosed, errClient(errors.New("bad")).BreakerState())
}

func TestBreakerDefaults(t *testing.T) {
	b := newBreaker(BreakerOptions{}, nil)
	defer b.close()
	assert.Equal(t, int64(DefaultBreakerThreshold), b.threshold)
	assert.Equal(t, DefaultBreakerCooldown, b.cooldown)
	assert.NotNil(t, b.probe)
}

func TestBreakerStateString(t *testing.T) {
	assert.Equal(t, "closed", BreakerClosed.String())
	assert.Equal(t, "open", BreakerOpen.String())
	assert.Equal(t, "half-open", BreakerHalfOpen.String())
	assert.Equal(t, "BreakerState(9)", BreakerState(9).String())
	b, err := BreakerHalfOpen.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "half-open", string(b))
	var s BreakerState
	require.NoError(t, s.UnmarshalText([]byte("open")))
	assert.Equal(t, BreakerOpen, s)
	assert.Error(t, s.UnmarshalText([]byte("ajar")))
}

func TestBreakerProbePanicKeepsOpen(t *testing.T) {
	b, clock := newTestBreaker(t, BreakerOptions{Threshold: 1, Cooldown: time.Second,
		Probe: func(context.Context, redis.UniversalClient) error { panic("boom") }})
	b.record(context.Background(), errRefused)
	clock.Advance(time.Second)
	assert.Error(t, b.allow())
	waitState(t, b, BreakerOpen)
	assert.Contains(t, b.allow().Error(), "probe panicked: boom")
}

func TestBreakerCloseEndsProbe(t *testing.T) {
	p := newScriptedProbe()
	b := newBreaker(BreakerOptions{Threshold: 1, Cooldown: time.Nanosecond, Probe: p.probe}, nil)
	b.record(context.Background(), errRefused)
	time.Sleep(time.Millisecond)
	assert.Error(t, b.allow())
	<-p.started
	done := make(chan struct{})
	go func() { b.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not end the running probe")
	}
	// After close no probe starts.
	b.state.Store(int32(BreakerOpen))
	assert.Error(t, b.allow())
	assert.Equal(t, int32(1), p.calls.Load())
}

// TestBreakerFailsFastWithoutNetwork drives the breaker through a client:
// once open, calls never reach go-redis (counted by a hook inside the
// client's own), and traffic resumes after the server returns.
func TestBreakerFailsFastWithoutNetwork(t *testing.T) {
	const cooldown = time.Second // far longer than the open-window loop below, even under -race
	c, mr := newMiniredisClient(t, Options{
		Retry:   fastRetry,
		Breaker: BreakerOptions{Threshold: 4, Cooldown: cooldown},
	})
	var attempts, dials atomic.Int32
	c.Redis().AddHook(attemptCounter{process: &attempts, dial: &dials})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))
	mr.Close()

	// Two calls of 3 attempts: the breaker opens at the 4th failed attempt,
	// so the second call stops there.
	attempts.Store(0)
	err := c.Get(ctx, "k", new(string))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, BreakerClosed, c.BreakerState())
	err = c.Get(ctx, "k", new(string))
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, int32(4), attempts.Load())
	assert.Equal(t, BreakerOpen, c.BreakerState())
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the cause is kept")
	assert.Contains(t, err.Error(), "get trading:k: redis unavailable (circuit breaker open after: ")

	// While open: nothing reaches go-redis, the pool or the network.
	a0, d0 := attempts.Load(), dials.Load()
	for range 1000 {
		err := c.Get(ctx, "k", new(string))
		require.ErrorIs(t, err, ErrUnavailable)
		_, err = c.Incr(ctx, "n", 1)
		require.ErrorIs(t, err, ErrUnavailable)
		_, err = c.Redis().Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, "k")
			return nil
		})
		require.ErrorIs(t, err, ErrUnavailable)
	}
	assert.Equal(t, a0, attempts.Load(), "no attempt while open")
	assert.Equal(t, d0, dials.Load(), "no dial while open")

	// Server back: the first call after the cooldown starts the probe; the
	// probe closes the breaker and traffic flows.
	require.NoError(t, mr.Restart())
	back := time.Now()
	var failed int
	for c.Get(ctx, "k", new(string)) != nil {
		failed++
		require.Less(t, time.Since(back), cooldown+5*time.Second, "traffic did not resume")
		time.Sleep(time.Millisecond)
	}
	t.Logf("resumed %v after restart, %d calls failed fast meanwhile", time.Since(back), failed)
	assert.Equal(t, BreakerClosed, c.BreakerState())
	// Within one cooldown plus the probe's round trip, measured in calls made
	// 1 ms apart: generous for a loaded machine.
	assert.Less(t, failed, int(cooldown/time.Millisecond)+1000)
}

// TestBreakerOpenLatency measures a failing call with the breaker closed
// (the default policy against a stopped server) and open.
func TestBreakerOpenLatency(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Breaker: BreakerOptions{Threshold: -1}})
	ctx := testCtx(t)
	mr.Close()
	start := time.Now()
	const closedCalls = 5
	for range closedCalls {
		require.Error(t, c.Get(ctx, "k", new(string)))
	}
	closedPer := time.Since(start) / closedCalls

	o, mr2 := newMiniredisClient(t, Options{Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Hour}})
	mr2.Close()
	require.Error(t, o.Get(ctx, "k", new(string)))
	require.Equal(t, BreakerOpen, o.BreakerState())
	const openCalls = 100000
	start = time.Now()
	for range openCalls {
		if err := o.Get(ctx, "k", new(string)); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
	}
	openPer := time.Since(start) / openCalls
	t.Logf("failing Get, default policy: breaker closed (stopped server) %v/call, breaker open %v/call", closedPer, openPer)
	assert.Less(t, openPer, 100*time.Microsecond, "open breaker must fail in microseconds")
	assert.Greater(t, closedPer, openPer)
}

func BenchmarkBreakerOpen(b *testing.B) {
	c, mr := newMiniredisClient(b, Options{Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Hour}})
	mr.Close()
	ctx := context.Background()
	_ = c.Get(ctx, "k", new(string))
	if c.BreakerState() != BreakerOpen {
		b.Fatal("breaker not open")
	}
	var dst string
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Get(ctx, "k", &dst); !errors.Is(err, ErrUnavailable) {
			b.Fatal(err)
		}
	}
}

func BenchmarkBreakerOpenParallel(b *testing.B) {
	c, mr := newMiniredisClient(b, Options{Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Hour}})
	mr.Close()
	_ = c.Get(context.Background(), "k", new(string))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		var dst string
		for pb.Next() {
			if err := c.Get(ctx, "k", &dst); !errors.Is(err, ErrUnavailable) {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBreakerClosedDeadServer is the same failing Get without a
// breaker: the default policy's 3 refused dials and 24 ms of backoff.
func BenchmarkBreakerClosedDeadServer(b *testing.B) {
	c, mr := newMiniredisClient(b, Options{Breaker: BreakerOptions{Threshold: -1}})
	mr.Close()
	ctx := context.Background()
	var dst string
	for b.Loop() {
		if err := c.Get(ctx, "k", &dst); err == nil {
			b.Fatal("Get succeeded against a stopped server")
		}
	}
}

// BenchmarkResilienceHookHealthy is the hook's cost on a healthy call.
func BenchmarkResilienceHookHealthy(b *testing.B) {
	h := &resilienceHook{breaker: newBreaker(BreakerOptions{}, nil)}
	defer h.breaker.close()
	process := h.ProcessHook(func(context.Context, redis.Cmder) error { return nil })
	ctx := context.Background()
	cmd := redis.NewStringCmd(ctx, "get", "k")
	b.ReportAllocs()
	for b.Loop() {
		if err := process(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// A server reply to the probe, even an error reply, proves Redis is up: the
// breaker closes on it. Before, a NOPERM reply kept it open for good.
func TestBreakerProbeClosesOnAnyReply(t *testing.T) {
	for _, reply := range []error{
		replyErr("NOPERM this user has no permissions to run the 'ping' command"),
		replyErr("LOADING Redis is loading the dataset in memory"),
	} {
		p := newScriptedProbe()
		b, clock := newTestBreaker(t, BreakerOptions{Threshold: 1, Cooldown: time.Second, Probe: p.probe})
		b.record(context.Background(), errRefused)
		require.Equal(t, BreakerOpen, b.State())
		clock.Advance(time.Second)
		assert.Error(t, b.allow())
		<-p.started
		p.result <- fmt.Errorf("wrapped: %w", reply)
		waitState(t, b, BreakerClosed)
		assert.NoError(t, b.allow(), "after %v", reply)
	}
}

// TestBreakerRecoversWhenPingIsRefused drives the default probe (PING)
// through a proxy that answers PING as Redis does for an ACL user without
// +ping: once the outage ends, calls flow again.
func TestBreakerRecoversWhenPingIsRefused(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := testkit.NewFaultProxy(t, mr.Addr())
	proxy.SetRule(func(args []string) testkit.Action {
		if args[0] == "PING" {
			return testkit.Action{Reply: "-NOPERM this user has no permissions to run the 'ping' command\r\n"}
		}
		return testkit.Action{}
	})
	c := newFaultClient(t, proxy.Addr(), Options{
		Retry:   fastRetry,
		Breaker: BreakerOptions{Threshold: 2, Cooldown: 50 * time.Millisecond},
	})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))

	proxy.SetDown(true)
	require.Eventually(t, func() bool {
		_ = c.Set(ctx, "k", "v", 0)
		return c.BreakerState() != BreakerClosed
	}, 5*time.Second, 10*time.Millisecond)
	proxy.SetDown(false)

	require.Eventually(t, func() bool { return c.Set(ctx, "k", "v2", 0) == nil }, 10*time.Second, 20*time.Millisecond,
		"breaker stayed open: %v", c.Set(ctx, "k", "v2", 0))
	assert.Equal(t, BreakerClosed, c.BreakerState())
	assert.Positive(t, proxy.Count("PING"), "the probe ran")
}
