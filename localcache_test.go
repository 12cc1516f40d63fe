package redisclient

import (
	"errors"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/systemtrader/redisclient/internal/testkit"
)

func newTestLocalCache(t *testing.T, o LocalCacheOptions) *localCache {
	t.Helper()
	lo, err := o.withDefaults()
	require.NoError(t, err)
	lc := newLocalCache(lo)
	t.Cleanup(lc.close)
	lc.setLive(true)
	return lc
}

var stringPtr = reflect.TypeFor[*string]()

func TestLocalCacheOptions(t *testing.T) {
	o, err := (&LocalCacheOptions{}).withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultLocalCacheMaxEntries, o.MaxEntries)
	assert.Equal(t, DefaultLocalCacheMaxStaleness, o.MaxStaleness)
	assert.Equal(t, DefaultLocalCachePingInterval, o.PingInterval)
	assert.Equal(t, int64(DefaultLocalCacheMaxBytes), o.MaxBytes)
	for _, tc := range []struct {
		opts LocalCacheOptions
		name string
	}{
		{LocalCacheOptions{MaxEntries: -1}, "LocalCache.MaxEntries"},
		{LocalCacheOptions{MaxBytes: -1}, "LocalCache.MaxBytes"},
		{LocalCacheOptions{MaxStaleness: time.Microsecond}, "LocalCache.MaxStaleness"},
		{LocalCacheOptions{MaxStaleness: -time.Second}, "LocalCache.MaxStaleness"},
		{LocalCacheOptions{PingInterval: -1}, "LocalCache.PingInterval"},
	} {
		_, err := New(Options{LocalCache: &tc.opts})
		require.ErrorIs(t, err, ErrInvalidOptions)
		assert.Contains(t, err.Error(), tc.name)
	}
}

// A value read before an invalidation arrived must not be stored after it.
func TestLocalCacheFillAfterInvalidateIsDropped(t *testing.T) {
	lc := newTestLocalCache(t, LocalCacheOptions{})
	for name, interfere := range map[string]func(){
		"invalidate key": func() { lc.invalidate("k") },
		"flush":          lc.flush,
		"tracking lost":  func() { lc.setLive(false); lc.setLive(true) },
	} {
		t.Run(name, func(t *testing.T) {
			tok := lc.begin("k")
			require.True(t, tok.ok)
			interfere()
			lc.fill("k", stringPtr, tok, "old", 1)
			_, ok := lc.get("k", stringPtr)
			assert.False(t, ok, "a fill that raced an invalidation was stored")

			tok = lc.begin("k")
			lc.fill("k", stringPtr, tok, "new", 1)
			v, ok := lc.get("k", stringPtr)
			require.True(t, ok)
			assert.Equal(t, "new", v)
			lc.invalidate("k")
		})
	}
}

// Entries are per Go type: a value cached for one type is never served for
// another.
func TestLocalCacheKeyedByType(t *testing.T) {
	lc := newTestLocalCache(t, LocalCacheOptions{})
	lc.fill("k", stringPtr, lc.begin("k"), "s", 1)
	_, ok := lc.get("k", reflect.TypeFor[*int]())
	assert.False(t, ok)
	v, ok := lc.get("k", stringPtr)
	assert.True(t, ok)
	assert.Equal(t, "s", v)
}

func TestLocalCacheMaxStaleness(t *testing.T) {
	lc := newTestLocalCache(t, LocalCacheOptions{MaxStaleness: 30 * time.Millisecond})
	lc.fill("k", stringPtr, lc.begin("k"), "v", 1)
	start := time.Now()
	require.Eventually(t, func() bool { _, ok := lc.get("k", stringPtr); return !ok }, 5*time.Second, time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "entry dropped before MaxStaleness")
}

func TestLocalCacheNotServedWhileTrackingDown(t *testing.T) {
	lc := newTestLocalCache(t, LocalCacheOptions{})
	lc.fill("k", stringPtr, lc.begin("k"), "v", 1)
	lc.setLive(false)
	_, ok := lc.get("k", stringPtr)
	assert.False(t, ok)
	assert.False(t, lc.begin("k").ok, "a fill began while tracking is down")
	lc.setLive(true)
	_, ok = lc.get("k", stringPtr)
	assert.False(t, ok, "entries from before the loss survived it")
}

func TestLocalCacheBounded(t *testing.T) {
	lc := newTestLocalCache(t, LocalCacheOptions{MaxEntries: 100})
	for i := range 2000 {
		k := "k" + strconv.Itoa(i)
		lc.fill(k, stringPtr, lc.begin(k), "v", 1)
	}
	lc.store.CleanUp()
	assert.LessOrEqual(t, lc.store.EstimatedSize(), 100)
	assert.Positive(t, lc.evictions.Load())
}

// MaxBytes bounds the sum of key and encoded value sizes; MaxEntries still
// holds for small values.
func TestLocalCacheMaxBytes(t *testing.T) {
	t.Run("large values", func(t *testing.T) {
		lc := newTestLocalCache(t, LocalCacheOptions{MaxEntries: 1000, MaxBytes: 100_000})
		for i := range 200 {
			k := "k" + strconv.Itoa(i)
			lc.fill(k, stringPtr, lc.begin(k), "v", 10_000)
		}
		lc.store.CleanUp()
		assert.LessOrEqual(t, lc.store.WeightedSize(), uint64(100_000))
		assert.LessOrEqual(t, lc.store.EstimatedSize(), 10)
		assert.Positive(t, lc.store.EstimatedSize())
		assert.Positive(t, lc.evictions.Load())
	})
	t.Run("small values", func(t *testing.T) {
		lc := newTestLocalCache(t, LocalCacheOptions{MaxEntries: 50, MaxBytes: 1 << 20})
		for i := range 500 {
			k := "k" + strconv.Itoa(i)
			lc.fill(k, stringPtr, lc.begin(k), "v", 10)
		}
		lc.store.CleanUp()
		assert.LessOrEqual(t, lc.store.EstimatedSize(), 50)
		assert.Greater(t, lc.store.EstimatedSize(), 25, "the byte bound evicted small values")
	})
	t.Run("value over the bound", func(t *testing.T) {
		lc := newTestLocalCache(t, LocalCacheOptions{MaxBytes: 1000})
		lc.fill("big", stringPtr, lc.begin("big"), "v", 5000)
		lc.store.CleanUp()
		_, ok := lc.get("big", stringPtr)
		assert.False(t, ok)
	})
}

// Concurrent fills, invalidations and flushes: run under -race.
func TestLocalCacheConcurrent(t *testing.T) {
	lc := newTestLocalCache(t, LocalCacheOptions{MaxEntries: 64})
	type pred struct {
		Q []float64
		M map[string]int
	}
	typ := reflect.TypeFor[*pred]()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := string(rune('a' + i%16))
				switch (g + i) % 7 {
				case 0:
					lc.invalidate(k)
				case 1:
					if i%100 == 0 {
						lc.flush()
					}
				default:
					if v, ok := lc.get(k, typ); ok {
						p := v.(pred)
						_ = p.Q[0] + float64(p.M["a"])
						continue
					}
					lc.fill(k, typ, lc.begin(k), pred{Q: []float64{1}, M: map[string]int{"a": 1}}, 1)
				}
			}
		})
	}
	wg.Wait()
}

// Without CLIENT TRACKING (miniredis), the near cache never serves: every
// call goes to Redis and behaves as without it.
func TestLocalCacheWithoutTrackingReadsRedis(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{LocalCache: &LocalCacheOptions{}})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v1", 0))
	var s string
	require.NoError(t, c.Get(ctx, "k", &s))
	require.NoError(t, mr.Set(c.Key("k"), "v2"))
	require.NoError(t, c.Get(ctx, "k", &s))
	assert.Equal(t, "v2", s)
	m, err := MGet[string](ctx, c, "k", "missing")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "v2"}, m)
	var missing string
	require.True(t, errors.Is(c.Get(ctx, "missing", &missing), ErrNotFound))
	assert.Zero(t, c.CacheStats().LocalHits)
	h := c.Health(ctx)
	require.NotNil(t, h.LocalCache)
	assert.False(t, h.LocalCache.Tracking)
}

// A write is complete once its invalidation returns: from then on no reader
// may see an older value, not even while a racing fill finds out it lost.
// Here server stands for Redis: a fill reads it after begin, and a write
// changes it, then invalidates (or flushes, as FLUSHDB does).
func TestLocalCacheRacingFillNeverServedAfterWrite(t *testing.T) {
	int64Ptr := reflect.TypeFor[*int64]()
	for _, tc := range []struct {
		name   string
		drop   func(lc *localCache)
		writes int64
	}{
		{"invalidate", func(lc *localCache) { lc.invalidate("k") }, 100_000},
		{"flush", func(lc *localCache) { lc.flush() }, 10_000}, // a flush costs more
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := newTestLocalCache(t, LocalCacheOptions{})
			var server, acked, stale atomic.Int64
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					for !stop.Load() {
						tok := lc.begin("k")
						lc.fill("k", int64Ptr, tok, server.Load(), 8)
					}
				})
				wg.Go(func() {
					for !stop.Load() {
						floor := acked.Load()
						if v, ok := lc.get("k", int64Ptr); ok && v.(int64) < floor {
							stale.Add(1)
						}
					}
				})
			}
			for i := int64(1); i <= tc.writes; i++ {
				server.Store(i)
				tc.drop(lc)
				acked.Store(i)
			}
			stop.Store(true)
			wg.Wait()
			assert.Zero(t, stale.Load(), "values older than a completed write were served")
		})
	}
}

// The near cache can be turned on from the environment, for services that
// only call GetClient; a bad value names its variable.
func TestLocalCacheFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want *LocalCacheOptions
	}{
		{map[string]string{}, nil},
		{map[string]string{EnvLocalCache: "false"}, nil},
		{map[string]string{EnvLocalCache: "true"}, &LocalCacheOptions{}},
		{map[string]string{EnvLocalCache: "1", EnvLocalCacheMaxEntries: "500"}, &LocalCacheOptions{MaxEntries: 500}},
		{map[string]string{EnvLocalCacheMaxBytes: " 1048576 "}, &LocalCacheOptions{MaxBytes: 1 << 20}},
		{map[string]string{EnvLocalCacheMaxStaleness: "250ms"}, &LocalCacheOptions{MaxStaleness: 250 * time.Millisecond}},
		{map[string]string{EnvLocalCacheMaxStaleness: "2"}, &LocalCacheOptions{MaxStaleness: 2 * time.Second}},
	} {
		o, err := optionsFromLookup(lookupOf(tc.env))
		require.NoError(t, err, "%v", tc.env)
		assert.Equal(t, tc.want, o.LocalCache, "%v", tc.env)
	}
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{EnvLocalCache: "sometimes"}, EnvLocalCache},
		{map[string]string{EnvLocalCacheMaxEntries: "0"}, EnvLocalCacheMaxEntries},
		{map[string]string{EnvLocalCacheMaxEntries: "-5"}, EnvLocalCacheMaxEntries},
		{map[string]string{EnvLocalCacheMaxEntries: "1e4"}, EnvLocalCacheMaxEntries},
		{map[string]string{EnvLocalCacheMaxBytes: "64MiB"}, EnvLocalCacheMaxBytes},
		{map[string]string{EnvLocalCacheMaxBytes: "99999999999999999999"}, EnvLocalCacheMaxBytes},
		{map[string]string{EnvLocalCacheMaxStaleness: "10us"}, EnvLocalCacheMaxStaleness},
		{map[string]string{EnvLocalCacheMaxStaleness: "-1s"}, EnvLocalCacheMaxStaleness},
		{map[string]string{EnvLocalCacheMaxStaleness: "soon"}, EnvLocalCacheMaxStaleness},
		{map[string]string{EnvLocalCache: "false", EnvLocalCacheMaxEntries: "500"}, EnvLocalCacheMaxEntries},
	} {
		_, err := optionsFromLookup(lookupOf(tc.env))
		require.ErrorIs(t, err, ErrInvalidOptions, "%v", tc.env)
		assert.Contains(t, err.Error(), tc.name)
	}
}

// GetClient builds its client from the environment, near cache included.
func TestGetClientLocalCacheFromEnv(t *testing.T) {
	mr := miniredis.RunT(t)
	testkit.SetLibraryEnv(t, EnvAddr, mr.Addr(), EnvLocalCacheMaxEntries, "123")
	SetDefault(nil)
	t.Cleanup(func() { SetDefault(nil) })
	c, err := Default()
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NotNil(t, c.shared.local, "near cache off")
	assert.Equal(t, 123, c.shared.local.opts.MaxEntries)
	assert.Equal(t, DefaultLocalCacheMaxStaleness, c.shared.local.opts.MaxStaleness)
}
