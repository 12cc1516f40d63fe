package redisclient_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/systemtrader/redisclient"
)

// newExampleClient returns a client on an in-process miniredis, standing in
// for redisclient.GetClient() in these examples.
func newExampleClient() (*redisclient.Client, func()) {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	c, err := redisclient.New(redisclient.Options{Addr: mr.Addr()})
	if err != nil {
		panic(err)
	}
	return c, func() { c.Close(); mr.Close() }
}

type Quote struct {
	Symbol string  `json:"symbol"`
	Bid    float64 `json:"bid"`
	Ask    float64 `json:"ask"`
}

func Example() {
	client, done := newExampleClient() // in a service: client := redisclient.GetClient()
	defer done()
	ctx := context.Background()

	_ = client.Set(ctx, "quote:AAPL", Quote{"AAPL", 187.20, 187.25}, time.Minute)

	var q Quote
	if err := client.Get(ctx, "quote:AAPL", &q); err != nil {
		panic(err)
	}
	fmt.Println(q.Symbol, q.Ask, client.Key("quote:AAPL"))

	err := client.Get(ctx, "quote:MSFT", &q)
	fmt.Println(errors.Is(err, redisclient.ErrNotFound), err)
	// Output:
	// AAPL 187.25 trading:quote:AAPL
	// true redisclient: get trading:quote:MSFT: not found
}

func ExampleClient_Namespace() {
	client, done := newExampleClient()
	defer done()
	ctx := context.Background()

	orders := client.Namespace("orders").WithDefaultTTL(30 * time.Second)
	_ = orders.Set(ctx, "42", "pending", 0) // ttl 0: the view's default
	ttl, _ := orders.TTL(ctx, "42")
	fmt.Println(orders.Key("42"), ttl)
	// Output: trading:orders:42 30s
}

func ExampleGetOrSet() {
	client, done := newExampleClient()
	defer done()
	ctx := context.Background()

	load := func(context.Context) (Quote, error) {
		fmt.Println("loading from the exchange")
		return Quote{"MSFT", 410.1, 410.2}, nil
	}
	for range 2 {
		q, err := redisclient.GetOrSet(ctx, client, "quote:MSFT", time.Minute, load)
		fmt.Println(q.Bid, err)
	}
	fmt.Printf("%+v\n", client.CacheStats())
	// Output:
	// loading from the exchange
	// 410.1 <nil>
	// 410.1 <nil>
	// {Hits:1 Misses:1 Loads:1 LoadErrors:0 RedisErrors:0 LocalHits:0 LocalMisses:0 LocalInvalidations:0 LocalFlushes:0 LocalEvictions:0}
}

func ExampleHashInputSHA256() {
	a, _ := redisclient.HashInputSHA256(map[string]any{"symbol": "AAPL", "window": 20})
	b, _ := redisclient.HashInputSHA256(map[string]any{"window": 20.0, "symbol": "AAPL"})
	fmt.Println(len(a), a == b)
	_, err := redisclient.HashInputSHA256(make(chan int))
	fmt.Println(err)
	// Output:
	// 64 true
	// hash input: unsupported type chan int
}

func ExampleClient_CacheModelPrediction() {
	client, done := newExampleClient()
	defer done()
	ctx := context.Background()

	input := map[string]any{"symbol": "AAPL", "features": []float64{0.1, 0.2}}
	hash, _ := client.HashInput(input)
	_ = client.CacheModelPrediction(ctx, "lstm", hash, 0.87, 5*time.Minute)

	var p float64
	err := client.GetCachedModelPrediction(ctx, "lstm", hash, &p)
	fmt.Println(p, err)

	n, _ := client.InvalidateModel(ctx, "lstm")
	fmt.Println("invalidated", n)
	// Output:
	// 0.87 <nil>
	// invalidated 1
}

func ExampleGetModelPredictions() {
	client, done := newExampleClient()
	defer done()
	ctx := context.Background()

	_ = client.CacheModelPredictions(ctx, "xgb", map[string]any{"h1": 0.1, "h2": 0.2}, time.Minute)
	found, missing, err := redisclient.GetModelPredictions[float64](ctx, client, "xgb", []string{"h1", "h2", "h3"})
	fmt.Println(found["h1"], found["h2"], missing, err)
	// Output: 0.1 0.2 [h3] <nil>
}

type Signal struct {
	Symbol string `json:"symbol"`
	Side   string `json:"side"`
}

func ExampleClient_Subscribe() {
	client, done := newExampleClient()
	defer done()
	ctx := context.Background()

	got := make(chan redisclient.Message, 1)
	sub, err := client.Subscribe(ctx, func(_ context.Context, m redisclient.Message) error {
		got <- m
		return nil
	}, "signals")
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	n, _ := client.Publish(ctx, "signals", Signal{"AAPL", "buy"}) // to trading:signals
	m := <-got
	var s Signal
	_ = m.Decode(&s)
	fmt.Println(n, m.Channel, s.Symbol, s.Side)
	// Output: 1 signals AAPL buy
}

func ExampleGetOrComputePrediction() {
	client, done := newExampleClient()
	defer done()
	ctx := context.Background()

	model := func(context.Context) (float64, error) {
		fmt.Println("running the model")
		return 0.91, nil
	}
	features := map[string]any{"symbol": "AAPL", "rsi": 71.5}
	for range 2 {
		p, err := redisclient.GetOrComputePrediction(ctx, client, "lstm", features, 5*time.Minute, model)
		fmt.Println(p, err)
	}
	// Output:
	// running the model
	// 0.91 <nil>
	// 0.91 <nil>
}

func ExampleStream_Consume() {
	client, done := newExampleClient()
	defer done()
	ctx := context.Background()

	orders := client.Stream("orders") // trading:orders
	id, _ := orders.Add(ctx, Signal{"AAPL", "buy"})

	got := make(chan Signal, 1)
	consumer, err := orders.Consume(ctx, "executor", "worker-1", func(ctx context.Context, m redisclient.StreamMessage) error {
		var s Signal
		if err := m.Decode(&s); err != nil {
			return err // retried with backoff, then moved to trading:orders:dead
		}
		got <- s
		return nil // acknowledged
	}, redisclient.ConsumeOptions{MinIdle: time.Minute, MaxDeliveries: 5})
	if err != nil {
		panic(err)
	}
	s := <-got
	fmt.Println(s.Symbol, s.Side, id != "")

	_ = consumer.Close() // acknowledges what finished, leaves the rest pending
	st := consumer.Stats()
	fmt.Println(st.Delivered, st.Acked, st.Pending)
	// Output:
	// AAPL buy true
	// 1 1 0
}

// The near cache keeps decoded values in process and needs a server with
// CLIENT TRACKING (Redis 6 or later; not miniredis), so this example is
// compiled but not run. A service that only calls GetClient turns it on
// with REDIS_LOCAL_CACHE=true.
func ExampleLocalCacheOptions() {
	client, err := redisclient.New(redisclient.Options{
		Addr:       "localhost:6379",
		LocalCache: &redisclient.LocalCacheOptions{MaxEntries: 50_000, MaxStaleness: 2 * time.Second},
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ctx := context.Background()

	var q Quote
	for range 1000 {
		// Once tracking is live, the first read goes to Redis and the others
		// are served in process until another client changes the key.
		if err := client.Get(ctx, "quote:AAPL", &q); err != nil {
			panic(err)
		}
	}
	s := client.CacheStats()
	fmt.Println(s.LocalHits, s.LocalMisses, client.Health(ctx).LocalCache.Tracking)
}
