package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/systemtrader/redisclient/internal/testkit"
)

const output = `subscribed to %s:signals
publishing 3 signals
received on signals: BUY 100 AAPL @ 187.25 (momentum-v1)
received on signals: SELL 50 MSFT @ 410.10 (momentum-v1)
received on signals: BUY 10 TSLA @ 242.00 (mean-reversion)
published 3 signals; subscribers reached by each: [1 1 1]
subscription closed: received 3, delivered 3, dropped 0, handler errors 0, reconnects 0
`

func TestEmbedded(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	assert.Equal(t, "REDIS_URL not set: using an embedded miniredis\n"+fmt.Sprintf(output, "trading"), testkit.Output(t, run))
}

// TestRedisURL runs the example against the integration server, on a
// channel of its own.
func TestRedisURL(t *testing.T) {
	ns := fmt.Sprintf("example_pubsub_%d", os.Getpid())
	testkit.SetLibraryEnv(t, "REDIS_URL", testkit.RequireEnv(t, testkit.EnvURL), "REDIS_NAMESPACE", ns)
	assert.Equal(t, fmt.Sprintf(output, ns), testkit.Output(t, run))
}
