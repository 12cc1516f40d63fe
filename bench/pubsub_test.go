package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemtrader/redisclient"
	"github.com/vmihailenco/msgpack/v5"
)

// Tick is the message published: a market-data tick that carries its send
// time so the handler can measure publish-to-handler latency.
type Tick struct {
	Seq    int64   `json:"seq" msgpack:"seq"`
	Sent   int64   `json:"sent" msgpack:"sent"` // ns since clock0
	Symbol string  `json:"symbol" msgpack:"symbol"`
	Price  float64 `json:"price" msgpack:"price"`
	Size   float64 `json:"size" msgpack:"size"`
}

// clock0 is the origin of Tick.Sent; time.Since uses the monotonic clock.
var clock0 = time.Now()

// subscriber is one implementation of the receiving side: subscribe starts
// delivering every message of channel to handle and returns a function that
// stops it.
type subscriber struct {
	name      string
	publish   func(ctx context.Context, channel string, t *Tick) error
	subscribe func(ctx context.Context, channel string, handle func(*Tick)) (stop func(), err error)
}

// BenchmarkPubSub publishes b.N ticks from pub goroutines to one subscriber
// that decodes each one, and times until the handler has seen them all.
// ns/op is the time per message end to end; msgs/s its inverse; p50-µs and
// p99-µs the publish-to-handler latency.
//
//	goredis   go-redis Publish of hand-written msgpack; a PubSub.ReceiveMessage loop
//	lib       redisclient Publish; Subscribe with a handler that calls Message.Decode
func BenchmarkPubSub(b *testing.B) {
	c := connect(b)
	var chanSeq atomic.Int64
	subs := pubsubImpls(c)
	for _, pubs := range []int{1, 8} {
		b.Run("pub="+strconv.Itoa(pubs), func(b *testing.B) {
			for _, sub := range subs {
				b.Run("impl="+sub.name, func(b *testing.B) {
					channel := "bench:" + c.nonce + ":" + strconv.FormatInt(chanSeq.Add(1), 10)
					runPubSub(b, sub, channel, pubs, 0)
				})
			}
		})
	}
}

// pubsubImpls are the implementations BenchmarkPubSub and
// BenchmarkPubSubRate compare.
func pubsubImpls(c *clients) []subscriber {
	return []subscriber{
		{
			name: "goredis",
			publish: func(ctx context.Context, channel string, t *Tick) error {
				v, err := msgpack.Marshal(t)
				if err != nil {
					return err
				}
				return c.rdb.Publish(ctx, "trading:"+channel, v).Err()
			},
			subscribe: func(ctx context.Context, channel string, handle func(*Tick)) (func(), error) {
				ps := c.rdb.Subscribe(ctx, "trading:"+channel)
				if _, err := ps.Receive(ctx); err != nil { // the confirmation
					ps.Close()
					return nil, err
				}
				var wg sync.WaitGroup
				wg.Go(func() {
					for {
						m, err := ps.ReceiveMessage(ctx)
						if err != nil {
							return
						}
						var t Tick
						if err := msgpack.Unmarshal([]byte(m.Payload), &t); err != nil {
							panic(err)
						}
						handle(&t)
					}
				})
				return func() { ps.Close(); wg.Wait() }, nil
			},
		},
		{
			name: "lib",
			publish: func(ctx context.Context, channel string, t *Tick) error {
				_, err := c.lib.Publish(ctx, channel, t)
				return err
			},
			subscribe: func(ctx context.Context, channel string, handle func(*Tick)) (func(), error) {
				s, err := c.lib.Subscribe(ctx, func(_ context.Context, m redisclient.Message) error {
					var t Tick
					if err := m.Decode(&t); err != nil {
						return err
					}
					handle(&t)
					return nil
				}, channel)
				if err != nil {
					return nil, err
				}
				return func() { s.Close() }, nil
			},
		},
	}
}

// pubsubRate is BenchmarkPubSubRate's publish rate.
const pubsubRate = 2000

// BenchmarkPubSubRate publishes b.N ticks at a steady 2000 msg/s from one
// goroutine to one subscriber, beside idle other subscriptions of the same
// implementation (each on its own channel), and reports the
// publish-to-handler latency (p50-µs, p99-µs): what sharing one connection
// among many subscriptions does to delivery. The implementations are
// BenchmarkPubSub's.
func BenchmarkPubSubRate(b *testing.B) {
	c := connect(b)
	var chanSeq atomic.Int64
	for _, idle := range []int{0, 1000} {
		b.Run("idle="+strconv.Itoa(idle), func(b *testing.B) {
			for _, sub := range pubsubImpls(c) {
				b.Run("impl="+sub.name, func(b *testing.B) {
					ctx := context.Background()
					for i := range idle {
						stop, err := sub.subscribe(ctx, "idle:"+c.nonce+":"+strconv.Itoa(i), func(*Tick) {})
						if err != nil {
							b.Fatal(err)
						}
						defer stop()
					}
					channel := "bench:" + c.nonce + ":" + strconv.FormatInt(chanSeq.Add(1), 10)
					runPubSub(b, sub, channel, 1, time.Second/pubsubRate)
				})
			}
		})
	}
}

// runPubSub publishes b.N ticks from pubs goroutines to one subscription of
// sub and reports throughput and latency. With every > 0 the ticks go out
// one per every, on schedule (a late one is sent at once).
func runPubSub(b *testing.B, sub subscriber, channel string, pubs int, every time.Duration) {
	ctx := context.Background()
	n := b.N
	lat := make([]time.Duration, n)
	var got atomic.Int64
	done := make(chan struct{})
	stop, err := sub.subscribe(ctx, channel, func(t *Tick) {
		d := time.Since(clock0) - time.Duration(t.Sent)
		i := got.Add(1)
		if i <= int64(n) {
			lat[i-1] = d
		}
		if i == int64(n) {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, pubs)
	b.ReportAllocs()
	b.ResetTimer()
	stopCPU := cpuPerOp(b)
	start := time.Now()
	for range pubs {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if every > 0 {
					if wait := time.Until(start.Add(time.Duration(i-1) * every)); wait > 0 {
						time.Sleep(wait)
					}
				}
				t := Tick{Seq: i, Symbol: "BTC-USD", Price: 97312.5, Size: 0.25, Sent: int64(time.Since(clock0))}
				if err := sub.publish(ctx, channel, &t); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("handler saw %d of %d messages after 30s", got.Load(), n)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stopCPU()
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(micros(lat[n/2]), "p50-µs")
	b.ReportMetric(micros(lat[min(n-1, n*99/100)]), "p99-µs")
	if extra := got.Load() - int64(n); extra != 0 {
		b.Fatal(fmt.Sprintf("handler saw %d messages more than published", extra))
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
