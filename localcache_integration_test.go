package redisclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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

// newURLClient returns a plain go-redis client on url: "another client"
// whose writes reach the near cache only through Redis.
func newURLClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	require.NoError(t, err)
	other := redis.NewClient(o)
	t.Cleanup(func() { _ = other.Close() })
	return other
}

// liveTimeout bounds the wait for tracking to come up on a loaded machine.
const liveTimeout = 20 * time.Second

// newTrackedClient returns a client with the near cache on the server at
// url, once its tracking is live.
func newTrackedClient(t testing.TB, opts Options) *Client {
	t.Helper()
	if opts.LocalCache == nil {
		opts.LocalCache = &LocalCacheOptions{}
	}
	if opts.Namespace == "" {
		opts.Namespace = uniqueNamespace(t)
	}
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	requireLive(t, c)
	return c
}

func requireLive(t testing.TB, c *Client) {
	t.Helper()
	require.Eventually(t, c.shared.local.live.Load, liveTimeout, 5*time.Millisecond, "near cache tracking never became live")
}

// cached reports whether the near cache holds full key k.
func cached(c *Client, k string) bool {
	_, ok := c.shared.local.store.GetIfPresent(c.Key(k))
	return ok
}

// primeCache reads key twice and checks the second read was served locally.
func primeCache(t *testing.T, ctx context.Context, c *Client, key, want string) {
	t.Helper()
	requireLive(t, c)
	// A read may fill the cache just before the invalidation of an earlier
	// write arrives and drops the entry: try until one read is a hit.
	var last atomic.Value
	if !assert.Eventually(t, func() bool {
		var s string
		if err := c.Get(ctx, key, &s); err != nil || s != want || !cached(c, key) {
			last.Store(fmt.Sprint(s, err))
			return false
		}
		hits := c.CacheStats().LocalHits
		err := c.Get(ctx, key, &s)
		last.Store(fmt.Sprint(s, err))
		return err == nil && s == want && c.CacheStats().LocalHits > hits
	}, liveTimeout, time.Millisecond) {
		t.Fatalf("%s never served %q locally (last read: %v)", key, want, last.Load())
	}
}

// Another client's writes reach this client's near cache through Redis.
func TestLocalCacheInvalidatedByOtherClient(t *testing.T) {
	url := testkit.RequireEnv(t, testkit.EnvURL)
	c := newTrackedClient(t, Options{URL: url})
	ctx := testCtx(t)
	other := newURLClient(t, url)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })

	for _, tc := range []struct {
		op    string
		write func(k string) error
		want  string // value read after; "" = missing
	}{
		{"SET", func(k string) error { return other.Set(ctx, k, "v2", 0).Err() }, "v2"},
		{"DEL", func(k string) error { return other.Del(ctx, k).Err() }, ""},
		{"UNLINK", func(k string) error { return other.Unlink(ctx, k).Err() }, ""},
		{"EXPIRE", func(k string) error { return other.PExpire(ctx, k, 50*time.Millisecond).Err() }, ""},
		{"APPEND", func(k string) error { return other.Append(ctx, k, "x").Err() }, "v1x"},
		{"Lua", func(k string) error {
			return other.Eval(ctx, "return redis.call('SET', KEYS[1], ARGV[1])", []string{k}, "lua").Err()
		}, "lua"},
	} {
		t.Run(tc.op, func(t *testing.T) {
			require.NoError(t, c.Set(ctx, tc.op, "v1", time.Hour))
			primeCache(t, ctx, c, tc.op, "v1")
			inv := c.CacheStats().LocalInvalidations
			require.NoError(t, tc.write(c.Key(tc.op)))
			require.Eventually(t, func() bool { return !cached(c, tc.op) }, liveTimeout, time.Millisecond, "not invalidated")
			assert.Greater(t, c.CacheStats().LocalInvalidations, inv)
			require.Eventually(t, func() bool {
				var s string
				err := c.Get(ctx, tc.op, &s)
				if tc.want == "" {
					return errors.Is(err, ErrNotFound)
				}
				return err == nil && s == tc.want
			}, liveTimeout, time.Millisecond)
		})
	}
}

// Writes through this client are seen by its next read, without waiting for
// Redis's invalidation.
func TestLocalCacheReadYourWrites(t *testing.T) {
	c := newTrackedClient(t, Options{URL: testkit.RequireEnv(t, testkit.EnvURL)})
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	type quote struct {
		Bid, Ask float64
		Levels   []float64
	}
	for i := range 200 {
		require.NoError(t, c.Set(ctx, "s", strconv.Itoa(i), time.Hour))
		var s string
		require.NoError(t, c.Get(ctx, "s", &s))
		require.Equal(t, strconv.Itoa(i), s)

		q := quote{Bid: float64(i), Levels: []float64{float64(i)}}
		require.NoError(t, c.Set(ctx, "q", q, time.Hour))
		got, err := MGet[quote](ctx, c, "q")
		require.NoError(t, err)
		require.Equal(t, q, got["q"])

		n, err := GetOrSet(ctx, c, "q", time.Hour, func(context.Context) (quote, error) { return quote{}, errors.New("cached") })
		require.NoError(t, err)
		require.Equal(t, q, n)
	}
	assert.Positive(t, c.CacheStats().LocalHits)
	_, err := c.Delete(ctx, "s")
	require.NoError(t, err)
	var s string
	require.ErrorIs(t, c.Get(ctx, "s", &s), ErrNotFound)
}

// Every read API is served from the near cache once filled, and a
// namespace view shares it.
func TestLocalCacheReadAPIs(t *testing.T) {
	c := newTrackedClient(t, Options{URL: testkit.RequireEnv(t, testkit.EnvURL)})
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	type pred struct {
		Signal    float64   `json:"signal"`
		Quantiles []float64 `json:"quantiles"`
	}
	p := pred{Signal: 0.5, Quantiles: []float64{1, 2}}
	require.NoError(t, c.CacheModelPrediction(ctx, "m", "h1", p, time.Hour))
	view := c.Namespace("child")
	require.NoError(t, view.Set(ctx, "k", "v", time.Hour))

	read := func() {
		var got pred
		require.NoError(t, c.GetCachedModelPrediction(ctx, "m", "h1", &got))
		require.Equal(t, p, got)
		found, missing, err := GetModelPredictions[pred](ctx, c, "m", []string{"h1", "h2"})
		require.NoError(t, err)
		require.Equal(t, map[string]pred{"h1": p}, found)
		require.Equal(t, []string{"h2"}, missing)
		v, err := GetOrComputePrediction(ctx, c, "m", "input", time.Hour, func(context.Context) (pred, error) { return p, nil })
		require.NoError(t, err)
		require.Equal(t, p, v)
		var s string
		require.NoError(t, view.Get(ctx, "k", &s))
		require.Equal(t, "v", s)
	}
	read() // fills
	read()
	hits := c.CacheStats().LocalHits
	read()
	// GetCachedModelPrediction, GetModelPredictions (h1), GetOrComputePrediction, view.Get
	assert.Equal(t, hits+4, c.CacheStats().LocalHits)
	h := c.Health(ctx)
	require.NotNil(t, h.LocalCache)
	assert.True(t, h.LocalCache.Tracking)
	assert.Equal(t, 1, h.LocalCache.TrackedNodes)
}

// Values read through the near cache are shared read-only: concurrent
// readers, writers and invalidations do not race.
func TestLocalCacheSharedValuesNoRace(t *testing.T) {
	c := newTrackedClient(t, Options{URL: testkit.RequireEnv(t, testkit.EnvURL)})
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	type pred struct {
		Q []float64
		M map[string]float64
	}
	require.NoError(t, c.Set(ctx, "p", pred{Q: []float64{1, 2}, M: map[string]float64{"a": 1}}, time.Hour))
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 300 {
				if g == 0 && i%10 == 0 {
					require.NoError(t, c.Set(ctx, "p", pred{Q: []float64{float64(i)}, M: map[string]float64{"a": float64(i)}}, time.Hour))
					continue
				}
				var p pred
				require.NoError(t, c.Get(ctx, "p", &p))
				sum := p.M["a"]
				for _, q := range p.Q {
					sum += q
				}
				_ = sum
				b := []byte(nil)
				if err := c.Get(ctx, "p", &b); err == nil && len(b) > 0 {
					b[0] ^= 0xff // []byte results are the caller's own
				}
			}
		})
	}
	wg.Wait()
}

// FLUSHDB, FLUSHALL and a maxmemory eviction on the server reach the cache;
// on a server of the test's own.
func TestLocalCacheFlushAndEviction(t *testing.T) {
	srv := testkit.StartServer(t, testkit.Config{Args: []string{"--maxmemory", "3mb", "--maxmemory-policy", "allkeys-lru"}})
	c := newTrackedClient(t, Options{Addr: srv.Addr()})
	ctx := testCtx(t)
	other := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = other.Close() })

	for _, cmd := range []string{"FLUSHDB", "FLUSHALL"} {
		t.Run(cmd, func(t *testing.T) {
			require.NoError(t, c.Set(ctx, "k", "v", time.Hour))
			primeCache(t, ctx, c, "k", "v")
			flushes := c.CacheStats().LocalFlushes
			require.NoError(t, other.Do(ctx, cmd).Err())
			// A late invalidation of the Set may drop "k" first; wait for
			// the flush itself.
			require.Eventually(t, func() bool { return c.CacheStats().LocalFlushes > flushes }, liveTimeout, time.Millisecond)
			assert.False(t, cached(c, "k"))
			var s string
			require.Eventually(t, func() bool { return errors.Is(c.Get(ctx, "k", &s), ErrNotFound) }, liveTimeout, time.Millisecond)
		})
	}

	t.Run("eviction", func(t *testing.T) {
		require.NoError(t, c.Set(ctx, "cold", "v", time.Hour))
		primeCache(t, ctx, c, "cold", "v")
		pad := strings.Repeat("x", 4096)
		for i := 0; ; i++ {
			require.Less(t, i, 20000, "key never evicted")
			require.NoError(t, other.Set(ctx, fmt.Sprintf("pad:%d", i), pad, 0).Err())
			if i%50 == 0 {
				n, err := other.Exists(ctx, c.Key("cold")).Result()
				require.NoError(t, err)
				if n == 0 {
					break
				}
			}
		}
		require.Eventually(t, func() bool { return !cached(c, "cold") }, liveTimeout, time.Millisecond)
	})
}

// Kill and restart Redis under readers: while tracking is down nothing is
// served locally, and no read after the restart returns a value older than
// the last write that completed before it.
func TestLocalCacheServerRestart(t *testing.T) {
	srv := testkit.StartServer(t, testkit.Config{})
	c := newTrackedClient(t, Options{Addr: srv.Addr(), Retry: RetryPolicy{Attempts: 1}})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "0", NoExpiry))
	primeCache(t, ctx, c, "k", "0")

	var acked atomic.Int64 // last value whose write completed
	var stop atomic.Bool
	var wg sync.WaitGroup
	var violations atomic.Int64
	var firstViolation atomic.Value
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				floor := acked.Load()
				var s string
				if err := c.Get(ctx, "k", &s); err != nil {
					continue // down, or missing after the restart
				}
				if v, _ := strconv.ParseInt(s, 10, 64); v < floor {
					violations.Add(1)
					firstViolation.CompareAndSwap(nil, fmt.Sprintf("read %d after %d was written", v, floor))
				}
			}
		})
	}
	write := func(v int64) {
		require.Eventually(t, func() bool { return c.Set(ctx, "k", strconv.FormatInt(v, 10), NoExpiry) == nil }, liveTimeout, 5*time.Millisecond)
		acked.Store(v)
	}
	for round := int64(1); round <= 3; round++ {
		write(round * 100)
		srv.Stop()
		require.Eventually(t, func() bool { return !c.shared.local.live.Load() }, liveTimeout, time.Millisecond, "tracking loss not noticed")
		srv.Restart()
		write(round*100 + 1)
		requireLive(t, c)
		write(round*100 + 2)
		primeCache(t, ctx, c, "k", strconv.FormatInt(round*100+2, 10))
	}
	stop.Store(true)
	wg.Wait()
	require.Zero(t, violations.Load(), "%v", firstViolation.Load())
	assert.GreaterOrEqual(t, c.CacheStats().LocalFlushes, uint64(6))
}

// Randomized: one writer on another client, readers on the near cache. No
// reader sees a value older than the last acknowledged write by more than
// the invalidation delay, measured first on this machine.
func TestLocalCacheRandomizedStaleness(t *testing.T) {
	url := testkit.RequireEnv(t, testkit.EnvURL)
	c := newTrackedClient(t, Options{URL: url})
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	other := newURLClient(t, url)

	// Measure the invalidation delay: another client's SET returning to
	// this client serving the new value.
	var delays []time.Duration
	for i := range 30 {
		require.NoError(t, other.Set(ctx, c.Key("probe"), i, 0).Err())
		primeCache(t, ctx, c, "probe", strconv.Itoa(i))
		require.NoError(t, other.Set(ctx, c.Key("probe"), i+1000, 0).Err())
		start := time.Now()
		for {
			var s string
			require.NoError(t, c.Get(ctx, "probe", &s))
			if s == strconv.Itoa(i+1000) {
				break
			}
		}
		delays = append(delays, time.Since(start))
	}
	slices.Sort(delays)
	// The bound allows for a scheduler stall on a loaded 2-core machine.
	bound := max(10*delays[len(delays)-1], 250*time.Millisecond)
	t.Logf("invalidation delay: p50 %v, max %v; staleness bound %v", delays[len(delays)/2], delays[len(delays)-1], bound)

	const keys = 8
	type ack struct {
		v  int64
		at time.Time
	}
	var mu sync.Mutex
	history := make([][]ack, keys)
	floorAt := func(k int, at time.Time) int64 {
		mu.Lock()
		defer mu.Unlock()
		var f int64 = -1
		for _, a := range history[k] {
			if a.at.Before(at) {
				f = a.v
			}
		}
		return f
	}
	for k := range keys {
		require.NoError(t, other.Set(ctx, c.Key(strconv.Itoa(k)), 0, 0).Err())
		history[k] = []ack{{0, time.Now()}}
	}
	var stop atomic.Bool
	var reads, violations atomic.Int64
	var firstViolation atomic.Value
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for !stop.Load() {
				k := rng.IntN(keys)
				start := time.Now()
				var v int64
				if err := c.Get(ctx, strconv.Itoa(k), &v); err != nil {
					continue
				}
				reads.Add(1)
				if f := floorAt(k, start.Add(-bound)); v < f {
					violations.Add(1)
					firstViolation.CompareAndSwap(nil, fmt.Sprintf("key %d: read %d, but %d was acknowledged %v before the read", k, v, f, bound))
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(2 * time.Second)
	for v := int64(1); time.Now().Before(deadline); v++ {
		k := rng.IntN(keys)
		require.NoError(t, other.Set(ctx, c.Key(strconv.Itoa(k)), v, 0).Err())
		mu.Lock()
		history[k] = append(history[k], ack{v, time.Now()})
		mu.Unlock()
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
	}
	stop.Store(true)
	wg.Wait()
	require.Zero(t, violations.Load(), "%v", firstViolation.Load())
	require.Positive(t, reads.Load())
	t.Logf("%d reads, %+v", reads.Load(), c.CacheStats())
}

// TestLocalCacheNilDestinations: a nil or non-pointer destination is an
// error naming the key with the near cache on too, also for a key it holds
// (assigning the cached value used to dereference the nil pointer).
func TestLocalCacheNilDestinations(t *testing.T) {
	c := newTrackedClient(t, Options{URL: testkit.RequireEnv(t, testkit.EnvURL)})
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	require.NoError(t, c.Set(ctx, "k", "7", time.Hour))
	primeCache(t, ctx, c, "k", "7")
	var n int
	require.NoError(t, c.Get(ctx, "k", &n))
	require.NoError(t, c.Get(ctx, "k", &n), "cached for *int too")
	for name, dest := range map[string]any{
		"nil *string": (*string)(nil), "nil *int": (*int)(nil), "nil *[]byte": (*[]byte)(nil),
		"non-pointer": n, "nil": nil,
	} {
		var err error
		require.NotPanics(t, func() { err = c.Get(ctx, "k", dest) }, name)
		require.ErrorIs(t, err, ErrUnsupportedType, name)
		assert.Contains(t, err.Error(), c.Key("k"), name)
		require.NotPanics(t, func() { err = c.getFull(ctx, "get", c.Key("k"), dest) }, name)
		require.ErrorIs(t, err, ErrUnsupportedType, name)
	}
}

// Hot reads racing Close: a read Close overtakes fails with ErrClosed, and
// once Close has returned no read is served from the near cache.
func TestLocalCacheReadsRacingClose(t *testing.T) {
	url := testkit.RequireEnv(t, testkit.EnvURL)
	c := newTrackedClient(t, Options{URL: url})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", time.Minute))
	require.NoError(t, c.CacheModelPrediction(ctx, "m", "h1", 0.5, time.Minute))
	primeCache(t, ctx, c, "k", "v")
	reads := []func(context.Context) error{
		func(ctx context.Context) error { return c.Get(ctx, "k", new(string)) },
		func(ctx context.Context) error { _, err := MGet[string](ctx, c, "k"); return err },
		func(ctx context.Context) error {
			_, err := GetOrSet(ctx, c, "k", time.Minute, func(context.Context) (string, error) { return "loaded", nil })
			return err
		},
		func(ctx context.Context) error { return c.GetCachedModelPrediction(ctx, "m", "h1", new(float64)) },
		func(ctx context.Context) error {
			_, _, err := GetModelPredictions[float64](ctx, c, "m", []string{"h1"})
			return err
		},
	}
	raceClose(t, ctx, c, reads, func(int64) bool { return c.CacheStats().LocalHits >= 100*closeRacers })
	for i, read := range reads {
		assert.ErrorIs(t, read(ctx), ErrClosed, "read %d after Close returned", i)
	}
}

// Glob characters and invalid UTF-8 in the namespace and the key: BCAST
// prefixes are literal bytes, so another client's write still invalidates.
func TestLocalCacheHostileNames(t *testing.T) {
	url := testkit.RequireEnv(t, testkit.EnvURL)
	c := newTrackedClient(t, Options{URL: url, Namespace: "g*[?]\xff\\" + uniqueNamespace(t)})
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	other := newURLClient(t, url)

	const key = "k*\xfe[x]"
	require.NoError(t, c.Set(ctx, key, "1", time.Minute))
	primeCache(t, ctx, c, key, "1")
	require.NoError(t, other.Set(ctx, c.Key(key), "2", time.Minute).Err())
	require.Eventually(t, func() bool { return !cached(c, key) }, liveTimeout, time.Millisecond, "another client's write did not invalidate")
	var s string
	require.NoError(t, c.Get(ctx, key, &s))
	assert.Equal(t, "2", s)
}
