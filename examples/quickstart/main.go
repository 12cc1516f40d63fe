// Command quickstart shows the basics of redisclient: a struct stored and
// read back, a child namespace, and what a miss looks like.
//
// It uses REDIS_URL when set; otherwise it starts an embedded miniredis so it
// runs anywhere:
//
//	go run ./examples/quickstart
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/systemtrader/redisclient"
)

// Quote is what a market-data service caches.
type Quote struct {
	Symbol string  `json:"symbol"`
	Bid    float64 `json:"bid"`
	Ask    float64 `json:"ask"`
}

func main() {
	if os.Getenv("REDIS_URL") == "" {
		mr, err := miniredis.Run()
		if err != nil {
			log.Fatal(err)
		}
		defer mr.Close()
		os.Setenv("REDIS_URL", "redis://"+mr.Addr()+"/0")
		fmt.Println("REDIS_URL not set: using an embedded miniredis")
	}

	client, err := redisclient.Default()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A struct, stored with msgpack for one minute.
	if err := client.Set(ctx, "quote:AAPL", Quote{"AAPL", 187.20, 187.25}, time.Minute); err != nil {
		log.Fatal(err)
	}
	var q Quote
	if err := client.Get(ctx, "quote:AAPL", &q); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("read back %s bid=%.2f ask=%.2f from key %s\n", q.Symbol, q.Bid, q.Ask, client.Key("quote:AAPL"))

	// A child namespace shares the pool and carries its own default TTL.
	orders := client.Namespace("orders").WithDefaultTTL(30 * time.Second)
	if err := orders.Set(ctx, "42", "pending", 0); err != nil {
		log.Fatal(err)
	}
	ttl, err := orders.TTL(ctx, "42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("order 42 lives at %s for %s\n", orders.Key("42"), ttl.Round(time.Second))

	// A miss is ErrNotFound, and the error names the key.
	err = client.Get(ctx, "quote:MSFT", &q)
	if errors.Is(err, redisclient.ErrNotFound) {
		fmt.Println("miss:", err)
	}
}
