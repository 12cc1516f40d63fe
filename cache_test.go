package redisclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetOrSetLoadsOnceThenHits(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		var calls atomic.Int32
		load := func(context.Context) (prediction, error) {
			calls.Add(1)
			return samplePrediction(), nil
		}
		p, err := GetOrSet(ctx, c, "p", time.Minute, load)
		require.NoError(t, err)
		assert.Equal(t, samplePrediction(), p)
		p, err = GetOrSet(ctx, c, "p", time.Minute, load)
		require.NoError(t, err)
		assert.Equal(t, samplePrediction(), p.norm())
		assert.Equal(t, int32(1), calls.Load())
		st := c.CacheStats()
		assert.Equal(t, uint64(1), st.Hits)
		assert.Equal(t, uint64(1), st.Misses)
		assert.Equal(t, uint64(1), st.Loads)
		d, err := c.TTL(ctx, "p")
		require.NoError(t, err)
		assert.Greater(t, d, 50*time.Second)
	})
}

func TestGetOrSetStampedeSharesOneLoad(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		var calls atomic.Int32
		release := make(chan struct{})
		load := func(context.Context) (int, error) {
			calls.Add(1)
			<-release
			return 7, nil
		}
		const n = 64
		var wg sync.WaitGroup
		results := make([]int, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { results[i], errs[i] = GetOrSet(ctx, c, "cold", time.Minute, load) })
		}
		require.Eventually(t, func() bool { return c.CacheStats().Misses == n }, 5*time.Second, time.Millisecond)
		close(release)
		wg.Wait()
		assert.Equal(t, int32(1), calls.Load())
		for i := range n {
			require.NoError(t, errs[i])
			assert.Equal(t, 7, results[i])
		}
	})
}

func TestGetOrSetCallerCancelDoesNotFailOthers(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	release := make(chan struct{})
	var loadCtxErr atomic.Value
	load := func(ctx context.Context) (string, error) {
		<-release
		if err := ctx.Err(); err != nil {
			loadCtxErr.Store(err)
		}
		return "v", nil
	}
	cancelled, cancel := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, err := GetOrSet(cancelled, c, "k", 0, load)
		errA <- err
	}()
	require.Eventually(t, func() bool { return c.CacheStats().Misses == 1 }, time.Second, time.Millisecond)
	resB := make(chan string, 1)
	go func() {
		v, err := GetOrSet(context.Background(), c, "k", 0, load)
		assert.NoError(t, err)
		resB <- v
	}()
	require.Eventually(t, func() bool { return c.CacheStats().Misses == 2 }, time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-errA:
		assert.ErrorIs(t, err, context.Canceled, "the cancelled caller returns at once")
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled caller did not return")
	}
	close(release)
	assert.Equal(t, "v", <-resB)
	assert.Nil(t, loadCtxErr.Load(), "the shared load is detached from the cancelled caller")
	var s string
	require.NoError(t, c.Get(testCtx(t), "k", &s))
	assert.Equal(t, "v", s)
}

func TestGetOrSetPanicBecomesErrorForEveryWaiter(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	release := make(chan struct{})
	var calls atomic.Int64
	load := func(context.Context) (int, error) {
		calls.Add(1)
		<-release
		panic("model exploded")
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = GetOrSet(ctx, c, "boom", 0, load) })
	}
	require.Eventually(t, func() bool { return c.CacheStats().Misses == 8 }, time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	for _, err := range errs {
		require.Error(t, err)
		assert.Contains(t, err.Error(), "model exploded")
		assert.Contains(t, err.Error(), "trading:boom")
	}
	// A caller counts its miss just before it joins the flight, so a late
	// one may start a second load after the first ended; each panicking
	// load is one load error.
	assert.EqualValues(t, calls.Load(), c.CacheStats().LoadErrors)
	assert.Positive(t, calls.Load())
}

func TestGetOrSetErrorsAreNotCached(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	boom := errors.New("upstream down")
	_, err := GetOrSet(ctx, c, "k", 0, func(context.Context) (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)
	v, err := GetOrSet(ctx, c, "k", 0, func(context.Context) (int, error) { return 5, nil })
	require.NoError(t, err)
	assert.Equal(t, 5, v)
	assert.Equal(t, uint64(2), c.CacheStats().Loads)
	assert.Equal(t, uint64(1), c.CacheStats().LoadErrors)
}

func TestGetOrSetFailsOpen(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	mr.SetError("LOADING Redis is loading the dataset in memory")
	v, err := GetOrSet(ctx, c, "k", 0, func(context.Context) (string, error) { return "fresh", nil })
	require.NoError(t, err)
	assert.Equal(t, "fresh", v)
	assert.Equal(t, uint64(2), c.CacheStats().RedisErrors, "failed read and failed write both counted")

	mr.Close() // server gone entirely
	v, err = GetOrSet(ctx, c, "k2", 0, func(context.Context) (string, error) { return "still", nil })
	require.NoError(t, err)
	assert.Equal(t, "still", v)
	assert.Equal(t, uint64(4), c.CacheStats().RedisErrors)
}

func TestGetOrSetReloadsUndecodableValue(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	require.NoError(t, mr.Set("trading:k", "garbage"))
	v, err := GetOrSet(ctx, c, "k", 0, func(context.Context) (prediction, error) { return samplePrediction(), nil })
	require.NoError(t, err)
	assert.Equal(t, samplePrediction(), v)
	var p prediction
	require.NoError(t, c.Get(ctx, "k", &p), "overwritten with a readable value")
}

func TestGetOrSetValidation(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	load := func(context.Context) (int, error) { return 1, nil }
	_, err := GetOrSet(ctx, c, "", 0, load)
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = GetOrSet(ctx, c, "k", -3*time.Second, load)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "trading:k")
	require.NoError(t, c.Close())
	_, err = GetOrSet(ctx, c, "k", 0, load)
	assert.ErrorIs(t, err, ErrClosed)
}

func TestCloseCancelsAndWaitsForDetachedLoads(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	started := make(chan struct{})
	var finished atomic.Bool
	go func() {
		_, _ = GetOrSet(context.Background(), c, "slow", 0, func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond)
			finished.Store(true)
			return 0, ctx.Err()
		})
	}()
	<-started
	require.NoError(t, c.Close())
	assert.True(t, finished.Load(), "Close returned only after the load ended")
}

// TestGetOrSetLateMissDoesNotReload covers callers whose miss comes just
// after another caller's flight stored the value: they must find it inside
// the flight instead of loading again.
func TestGetOrSetLateMissDoesNotReload(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		for wave := range 30 {
			key := fmt.Sprint("wave", wave)
			var calls atomic.Int32
			load := func(context.Context) (int, error) {
				calls.Add(1)
				time.Sleep(time.Millisecond)
				return wave, nil
			}
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					v, err := GetOrSet(ctx, c, key, time.Minute, load)
					assert.NoError(t, err)
					assert.Equal(t, wave, v)
				})
			}
			wg.Wait()
			require.Equal(t, int32(1), calls.Load(), "wave %d", wave)
		}
	})
}

// storeAfterFirstGet stores a value under key right after the first GET
// of it has read a miss, as another process finishing its load would.
type storeAfterFirstGet struct {
	once  sync.Once
	store func()
	key   string
}

func (h *storeAfterFirstGet) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *storeAfterFirstGet) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.after(cmd)
		return err
	}
}

func (h *storeAfterFirstGet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.after(cmd)
		}
		return err
	}
}

func (h *storeAfterFirstGet) after(cmd redis.Cmder) {
	if args := cmd.Args(); cmd.Name() == "get" && len(args) == 2 && args[1] == h.key {
		h.once.Do(h.store)
	}
}

// TestGetOrSetValueStoredDuringMissIsNotReloaded: a value stored between
// the caller's miss and its flight is found by the flight's own read and
// returned, decoded, without calling load.
func TestGetOrSetValueStoredDuringMissIsNotReloaded(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	k, err := c.key("getorset", "p")
	require.NoError(t, err)
	enc, err := encodeValue(c.ser, samplePrediction())
	require.NoError(t, err)
	text, ok := enc.(string)
	if b, isBytes := enc.([]byte); isBytes {
		text, ok = string(b), true
	}
	require.True(t, ok, "encoded as %T", enc)
	c.Redis().AddHook(&storeAfterFirstGet{key: k, store: func() { require.NoError(t, mr.Set(k, text)) }})

	var calls atomic.Int32
	p, err := GetOrSet(testCtx(t), c, "p", time.Minute, func(context.Context) (prediction, error) {
		calls.Add(1)
		return prediction{}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, samplePrediction(), p.norm())
	assert.Equal(t, int32(0), calls.Load())
	st := c.CacheStats()
	assert.Equal(t, uint64(1), st.Misses)
	assert.Equal(t, uint64(0), st.Hits)
	assert.Equal(t, uint64(0), st.Loads)
}
