package redisclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closeRaceOps are calls of every kind, each returning the error a caller
// would see. Health never fails; its report must say the client is closed.
func closeRaceOps(c *Client) []func(context.Context) error {
	ignoreN := func(_ int64, err error) error { return err }
	ignoreB := func(_ bool, err error) error { return err }
	return []func(context.Context) error{
		func(ctx context.Context) error { return c.Set(ctx, "k", "v", 0) },
		func(ctx context.Context) error { return c.Get(ctx, "k", new(string)) },
		func(ctx context.Context) error { return ignoreB(c.SetNX(ctx, "nx", "v", 0)) },
		func(ctx context.Context) error { return ignoreN(c.Delete(ctx, "gone")) },
		func(ctx context.Context) error { return ignoreN(c.Exists(ctx, "k", "h")) },
		func(ctx context.Context) error { return ignoreB(c.Expire(ctx, "k", time.Hour)) },
		func(ctx context.Context) error { _, err := c.TTL(ctx, "k"); return err },
		func(ctx context.Context) error { return ignoreN(c.Incr(ctx, "n", 1)) },
		func(ctx context.Context) error { return c.MSet(ctx, map[string]any{"m1": 1, "m2": 2}, 0) },
		func(ctx context.Context) error { return c.MSetAtomic(ctx, map[string]any{"t1": 1, "t2": 2}, 0) },
		func(ctx context.Context) error { _, err := MGet[string](ctx, c, "k", "m1"); return err },
		func(ctx context.Context) error { return ignoreB(c.HSet(ctx, "h", "f", "v")) },
		func(ctx context.Context) error { return c.HGet(ctx, "h", "f", new(string)) },
		func(ctx context.Context) error { return c.HGetAll(ctx, "h", new(map[string]string)) },
		func(ctx context.Context) error { return ignoreN(c.RPush(ctx, "l", "x")) },
		func(ctx context.Context) error { return c.LRange(ctx, "l", 0, 2, new([]string)) },
		func(ctx context.Context) error { return c.LTrim(ctx, "l", 0, 10) },
		func(ctx context.Context) error { return ignoreN(c.SAdd(ctx, "s", "x")) },
		func(ctx context.Context) error { return c.SMembers(ctx, "s", new([]string)) },
		func(ctx context.Context) error { return ignoreB(c.ZAdd(ctx, "z", 1, "x")) },
		func(ctx context.Context) error { return c.ZRange(ctx, "z", 0, -1, false, new([]string)) },
		func(ctx context.Context) error { return ignoreN(c.Publish(ctx, "ch", "msg")) },
		func(ctx context.Context) error { _, err := c.Stream("st").Add(ctx, "msg"); return err },
		func(ctx context.Context) error { return ignoreN(c.Stream("st").Len(ctx)) },
		func(ctx context.Context) error {
			sub, err := c.Subscribe(ctx, func(context.Context, Message) error { return nil }, "ch")
			if err == nil {
				_ = sub.Close()
			}
			return err
		},
		func(ctx context.Context) error {
			_, err := GetOrSet(ctx, c, "cached", time.Minute, func(context.Context) (string, error) { return "v", nil })
			return err
		},
		func(ctx context.Context) error {
			_, err := GetOrComputePrediction(ctx, c, "m", 42, time.Minute, func(context.Context) (float64, error) { return 1, nil })
			return err
		},
		func(ctx context.Context) error { return c.CacheModelPrediction(ctx, "m", "h1", 0.5, 0) },
		func(ctx context.Context) error { return c.GetCachedModelPrediction(ctx, "m", "h1", new(float64)) },
		func(ctx context.Context) error {
			for _, err := range c.Scan(ctx, "*") {
				return err
			}
			return nil
		},
		func(ctx context.Context) error { return c.Ping(ctx) },
		func(ctx context.Context) error {
			r := c.Health(ctx)
			if r.Status != StatusUnhealthy {
				return nil
			}
			if !strings.Contains(r.Error, "client is closed") {
				return fmt.Errorf("unhealthy report while closing does not say closed: %s", r.Error)
			}
			return ErrClosed
		},
	}
}

// TestCallsRacingCloseFailWithErrClosed runs 100 goroutines calling every
// kind of method while Close runs: every call that fails must fail with an
// error wrapping ErrClosed, never go-redis's "redis: client is closed" or a
// closed socket's error.
func TestCallsRacingCloseFailWithErrClosed(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		require.NoError(t, c.Set(ctx, "k", "v", 0))
		require.NoError(t, c.CacheModelPrediction(ctx, "m", "h1", 0.5, 0))
		_, err := c.HSet(ctx, "h", "f", "v")
		require.NoError(t, err)

		raceClose(t, ctx, c, closeRaceOps(c), func(n int64) bool { return n >= 5*closeRacers })
	})
}

// closeRacers is how many goroutines raceClose runs.
const closeRacers = 100

// raceClose runs closeRacers goroutines calling ops in turn, each until its
// first error; once ready(calls so far) holds it closes c. Every goroutine
// must stop on an error wrapping ErrClosed.
func raceClose(t *testing.T, ctx context.Context, c *Client, ops []func(context.Context) error, ready func(calls int64) bool) {
	t.Helper()
	var calls, closedErrs atomic.Int64
	var mu sync.Mutex
	var wrong []string
	var wg sync.WaitGroup
	for g := range closeRacers {
		wg.Go(func() {
			for i := g; ; i++ {
				err := ops[i%len(ops)](ctx)
				calls.Add(1)
				if err == nil {
					continue
				}
				if !errors.Is(err, ErrClosed) {
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("op %d: %v", i%len(ops), err))
					mu.Unlock()
				} else {
					closedErrs.Add(1)
				}
				return // every goroutine stops at its first error
			}
		})
	}
	require.Eventually(t, func() bool { return ready(calls.Load()) }, 20*time.Second, time.Millisecond)
	require.NoError(t, c.Close())
	wg.Wait()
	assert.Empty(t, wrong[:min(len(wrong), 10)], "%d calls failing because of Close did not wrap ErrClosed", len(wrong))
	assert.EqualValues(t, closeRacers, closedErrs.Load())
}

func TestClosedErrorsFromGoRedisReadAsErrClosed(t *testing.T) {
	for _, err := range []error{
		redis.ErrClosed,
		fmt.Errorf("pipeline: %w", redis.ErrClosed),
		&net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed},
	} {
		e := opErr("get", "k", err)
		assert.ErrorIs(t, e, ErrClosed, "%v", err)
		assert.ErrorIs(t, e, err, "the cause stays reachable")
	}
	assert.NotErrorIs(t, opErr("get", "k", errors.New("EOF")), ErrClosed)
}

// A load that ignores its context must not hold Close: Close waits up to
// CloseTimeout, then returns an error, and the load's callers get ErrClosed
// while it still runs.
func TestCloseDoesNotWaitForStuckLoad(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{CloseTimeout: 50 * time.Millisecond})
	ctx := testCtx(t)
	started, release := make(chan struct{}), make(chan struct{})
	loadDone := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		_, err := GetOrSet(ctx, c, "slow", time.Minute, func(context.Context) (string, error) {
			defer close(loadDone)
			close(started)
			select { // ignores its context
			case <-release:
			case <-time.After(time.Minute): // bounds the test on the old code
			}
			return "late", nil
		})
		got <- err
	}()
	<-started

	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	var closeErr error
	select {
	case closeErr = <-closed:
	case <-loadDone:
		t.Fatal("Close waited for the load to end")
	}
	require.ErrorIs(t, closeErr, context.DeadlineExceeded)
	assert.Contains(t, closeErr.Error(), "still running")
	select {
	case err := <-got:
		assert.ErrorIs(t, err, ErrClosed, "the caller is not held by the stuck load")
	case <-loadDone:
		t.Fatal("the caller waited for the load to end")
	}
	close(release)
	<-loadDone
	assert.ErrorIs(t, c.Close(), context.DeadlineExceeded, "later Close calls return the first one's result")
}

// A load that honours its context ends at Close: Close returns nil and the
// caller gets ErrClosed.
func TestCloseCancelsLoad(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	started := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		_, err := GetOrSet(ctx, c, "slow", time.Minute, func(ctx context.Context) (string, error) {
			close(started)
			<-ctx.Done()
			return "", ctx.Err()
		})
		got <- err
	}()
	<-started
	require.NoError(t, c.Close())
	err := <-got
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestCloseTimeoutOption(t *testing.T) {
	_, err := New(Options{CloseTimeout: -time.Second})
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.Contains(t, err.Error(), "CloseTimeout")
	o, err := (Options{}).withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultCloseTimeout, o.CloseTimeout)
}
