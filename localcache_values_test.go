package redisclient

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newForcedLiveClient returns a client whose near cache serves although
// miniredis has no CLIENT TRACKING: enough to test what reads hand out
// (this client's own writes still invalidate through its hook).
func newForcedLiveClient(t testing.TB) *Client {
	t.Helper()
	c, _ := newMiniredisClient(t, Options{LocalCache: &LocalCacheOptions{MaxStaleness: time.Hour}})
	c.shared.local.live.Store(true)
	return c
}

// Every read API hands out byte slices the caller owns: writing into the
// result of a read, the one that filled the near cache or one it served,
// never changes what the next read returns. (GetOrSet, MGet and the
// prediction batch reads used to return the cached slice itself.)
func TestLocalCacheByteSlicesAreCopies(t *testing.T) {
	c := newForcedLiveClient(t)
	ctx := testCtx(t)
	const want = "payload"
	require.NoError(t, c.Set(ctx, "b", want, time.Hour))
	require.NoError(t, c.Set(ctx, "raw", json.RawMessage(want), time.Hour)) // a named []byte: msgpack
	require.NoError(t, c.CacheModelPrediction(ctx, "m", "h", want, time.Hour))
	h, err := c.HashInput("in")
	require.NoError(t, err)
	require.NoError(t, c.CacheModelPrediction(ctx, "m", h, want, time.Hour))
	never := func(context.Context) ([]byte, error) { panic("loaded although cached") }

	reads := map[string]func() []byte{
		"Get": func() []byte {
			var b []byte
			require.NoError(t, c.Get(ctx, "b", &b))
			return b
		},
		"GetCachedModelPrediction": func() []byte {
			var b []byte
			require.NoError(t, c.GetCachedModelPrediction(ctx, "m", "h", &b))
			return b
		},
		"GetOrSet": func() []byte {
			b, err := GetOrSet(ctx, c, "b", time.Hour, never)
			require.NoError(t, err)
			return b
		},
		"MGet": func() []byte {
			m, err := MGet[[]byte](ctx, c, "b")
			require.NoError(t, err)
			return m["b"]
		},
		"MGet json.RawMessage": func() []byte {
			m, err := MGet[json.RawMessage](ctx, c, "raw")
			require.NoError(t, err)
			return m["raw"]
		},
		"GetModelPredictions": func() []byte {
			m, _, err := GetModelPredictions[[]byte](ctx, c, "m", []string{"h"})
			require.NoError(t, err)
			return m["h"]
		},
		"GetOrComputePrediction": func() []byte {
			b, err := GetOrComputePrediction(ctx, c, "m", "in", time.Hour, never)
			require.NoError(t, err)
			return b
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			c.shared.local.flush()
			hits := c.CacheStats().LocalHits
			for i := range 3 { // fill, then hits
				b := read()
				require.Equal(t, want, string(b), "read %d returned a slice an earlier caller wrote into", i)
				b[0] = 'X'
			}
			assert.Equal(t, hits+2, c.CacheStats().LocalHits, "reads after the first not served locally")
		})
	}
}

// Other values are copies at the top level: a caller may assign to the
// fields of what it got, and replace (not modify) its maps and slices,
// without changing what the next reader gets.
func TestLocalCacheValuesTopLevelCopies(t *testing.T) {
	c := newForcedLiveClient(t)
	ctx := testCtx(t)
	type pred struct {
		Signal float64
		Q      []float64
		M      map[string]float64
	}
	want := pred{Signal: 1, Q: []float64{1, 2}, M: map[string]float64{"a": 1}}
	require.NoError(t, c.Set(ctx, "p", want, time.Hour))
	for i := range 3 {
		var p pred
		require.NoError(t, c.Get(ctx, "p", &p))
		require.Equal(t, want, p, "read %d", i)
		p.Signal, p.Q, p.M = 99, nil, map[string]float64{"b": 2}
		g, err := MGet[pred](ctx, c, "p")
		require.NoError(t, err)
		require.Equal(t, want, g["p"], "read %d", i)
		q := g["p"]
		q.Signal, q.Q = -1, append([]float64(nil), 7)
	}
	assert.Positive(t, c.CacheStats().LocalHits)
}

// Readers of a shared value's maps and slices never race with each other,
// with invalidations or with writes that replace the value: run under
// -race. The cache replaces entries, it never writes into them.
func TestLocalCacheSharedReadersNoRace(t *testing.T) {
	c := newForcedLiveClient(t)
	ctx := testCtx(t)
	type pred struct {
		Q []float64
		M map[string]float64
	}
	require.NoError(t, c.Set(ctx, "p", pred{Q: []float64{1}, M: map[string]float64{"a": 1}}, time.Hour))
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 300 {
				switch {
				case g == 0 && i%10 == 0:
					assert.NoError(t, c.Set(ctx, "p", pred{Q: []float64{float64(i)}, M: map[string]float64{"a": float64(i)}}, time.Hour))
				case g == 1 && i%7 == 0:
					c.shared.local.invalidate(c.Key("p"))
				default:
					var p pred
					if !assert.NoError(t, c.Get(ctx, "p", &p)) {
						return
					}
					sum := p.M["a"]
					for _, q := range p.Q {
						sum += q
					}
					_ = sum
					got, err := MGet[pred](ctx, c, "p")
					if assert.NoError(t, err) {
						_ = got["p"].M["a"] + got["p"].Q[0]
					}
				}
			}
		})
	}
	wg.Wait()
	assert.Positive(t, c.CacheStats().LocalHits)
}

// A goroutine that only hits the near cache yields its processor every few
// hundred hits, so a runnable goroutine (the tracking connection's, with an
// invalidation) runs soon, not after Go's 10 ms preemption. With one
// processor, the goroutine started before the loop can only run when the
// reader yields.
func TestLocalCacheHotReaderYields(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector slows hits so much that 10 ms of them are few")
	}
	c := newForcedLiveClient(t)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", time.Hour))
	var s string
	require.NoError(t, c.Get(ctx, "k", &s))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for round := range 20 {
		var ran atomic.Bool
		go ran.Store(true)
		hits := 0
		for !ran.Load() {
			if err := c.Get(ctx, "k", &s); err != nil {
				t.Fatal(err)
			}
			hits++
		}
		// 16 times the mean gap: a yield-free reader runs ~10 ms of hits.
		require.Less(t, hits, 16*yieldEvery, "round %d: the other goroutine ran only after %d hits", round, hits)
	}
}
