package redisclient

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// Publish-to-handler benchmarks of Subscribe against a plain go-redis
// ReceiveMessage loop, in the same run on the server of REDISCLIENT_TEST_URL.
// Compare with: go test -run '^$' -bench PubSub -benchmem -count 6 | benchstat -col /impl -

// benchPubSubClient returns a client on the integration server (testkit.RequireEnv).
func benchPubSubClient(b *testing.B) *Client {
	b.Helper()
	url := testkit.RequireEnv(b, testkit.EnvURL)
	c, err := New(Options{URL: url, Namespace: uniqueNamespace(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c
}

// subscriber starts receiving on channel and calls onMsg with each payload
// (as the implementation hands it over, not copied); it returns a function
// that stops it.
type subscriber func(b *testing.B, c *Client, channel string, onMsg func(str string, raw []byte)) (stop func())

var benchSubscribers = []struct {
	name string
	sub  subscriber
}{
	{"impl=redisclient", func(b *testing.B, c *Client, channel string, onMsg func(string, []byte)) func() {
		s, err := c.Subscribe(context.Background(), func(_ context.Context, m Message) error {
			onMsg("", m.Payload)
			return nil
		}, channel)
		if err != nil {
			b.Fatal(err)
		}
		return func() { _ = s.Close() }
	}},
	{"impl=go-redis", func(b *testing.B, c *Client, channel string, onMsg func(string, []byte)) func() {
		ctx := context.Background()
		ps := c.Redis().Subscribe(ctx, c.Key(channel))
		if _, err := ps.Receive(ctx); err != nil { // the confirmation
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				m, err := ps.ReceiveMessage(ctx)
				if err != nil {
					return
				}
				onMsg(m.Payload, nil)
			}
		}()
		return func() {
			_ = ps.Close()
			<-done
		}
	}},
}

// BenchmarkPubSubThroughput measures how many messages per second reach the
// handler when a pipelining publisher keeps the subscriber saturated (at
// most `window` messages outstanding, far below Redis's output buffer
// limit). ns/op is per message.
func BenchmarkPubSubThroughput(b *testing.B) {
	const (
		batch  = 100
		window = 20_000
	)
	payload := string(make([]byte, 64))
	for _, bs := range benchSubscribers {
		b.Run(bs.name, func(b *testing.B) {
			c := benchPubSubClient(b)
			var received atomic.Int64
			all := make(chan struct{})
			target := int64(b.N)
			stop := bs.sub(b, c, "bench", func(string, []byte) {
				if received.Add(1) == target {
					close(all)
				}
			})
			defer stop()
			pub := redis.NewClient(&redis.Options{Addr: c.shared.opts.Addr, DB: c.shared.opts.DB})
			defer pub.Close()
			ctx := context.Background()
			full := c.Key("bench")

			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for sent := 0; sent < b.N; {
				for int64(sent)-received.Load() > window {
					time.Sleep(20 * time.Microsecond)
				}
				n := min(batch, b.N-sent)
				_, err := pub.Pipelined(ctx, func(p redis.Pipeliner) error {
					for range n {
						p.Publish(ctx, full, payload)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			select {
			case <-all:
			case <-time.After(time.Minute):
				b.Fatalf("received %d of %d messages", received.Load(), b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkPubSubLatency publishes one message at a time and waits for the
// handler to see it; it reports the publish-to-handler latency percentiles.
// ns/op is one full round.
func BenchmarkPubSubLatency(b *testing.B) {
	for _, bs := range benchSubscribers {
		b.Run(bs.name, func(b *testing.B) {
			c := benchPubSubClient(b)
			lat := make([]time.Duration, 0, b.N)
			got := make(chan time.Duration, 1)
			stop := bs.sub(b, c, "lat", func(str string, raw []byte) {
				if raw != nil {
					str = string(raw)
				}
				sent, _ := strconv.ParseInt(str, 10, 64)
				got <- time.Duration(time.Now().UnixNano() - sent)
			})
			defer stop()
			ctx := context.Background()
			full := c.Key("lat")
			rdb := c.Redis()

			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := rdb.Publish(ctx, full, strconv.FormatInt(time.Now().UnixNano(), 10)).Err(); err != nil {
					b.Fatal(err)
				}
				select {
				case d := <-got:
					lat = append(lat, d)
				case <-time.After(10 * time.Second):
					b.Fatal("message not delivered")
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
			}
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
		})
	}
}
