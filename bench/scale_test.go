package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
)

// The Scale benchmarks measure how cost grows with the size of the work,
// each at sizes a decade or two apart, against the hand-written go-redis (or
// stdlib) equivalent. cmd/scale reads their output and prints each curve
// with its growth exponent (the slope of log time against log size: 1 is
// linear). Sub-benchmark names are size=N/impl=I.

// flushSizes are the namespace sizes of ScaleFlush.
var flushSizes = []int{1_000, 10_000, 100_000, 1_000_000}

// BenchmarkScaleFlush removes every key of a namespace of N small keys
// (written untimed before each op):
//
//	handloop  SCAN MATCH prefix* COUNT 1000 and one UNLINK of each page (the base)
//	lib       Client.FlushNamespace
//
// ping-p99-µs is the 99th percentile of PINGs sent every millisecond on
// another connection during the flush: how much the flush blocks the server.
func BenchmarkScaleFlush(b *testing.B) {
	c := connect(b)
	ctx := context.Background()
	for _, n := range flushSizes {
		b.Run("size="+strconv.Itoa(n), func(b *testing.B) {
			view := c.lib.Namespace("scaleflush", c.nonce)
			prefix := view.Key("")
			impls := []struct {
				name  string
				flush func() (int64, error)
			}{
				{"handloop", func() (int64, error) { return handFlush(ctx, c.rdb, prefix+"*") }},
				{"lib", func() (int64, error) { return view.FlushNamespace(ctx) }},
			}
			for _, im := range impls {
				b.Run("impl="+im.name, func(b *testing.B) {
					b.ReportAllocs()
					var lat []time.Duration
					for range b.N {
						b.StopTimer()
						if err := populate(ctx, c.rdb, prefix, n); err != nil {
							b.Fatal(err)
						}
						stop := pingDuring(ctx, c.gcRDB, &lat)
						b.StartTimer()
						removed, err := im.flush()
						b.StopTimer()
						stop()
						if err != nil {
							b.Fatal(err)
						}
						if removed != int64(n) {
							b.Fatalf("removed %d keys, want %d", removed, n)
						}
						b.StartTimer()
					}
					b.ReportMetric(float64(n), "keys")
					if len(lat) > 0 {
						slices.Sort(lat)
						b.ReportMetric(micros(lat[len(lat)*99/100]), "ping-p99-µs")
					}
				})
			}
		})
	}
}

// handFlush is the loop a careful user writes by hand.
func handFlush(ctx context.Context, rdb *redis.Client, pattern string) (int64, error) {
	var cursor uint64
	var removed int64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return removed, err
		}
		if len(keys) > 0 {
			n, err := rdb.Unlink(ctx, keys...).Result()
			removed += n
			if err != nil {
				return removed, err
			}
		}
		if cursor = next; cursor == 0 {
			return removed, nil
		}
	}
}

// populate writes n small keys under prefix, 10 000 per pipeline.
func populate(ctx context.Context, rdb *redis.Client, prefix string, n int) error {
	const chunk = 10_000
	for start := 0; start < n; start += chunk {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+chunk, n); i++ {
				p.Set(ctx, prefix+strconv.Itoa(i), "v", 0)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// pingDuring sends a PING every millisecond until the returned stop is
// called, appending each round trip's time to lat.
func pingDuring(ctx context.Context, rdb *redis.Client, lat *[]time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			start := time.Now()
			if rdb.Ping(ctx).Err() == nil {
				*lat = append(*lat, time.Since(start))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// mgetSizes are the batch sizes of ScaleMGet.
var mgetSizes = []int{10, 100, 1_000, 10_000, 100_000}

// BenchmarkScaleMGet reads N 64-byte strings into a map by key:
//
//	goredis  MGET of the full keys, the map built from the reply (the base)
//	lib      redisclient.MGet[string]
func BenchmarkScaleMGet(b *testing.B) {
	c := connect(b)
	ctx := context.Background()
	view := c.lib.Namespace("scalemget", c.nonce)
	maxN := mgetSizes[len(mgetSizes)-1]
	names := make([]string, maxN)
	values := make(map[string]any, maxN)
	value := string(make([]byte, 64))
	for i := range names {
		names[i] = "k" + strconv.Itoa(i)
		values[names[i]] = value
	}
	if err := view.MSet(ctx, values, ttl); err != nil {
		b.Fatal(err)
	}
	prefix := view.Key("")
	for _, n := range mgetSizes {
		keys := names[:n]
		b.Run("size="+strconv.Itoa(n), func(b *testing.B) {
			impls := []impl{
				{"goredis", func(ctx context.Context) error {
					full := make([]string, len(keys))
					for i, k := range keys {
						full[i] = prefix + k
					}
					vals, err := c.rdb.MGet(ctx, full...).Result()
					if err != nil {
						return err
					}
					out := make(map[string]string, len(vals))
					for i, v := range vals {
						if s, ok := v.(string); ok {
							out[keys[i]] = s
						}
					}
					return checkLen(len(out), n)
				}},
				{"lib", func(ctx context.Context) error {
					out, err := redisclient.MGet[string](ctx, view, keys...)
					if err != nil {
						return err
					}
					return checkLen(len(out), n)
				}},
			}
			for _, im := range impls {
				b.Run("impl="+im.name, func(b *testing.B) { run(b, 0, im.op) })
			}
		})
	}
}

func checkLen(got, want int) error {
	if got != want {
		return fmt.Errorf("read %d values, want %d", got, want)
	}
	return nil
}

// hashSizes are the vector lengths of ScaleHashInput.
var hashSizes = []int{10, 1_000, 100_000, 1_000_000}

// BenchmarkScaleHashInput hashes a []float64 of N elements:
//
//	jsonsha256  json.Marshal + sha256 + hex (the base)
//	python      Client.HashInput with HashMode HashPythonMD5
func BenchmarkScaleHashInput(b *testing.B) {
	py, err := redisclient.New(redisclient.Options{Addr: "127.0.0.1:1", HashMode: redisclient.HashPythonMD5})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = py.Close() })
	for _, n := range hashSizes {
		vec := make([]float64, n)
		for i := range vec {
			vec[i] = float64(i)*1.0001 + 0.5
		}
		b.Run("size="+strconv.Itoa(n), func(b *testing.B) {
			b.Run("impl=jsonsha256", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					data, err := json.Marshal(vec)
					if err != nil {
						b.Fatal(err)
					}
					sum := sha256.Sum256(data)
					_ = hex.EncodeToString(sum[:])
				}
			})
			b.Run("impl=python", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if _, err := py.HashInput(vec); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// subscribeSizes are the subscription counts of ScaleSubscribe.
var subscribeSizes = []int{10, 100, 1_000, 2_000}

// BenchmarkScaleSubscribe makes N subscriptions, one channel and one
// handler each, the way a service that follows many instruments does, and
// closes them (untimed):
//
//	goredis  one go-redis PubSub per subscription, confirmed, with a goroutine
//	         reading it (the base: the connection per subscription the library
//	         used to hold)
//	lib      Client.Subscribe
//
// Besides the time to subscribe, it reports what the N subscriptions hold
// while open: conns, the server's pub/sub connections (CLIENT LIST TYPE
// pubsub); goroutines, the goroutines they added; heap-B/sub and
// stack-B/sub, the live heap and the goroutine stacks they added, per
// subscription.
func BenchmarkScaleSubscribe(b *testing.B) {
	c := connect(b)
	ctx := context.Background()
	impls := []struct {
		name      string
		subscribe func(channel string) (stop func(), err error)
	}{
		{"goredis", func(channel string) (func(), error) {
			ps := c.rdb.Subscribe(ctx, channel)
			if _, err := ps.Receive(ctx); err != nil { // the confirmation
				ps.Close()
				return nil, err
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					if _, err := ps.ReceiveMessage(ctx); err != nil {
						return
					}
				}
			})
			return func() { ps.Close(); wg.Wait() }, nil
		}},
		{"lib", func(channel string) (func(), error) {
			s, err := c.lib.Subscribe(ctx, func(context.Context, redisclient.Message) error { return nil }, channel)
			if err != nil {
				return nil, err
			}
			return func() { _ = s.Close() }, nil
		}},
	}
	var round int
	for _, n := range subscribeSizes {
		b.Run("size="+strconv.Itoa(n), func(b *testing.B) {
			for _, im := range impls {
				b.Run("impl="+im.name, func(b *testing.B) {
					b.ReportAllocs()
					var conns, goroutines, heap, stack float64
					for range b.N {
						b.StopTimer()
						round++
						var before, after runtime.MemStats
						runtime.GC()
						runtime.ReadMemStats(&before)
						g0 := runtime.NumGoroutine()
						c0, err := settledPubsubConns(ctx, c.gcRDB)
						if err != nil {
							b.Fatal(err)
						}
						stops := make([]func(), 0, n)
						b.StartTimer()
						for i := range n {
							stop, err := im.subscribe(fmt.Sprintf("scale:%s:%d:%d", c.nonce, round, i))
							if err != nil {
								b.Fatal(err)
							}
							stops = append(stops, stop)
						}
						b.StopTimer()
						runtime.GC()
						runtime.ReadMemStats(&after)
						c1, err := pubsubConns(ctx, c.gcRDB)
						if err != nil {
							b.Fatal(err)
						}
						conns += float64(c1 - c0)
						goroutines += float64(runtime.NumGoroutine() - g0)
						heap += (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
						stack += (float64(after.StackInuse) - float64(before.StackInuse)) / float64(n)
						for _, stop := range stops {
							stop()
						}
						b.StartTimer()
					}
					b.ReportMetric(conns/float64(b.N), "conns")
					b.ReportMetric(goroutines/float64(b.N), "goroutines")
					b.ReportMetric(heap/float64(b.N), "heap-B/sub")
					b.ReportMetric(stack/float64(b.N), "stack-B/sub")
				})
			}
		})
	}
}

// settledPubsubConns counts the server's pub/sub connections once those the
// previous round closed are gone (the server drops them a moment after the
// client closed them), or after a second.
func settledPubsubConns(ctx context.Context, rdb *redis.Client) (int, error) {
	deadline := time.Now().Add(time.Second)
	for {
		n, err := pubsubConns(ctx, rdb)
		if err != nil || n == 0 || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pubsubConns counts the server's pub/sub connections.
func pubsubConns(ctx context.Context, rdb *redis.Client) (int, error) {
	out, err := rdb.Do(ctx, "client", "list", "type", "pubsub").Text()
	if err != nil {
		return 0, err
	}
	return strings.Count(out, "\n"), nil
}
