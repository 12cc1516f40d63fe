// Command quickstart shows the basics of redisclient: a struct stored and
// read back, a child namespace, and what a miss looks like.
//
// It uses REDIS_URL (and the library's other environment variables) when
// set; otherwise it starts an embedded miniredis so it runs anywhere:
//
//	go run ./examples/quickstart
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/examples/internal/demo"
)

// Quote is what a market-data service caches.
type Quote struct {
	Symbol string  `json:"symbol"`
	Bid    float64 `json:"bid"`
	Ask    float64 `json:"ask"`
}

func main() { demo.Main("quickstart", run) }

// run is the example; it writes what it does to w.
func run(ctx context.Context, w io.Writer) error {
	client, done, err := demo.Connect(w)
	if err != nil {
		return err
	}
	defer done()

	// A struct, stored with msgpack for one minute.
	if err := client.Set(ctx, "quote:AAPL", Quote{"AAPL", 187.20, 187.25}, time.Minute); err != nil {
		return err
	}
	defer client.Delete(context.WithoutCancel(ctx), "quote:AAPL")
	var q Quote
	if err := client.Get(ctx, "quote:AAPL", &q); err != nil {
		return err
	}
	fmt.Fprintf(w, "read back %s bid=%.2f ask=%.2f from key %s\n", q.Symbol, q.Bid, q.Ask, client.Key("quote:AAPL"))

	// A child namespace shares the pool and carries its own default TTL.
	orders := client.Namespace("orders").WithDefaultTTL(30 * time.Second)
	if err := orders.Set(ctx, "42", "pending", 0); err != nil {
		return err
	}
	defer orders.Delete(context.WithoutCancel(ctx), "42")
	ttl, err := orders.TTL(ctx, "42")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "order 42 lives at %s for %s\n", orders.Key("42"), ttl.Round(time.Second))

	// A miss is ErrNotFound, and the error names the key.
	err = client.Get(ctx, "quote:MSFT", &q)
	if !errors.Is(err, redisclient.ErrNotFound) {
		return fmt.Errorf("want a miss, got %v", err)
	}
	fmt.Fprintln(w, "miss:", err)
	return nil
}
