// Command pubsub shows redisclient's pub/sub: a subscriber to the "signals"
// channel and a publisher of typed trading signals, in one program. The
// handler decodes each message into a Signal and prints it; at the end the
// subscription is closed and its counters shown.
//
// It uses REDIS_URL (and the library's other environment variables) when
// set; otherwise it starts an embedded miniredis so it runs anywhere:
//
//	go run ./examples/pubsub
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/pubsub
package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/examples/internal/demo"
)

// Side is the direction of a signal.
type Side string

// Signal sides.
const (
	Buy  Side = "BUY"
	Sell Side = "SELL"
)

// Signal is what a strategy publishes and an execution service consumes.
// It travels msgpack-encoded, like cached values.
type Signal struct {
	Symbol string  `json:"symbol"`
	Side   Side    `json:"side"`
	Qty    int     `json:"qty"`
	Price  float64 `json:"price"`
	Model  string  `json:"model"`
}

var signals = []Signal{
	{"AAPL", Buy, 100, 187.25, "momentum-v1"},
	{"MSFT", Sell, 50, 410.10, "momentum-v1"},
	{"TSLA", Buy, 10, 242.00, "mean-reversion"},
}

func main() { demo.Main("pubsub", run) }

// run is the example; it writes what it does to w.
func run(ctx context.Context, w io.Writer) error {
	// The handler prints from the subscription's goroutine: serialize writes.
	out := &lockedWriter{w: w}
	client, done, err := demo.Connect(out)
	if err != nil {
		return err
	}
	defer done()

	var (
		mu       sync.Mutex
		received int
		all      = make(chan struct{})
	)
	handler := func(ctx context.Context, msg redisclient.Message) error {
		var s Signal
		if err := msg.Decode(&s); err != nil {
			return err // counted in Stats().HandlerErrors and logged
		}
		fmt.Fprintf(out, "received on %s: %s %d %s @ %.2f (%s)\n", msg.Channel, s.Side, s.Qty, s.Symbol, s.Price, s.Model)
		mu.Lock()
		defer mu.Unlock()
		if received++; received == len(signals) {
			close(all)
		}
		return nil
	}
	// Subscribe returns once Redis has confirmed the subscription, so
	// nothing published after it is missed.
	sub, err := client.Subscribe(ctx, handler, "signals")
	if err != nil {
		return err
	}
	defer sub.Close()
	fmt.Fprintf(out, "subscribed to %s\n", client.Key("signals"))

	fmt.Fprintf(out, "publishing %d signals\n", len(signals))
	reached := make([]int64, 0, len(signals))
	for _, s := range signals {
		n, err := client.Publish(ctx, "signals", s)
		if err != nil {
			return err
		}
		reached = append(reached, n)
	}
	select {
	case <-all:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the signals: %w", ctx.Err())
	}
	fmt.Fprintf(out, "published %d signals; subscribers reached by each: %v\n", len(signals), reached)

	// Close waits for running handlers; afterwards the counters are final.
	if err := sub.Close(); err != nil {
		return err
	}
	st := sub.Stats()
	fmt.Fprintf(out, "subscription closed: received %d, delivered %d, dropped %d, handler errors %d, reconnects %d\n",
		st.Received, st.Delivered, st.Dropped, st.HandlerErrors, st.Reconnects)
	return nil
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
