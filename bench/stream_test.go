package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
	"github.com/vmihailenco/msgpack/v5"
)

// StreamOrder is the message of the stream benchmarks: an order event whose
// MessagePack encoding is exactly 200 bytes (checked by TestStreamOrderSize).
type StreamOrder struct {
	ID       string  `json:"id" msgpack:"id"`
	Symbol   string  `json:"symbol" msgpack:"symbol"`
	Side     string  `json:"side" msgpack:"side"`
	Qty      float64 `json:"qty" msgpack:"qty"`
	Price    float64 `json:"price" msgpack:"price"`
	Account  string  `json:"account" msgpack:"account"`
	Strategy string  `json:"strategy" msgpack:"strategy"`
	Note     string  `json:"note" msgpack:"note"`
	Seq      int64   `json:"seq" msgpack:"seq"`
}

func sampleOrder(seq int64) StreamOrder {
	return StreamOrder{
		ID:       "0b7e5a4c-6f0e-4d63-9a55-2f1c8e0d7b31",
		Symbol:   "BTC-USD",
		Side:     "buy",
		Qty:      0.25,
		Price:    97312.5,
		Account:  "acct-00042-primary",
		Strategy: "momentum-lstm-v3",
		Note:     strings.Repeat("n", 33),
		Seq:      seq | 1<<40, // always an 8-byte integer, so every order has one size
	}
}

// streamMaxLen is the trimming both implementations send with XADD: the
// library's default.
const streamMaxLen = redisclient.DefaultStreamMaxLen

// streamKey returns a fresh stream name: lib is relative to the library's
// "trading" namespace, raw the same full key shape for go-redis.
func streamKey(c *clients, what string, seq int64) (lib, raw string) {
	lib = "bench:" + c.nonce + ":stream:" + what + ":" + strconv.FormatInt(seq, 10)
	return lib, "trading:" + lib
}

var streamSeq atomic.Int64

// BenchmarkStreamAdd appends a 200-byte order to a stream (XADD with MAXLEN
// ~ 1000000), from 1, 8 and 64 goroutines.
//
//	goredis   XAdd of hand-written msgpack
//	lib       Stream.Add
func BenchmarkStreamAdd(b *testing.B) {
	c := connect(b)
	libName, rawKey := streamKey(c, "add", streamSeq.Add(1))
	libKey := "trading:" + libName
	b.Cleanup(func() { c.rdb.Del(context.Background(), rawKey, libKey) })
	stream := c.lib.Stream(libName)
	var seq atomic.Int64
	runImpls(b, []impl{
		{"goredis", func(ctx context.Context) error {
			v, err := msgpack.Marshal(sampleOrder(seq.Add(1)))
			if err != nil {
				return err
			}
			return c.rdb.XAdd(ctx, &redis.XAddArgs{
				Stream: rawKey, MaxLen: streamMaxLen, Approx: true,
				Values: []any{"data", v},
			}).Err()
		}},
		{"lib", func(ctx context.Context) error {
			_, err := stream.Add(ctx, sampleOrder(seq.Add(1)))
			return err
		}},
	})
}

// BenchmarkStreamConsume reads, decodes and acknowledges b.N orders that
// were added beforehand, with one consumer of a fresh group, BatchSize
// orders per read. ns/op is the time per message until every one is
// acknowledged; msgs/s its inverse.
//
//	goredis   a loop of XREADGROUP COUNT batch, msgpack.Unmarshal of each
//	          order, one XACK of the batch's IDs
//	lib       Stream.Consume with BatchSize batch, Concurrency 1, a handler
//	          calling StreamMessage.Decode
func BenchmarkStreamConsume(b *testing.B) {
	c := connect(b)
	for _, batch := range []int{10, 100} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			b.Run("impl=goredis", func(b *testing.B) {
				runConsume(b, c, batch, consumeGoRedis)
			})
			b.Run("impl=lib", func(b *testing.B) {
				runConsume(b, c, batch, consumeLib)
			})
		})
	}
}

// consumeFunc consumes n orders of the stream (raw key, library name) with
// group and returns once all are acknowledged, with a function that stops
// what it left running (called after the timer stopped).
type consumeFunc func(c *clients, lib, raw, group string, batch, n int) (stop func(), err error)

func runConsume(b *testing.B, c *clients, batch int, consume consumeFunc) {
	ctx := context.Background()
	lib, raw := streamKey(c, "consume", streamSeq.Add(1))
	defer c.rdb.Del(ctx, raw)
	// Fill the stream, untimed, in pipelines of 1000 XADDs.
	for i := 0; i < b.N; {
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := 0; j < 1000 && i < b.N; j, i = j+1, i+1 {
				v, err := msgpack.Marshal(sampleOrder(int64(i)))
				if err != nil {
					return err
				}
				p.XAdd(ctx, &redis.XAddArgs{Stream: raw, MaxLen: streamMaxLen, Approx: true, Values: []any{"data", v}})
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	const group = "bench"
	if err := c.rdb.XGroupCreate(ctx, raw, group, "0").Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	stopCPU := cpuPerOp(b)
	start := time.Now()
	stop, err := consume(c, lib, raw, group, batch, b.N)
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stopCPU()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if p, err := c.rdb.XPending(ctx, raw, group).Result(); err != nil || p.Count != 0 {
		b.Fatalf("after the run: %d pending, %v", p.Count, err)
	}
}

func checkOrder(o *StreamOrder) error {
	if o.Symbol != "BTC-USD" || o.Price != 97312.5 {
		return fmt.Errorf("decoded a wrong order: %+v", o)
	}
	return nil
}

func consumeGoRedis(c *clients, _, raw, group string, batch, n int) (func(), error) {
	ctx := context.Background()
	ids := make([]string, 0, batch)
	for done := 0; done < n; {
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: "w", Streams: []string{raw, ">"},
			Count: int64(batch), Block: time.Second,
		}).Result()
		if err != nil {
			return nil, err
		}
		ids = ids[:0]
		for _, m := range res[0].Messages {
			var o StreamOrder
			if err := msgpack.Unmarshal([]byte(m.Values["data"].(string)), &o); err != nil {
				return nil, err
			}
			if err := checkOrder(&o); err != nil {
				return nil, err
			}
			ids = append(ids, m.ID)
		}
		if err := c.rdb.XAck(ctx, raw, group, ids...).Err(); err != nil {
			return nil, err
		}
		done += len(ids)
	}
	return func() {}, nil
}

func consumeLib(c *clients, lib, _, group string, batch, n int) (func(), error) {
	var failed atomic.Value
	cs, err := c.lib.Stream(lib).Consume(context.Background(), group, "w", func(_ context.Context, m redisclient.StreamMessage) error {
		var o StreamOrder
		if err := m.Decode(&o); err != nil {
			failed.Store(err)
			return err
		}
		return checkOrder(&o)
	}, redisclient.ConsumeOptions{BatchSize: batch, MaxDeliveries: -1})
	if err != nil {
		return nil, err
	}
	stop := func() { _ = cs.Close() }
	deadline := time.Now().Add(time.Minute)
	for cs.Stats().Acked < uint64(n) {
		if err, _ := failed.Load().(error); err != nil {
			stop()
			return nil, err
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("acked %d of %d orders within a minute: %+v", cs.Stats().Acked, n, cs.Stats())
		}
		time.Sleep(50 * time.Microsecond)
	}
	return stop, nil
}

func TestStreamOrderSize(t *testing.T) {
	for _, seq := range []int64{0, 1, 1 << 20, 1<<40 - 1} {
		v, err := msgpack.Marshal(sampleOrder(seq))
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 200 {
			t.Fatalf("order %d encodes to %d bytes, want 200", seq, len(v))
		}
	}
}
