package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/testkit"
	"github.com/vmihailenco/msgpack/v5"
)

// nearClients are the client-side caches compared by the NearCache
// benchmarks: the library's near cache, rueidis DoCache (RESP3 tracking,
// bytes cached, auto-pipelining) and go-redis's client-side cache (RESP3).
type nearClients struct {
	lib    *redisclient.Client
	rue    rueidis.Client
	csc    *redis.Client
	writer *redis.Client // the "other client" of the invalidation benchmark
	nonce  string
}

var (
	nearOnce sync.Once
	nearC    *nearClients
	nearErr  error
)

func connectNear(b *testing.B) *nearClients {
	b.Helper()
	url := testkit.RequireEnv(b, testkit.EnvURL)
	nearOnce.Do(func() { nearC, nearErr = newNearClients(url) })
	if nearErr != nil {
		b.Fatalf("connect to %s: %v", url, nearErr)
	}
	return nearC
}

func newNearClients(url string) (*nearClients, error) {
	lib, err := redisclient.New(redisclient.Options{URL: url, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		LocalCache: &redisclient.LocalCacheOptions{MaxEntries: 100_000, MaxStaleness: time.Minute}})
	if err != nil {
		return nil, err
	}
	ro, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	rue, err := rueidis.NewClient(ro)
	if err != nil {
		return nil, err
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	o.Protocol = 3
	o.ClientSideCacheConfig = &redis.ClientSideCacheConfig{MaxEntries: 100_000}
	csc := redis.NewClient(o)
	w, _ := redis.ParseURL(url)
	writer := redis.NewClient(w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for lib.Health(ctx).LocalCache == nil || !lib.Health(ctx).LocalCache.Tracking {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("near cache tracking never became live")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &nearClients{lib: lib, rue: rue, csc: csc, writer: writer, nonce: strconv.FormatInt(time.Now().UnixNano(), 36)}, nil
}

// runHot runs op sequentially or on 8 goroutines, each with state of its
// own made by mk (so a destination variable is not an allocation per call).
func runHot(b *testing.B, goroutines int, mk func() func(context.Context) error) {
	ctx := context.Background()
	op := mk()
	for range 3 { // fill the caches
		if err := op(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if goroutines == 0 {
		for range b.N {
			if err := op(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		op := mk()
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkNearCache is a hot read served by each client-side cache: a
// 200-byte string, and the Prediction struct (decoded: rueidis caches the
// bytes, so it pays msgpack.Unmarshal on every read).
func BenchmarkNearCache(b *testing.B) {
	c := connectNear(b)
	ctx := context.Background()
	strKey := "bench:" + c.nonce + ":near:str"
	full := "trading:" + strKey
	if err := c.writer.Set(ctx, full, value200, time.Hour).Err(); err != nil {
		b.Fatal(err)
	}
	pred := samplePrediction(1)
	hash := "h" + c.nonce
	if err := c.lib.CacheModelPrediction(ctx, "near", hash, pred, time.Hour); err != nil {
		b.Fatal(err)
	}
	predKey := "trading:model:near:" + hash
	reads := []struct {
		read  string
		impls []struct {
			name string
			mk   func() func(context.Context) error
		}
	}{
		{"string", []struct {
			name string
			mk   func() func(context.Context) error
		}{
			{"lib", func() func(context.Context) error {
				var s string
				return func(ctx context.Context) error {
					if err := c.lib.Get(ctx, strKey, &s); err != nil {
						return err
					}
					return checkString(s)
				}
			}},
			{"rueidis", func() func(context.Context) error {
				return func(ctx context.Context) error {
					s, err := c.rue.DoCache(ctx, c.rue.B().Get().Key(full).Cache(), time.Minute).ToString()
					if err != nil {
						return err
					}
					return checkString(s)
				}
			}},
			{"goredis-csc", func() func(context.Context) error {
				return func(ctx context.Context) error {
					s, err := c.csc.Get(ctx, full).Result()
					if err != nil {
						return err
					}
					return checkString(s)
				}
			}},
		}},
		{"prediction", []struct {
			name string
			mk   func() func(context.Context) error
		}{
			{"lib", func() func(context.Context) error {
				var p Prediction
				return func(ctx context.Context) error {
					return c.lib.GetCachedModelPrediction(ctx, "near", hash, &p)
				}
			}},
			{"rueidis", func() func(context.Context) error {
				var p Prediction
				return func(ctx context.Context) error {
					raw, err := c.rue.DoCache(ctx, c.rue.B().Get().Key(predKey).Cache(), time.Minute).AsBytes()
					if err != nil {
						return err
					}
					return msgpack.Unmarshal(raw, &p)
				}
			}},
		}},
	}
	for _, r := range reads {
		for _, cc := range []struct {
			name string
			g    int
		}{{"seq", 0}, {"p8", 8}} {
			for _, im := range r.impls {
				b.Run("read="+r.read+"/conc="+cc.name+"/impl="+im.name, func(b *testing.B) { runHot(b, cc.g, im.mk) })
			}
		}
	}
}

// BenchmarkNearCacheInvalidation times, per iteration, another client's SET
// returning to the cache serving the new value, and reports the p50, p90,
// p99 and largest of those delays in ms (run with -benchtime 200x for 200
// trials).
func BenchmarkNearCacheInvalidation(b *testing.B) {
	c := connectNear(b)
	key := "bench:" + c.nonce + ":near:inv"
	full := "trading:" + key
	// The destination is reused, as in BenchmarkNearCache: a fresh one per
	// read would be an allocation per read of the spinning loop, and the
	// garbage collector's work would then take a processor from the
	// tracking goroutine.
	var dest string
	impls := []struct {
		name string
		read func(ctx context.Context) (string, error)
	}{
		{"lib", func(ctx context.Context) (string, error) {
			err := c.lib.Get(ctx, key, &dest)
			return dest, err
		}},
		{"rueidis", func(ctx context.Context) (string, error) {
			return c.rue.DoCache(ctx, c.rue.B().Get().Key(full).Cache(), time.Minute).ToString()
		}},
		{"goredis-csc", func(ctx context.Context) (string, error) { return c.csc.Get(ctx, full).Result() }},
	}
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			ctx := context.Background()
			delays := make([]time.Duration, 0, b.N)
			for i := range b.N {
				old, next := "v"+strconv.Itoa(2*i), "v"+strconv.Itoa(2*i+1)
				if err := c.writer.Set(ctx, full, old, time.Hour).Err(); err != nil {
					b.Fatal(err)
				}
				// Wait until the old value is served (and so cached).
				for deadline := time.Now().Add(10 * time.Second); ; {
					if s, err := im.read(ctx); err == nil && s == old {
						if s, err = im.read(ctx); err == nil && s == old {
							break
						}
					}
					if time.Now().After(deadline) {
						b.Fatalf("%s never served %s", im.name, old)
					}
				}
				if err := c.writer.Set(ctx, full, next, time.Hour).Err(); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for {
					s, err := im.read(ctx)
					if err == nil && s == next {
						break
					}
					if time.Since(start) > 10*time.Second {
						b.Fatalf("%s still serves a stale value after 10s", im.name)
					}
				}
				delays = append(delays, time.Since(start))
			}
			slices.Sort(delays)
			at := func(q float64) float64 {
				return float64(delays[min(len(delays)-1, int(q*float64(len(delays))))].Microseconds()) / 1000
			}
			b.ReportMetric(at(0.50), "p50-ms")
			b.ReportMetric(at(0.90), "p90-ms")
			b.ReportMetric(at(0.99), "p99-ms")
			b.ReportMetric(at(1), "max-ms")
		})
	}
}
