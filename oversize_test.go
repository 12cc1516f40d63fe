package redisclient

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// sendCounter is a hook added after the client's own, so it sits closest
// to the network and counts every attempt, retries included.
type sendCounter struct{ cmds, pipelines, bigSends atomic.Int64 }

func (h *sendCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *sendCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "config" && cmd.Name() != "hello" && cmd.Name() != "auth" {
			h.cmds.Add(1)
		}
		if largestArg(cmd) > minBulkLimit {
			h.bigSends.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *sendCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() != "hello" && cmds[0].Name() != "client" { // a new connection's handshake
			h.pipelines.Add(1)
		}
		for _, cmd := range cmds {
			if largestArg(cmd) > minBulkLimit {
				h.bigSends.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

// bigValue is above the smallest proto-max-bulk-len Redis allows (1 MB).
var bigValue = strings.Repeat("x", 2<<20)

// TestIntegrationOversizedRequestFailsAlone runs against a redis-server
// started with --proto-max-bulk-len 1mb, which replies "Protocol error:
// invalid bulk length" to a 2 MB argument and closes the connection. The
// request must fail alone with ErrTooLarge: not retried, not counted by the
// breaker, so unrelated calls keep working.
func TestIntegrationOversizedRequestFailsAlone(t *testing.T) {
	s := testkit.StartServer(t, testkit.Config{Args: []string{"--proto-max-bulk-len", "1mb"}})
	ctx := testCtx(t)
	admin := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { _ = admin.Close() })
	// A user that may not run CONFIG: the client cannot learn the limit and
	// must recognise the closed connection instead.
	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">app-pw", "~*", "&*", "+@all", "-config").Err())

	for name, o := range map[string]Options{
		"limit learnt":   {Addr: s.Addr()},
		"limit unknown":  {Addr: s.Addr(), Username: "app", Password: "app-pw"},
		"fast breaker":   {Addr: s.Addr(), Breaker: BreakerOptions{Threshold: 1}},
		"unknown, fast":  {Addr: s.Addr(), Username: "app", Password: "app-pw", Breaker: BreakerOptions{Threshold: 1}},
		"one connection": {Addr: s.Addr(), Username: "app", Password: "app-pw", PoolSize: 1},
	} {
		t.Run(name, func(t *testing.T) {
			o.Namespace = uniqueNamespace(t)
			c, err := New(o)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			attempts := &sendCounter{}
			c.Redis().AddHook(attempts)
			require.NoError(t, c.Set(ctx, "other", "still here", 0))

			for range 10 { // twice the breaker's default threshold
				attempts.bigSends.Store(0)
				err := c.MSet(ctx, map[string]any{"a": "1", "big": bigValue, "c": "3"}, time.Minute)
				require.ErrorIs(t, err, ErrTooLarge)
				assert.Contains(t, err.Error(), "request too large")
				var be *BatchError
				require.ErrorAs(t, err, &be)
				assert.Equal(t, []string{"a", "c"}, be.Done, "the other keys are written")
				require.Len(t, be.Failed, 1)
				assert.ErrorIs(t, be.Failed["big"], ErrTooLarge)
				assert.LessOrEqual(t, attempts.bigSends.Load(), int64(1), "an oversized MSet is not retried")

				attempts.bigSends.Store(0)
				err = c.Set(ctx, "big", bigValue, 0)
				require.ErrorIs(t, err, ErrTooLarge, "%v", err)
				assert.Contains(t, err.Error(), "set "+c.Key("big")+": request too large")
				assert.LessOrEqual(t, attempts.bigSends.Load(), int64(1), "an oversized Set is not retried")

				var got string
				require.NoError(t, c.Get(ctx, "other", &got), "unrelated calls keep working")
				assert.Equal(t, "still here", got)
				assert.Equal(t, BreakerClosed, c.BreakerState())
			}
			// Values up to the limit still go through, in every call.
			fits := strings.Repeat("y", 1<<20)
			require.NoError(t, c.Set(ctx, "fits", fits, 0))
			require.NoError(t, c.MSet(ctx, map[string]any{"fits2": fits, "small": "s"}, 0))
		})
	}

	t.Run("learnt limit keeps the rest of a batch", func(t *testing.T) {
		c, err := New(Options{Addr: s.Addr(), Namespace: uniqueNamespace(t)})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		err = c.MSet(ctx, map[string]any{"a": "1", "big": bigValue, "c": "3"}, time.Minute)
		var be *BatchError
		require.ErrorAs(t, err, &be)
		assert.Equal(t, []string{"a", "c"}, be.Done, "the others are written")
		assert.Len(t, be.Failed, 1)
		got, err := MGet[string](ctx, c, "a", "big", "c")
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"a": "1", "c": "3"}, got)

		err = c.CacheModelPredictions(ctx, "m", map[string]any{"h1": "p1", "h2": bigValue}, time.Minute)
		require.ErrorAs(t, err, &be)
		assert.Equal(t, []string{"h1"}, be.Done)
		assert.ErrorIs(t, be.Failed["h2"], ErrTooLarge)

		// A transaction is all or nothing.
		err = c.MSetAtomic(ctx, map[string]any{"t1": "1", "t2": bigValue}, time.Minute)
		require.ErrorIs(t, err, ErrTooLarge)
		var s string
		assert.ErrorIs(t, c.Get(ctx, "t1", &s), ErrNotFound)

		// Publish carries a value too.
		_, err = c.Publish(ctx, "ch", bigValue)
		require.ErrorIs(t, err, ErrTooLarge)
		assert.Equal(t, BreakerClosed, c.BreakerState())
	})
}

func TestTooLargeIsNeitherRetriedNorAConnectionFailure(t *testing.T) {
	err := opErr("set", "k", errors.Join(ErrTooLarge, errors.New("EOF")))
	assert.False(t, IsRetryable(err))
	assert.False(t, isConnFailure(err))
	assert.True(t, closedBySize(redis.Nil) == false)
}

func TestLargestArg(t *testing.T) {
	cmd := redis.NewCmd(context.Background(), "set", "k", []byte("12345"), "abc", 7)
	assert.EqualValues(t, 5, largestArg(cmd))
}

// BenchmarkSizeGuardPipeline is the guard's cost on a pipeline of 1000 small
// SETs (none above 1 MB, the common case), without the network.
func BenchmarkSizeGuardPipeline(b *testing.B) {
	ctx := context.Background()
	cmds := make([]redis.Cmder, 1000)
	for i := range cmds {
		cmds[i] = redis.NewStatusCmd(ctx, "set", "trading:model:lstm:0123456789abcdef", "a value of some bytes", "px", 60000)
	}
	hook := newSizeGuard(nil).ProcessPipelineHook(func(context.Context, []redis.Cmder) error { return nil })
	b.ReportAllocs()
	for b.Loop() {
		_ = hook(ctx, cmds)
	}
}

// BenchmarkSizeGuardCommand is the guard's and the closed hook's cost on one
// small command (a GET), without the network.
func BenchmarkSizeGuardCommand(b *testing.B) {
	ctx := context.Background()
	cmd := redis.NewStringCmd(ctx, "get", "trading:quote:AAPL")
	noop := func(context.Context, redis.Cmder) error { return nil }
	hook := closedHook{&shared{}}.ProcessHook(newSizeGuard(nil).ProcessHook(noop))
	b.ReportAllocs()
	for b.Loop() {
		_ = hook(ctx, cmd)
	}
}
