package redisclient

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchPrediction has the shape of bench/'s Prediction struct.
type benchPrediction struct {
	Model      string    `json:"model"`
	Symbol     string    `json:"symbol"`
	Signal     float64   `json:"signal"`
	Confidence float64   `json:"confidence"`
	Horizon    int64     `json:"horizon"`
	Quantiles  []float64 `json:"quantiles"`
}

// newHotClient returns a client whose near cache is forced live on
// miniredis (which has no CLIENT TRACKING), to time the hit path alone; the
// numbers against real servers and the peers are in bench/.
func newHotClient(b *testing.B) *Client {
	c, _ := newMiniredisClient(b, Options{LocalCache: &LocalCacheOptions{MaxStaleness: time.Hour}})
	c.shared.local.live.Store(true)
	return c
}

// BenchmarkLocalCacheHit is a hot read served by the near cache: a 200-byte
// string through Get and a prediction struct through
// GetCachedModelPrediction, sequential and on 8 goroutines.
func BenchmarkLocalCacheHit(b *testing.B) {
	c := newHotClient(b)
	ctx := context.Background()
	value := strings.Repeat("x", 200)
	if err := c.Set(ctx, "quote", value, time.Hour); err != nil {
		b.Fatal(err)
	}
	p := benchPrediction{Model: "lstm-v3", Symbol: "EURUSD", Signal: 0.5, Confidence: 0.9, Horizon: 60, Quantiles: []float64{1, 2, 3}}
	if err := c.CacheModelPrediction(ctx, "near", "h1", p, time.Hour); err != nil {
		b.Fatal(err)
	}
	reads := map[string]func() func() error{
		"string": func() func() error {
			var s string
			return func() error { return c.Get(ctx, "quote", &s) }
		},
		"prediction": func() func() error {
			var got benchPrediction
			return func() error { return c.GetCachedModelPrediction(ctx, "near", "h1", &got) }
		},
	}
	for _, read := range []string{"string", "prediction"} {
		for _, g := range []int{0, 8} {
			name := "read=" + read + "/conc=seq"
			if g > 0 {
				name = "read=" + read + "/conc=p8"
			}
			b.Run(name, func(b *testing.B) {
				op := reads[read]()
				for range 3 {
					if err := op(); err != nil {
						b.Fatal(err)
					}
				}
				hits := c.CacheStats().LocalHits
				b.ReportAllocs()
				b.ResetTimer()
				if g == 0 {
					for range b.N {
						if err := op(); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism((g + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.RunParallel(func(pb *testing.PB) {
						op := reads[read]()
						for pb.Next() {
							if err := op(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.StopTimer()
				if got := c.CacheStats().LocalHits - hits; got < uint64(b.N) {
					b.Fatalf("%d of %d reads served locally", got, b.N)
				}
			})
		}
	}
}

// BenchmarkLocalCacheFill is what a miss adds to its round trip: begin
// before the read and fill after it, sequential and on 8 goroutines.
func BenchmarkLocalCacheFill(b *testing.B) {
	lc := newLocalCache(LocalCacheOptions{MaxEntries: 1000, MaxBytes: 1 << 20, MaxStaleness: time.Hour, PingInterval: time.Second})
	b.Cleanup(lc.close)
	lc.setLive(true)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "ns:k" + strconv.Itoa(i)
	}
	fill := func(i int) {
		k := keys[i%len(keys)]
		lc.fill(k, stringPtr, lc.begin(k), "v", 1)
	}
	b.Run("conc=seq", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			fill(i)
		}
	})
	b.Run("conc=p8", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism((8 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				fill(i)
			}
		})
	})
}
