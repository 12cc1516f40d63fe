package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runExample(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out))
	return out.String()
}

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
	assert.Equal(t, "REDIS_URL not set: using an embedded miniredis\n"+fmt.Sprintf(output, "trading"), runExample(t))
}

// TestRedisURL runs the example against the integration server, on a
// channel of its own.
func TestRedisURL(t *testing.T) {
	url := os.Getenv("REDISCLIENT_TEST_URL")
	if url == "" {
		if os.Getenv("REDISCLIENT_INTEGRATION") == "1" {
			t.Fatal("REDISCLIENT_INTEGRATION=1 but REDISCLIENT_TEST_URL is not set: start the servers with scripts/servers.sh")
		}
		t.Skip("integration test: REDISCLIENT_TEST_URL not set (run scripts/test.sh)")
	}
	ns := fmt.Sprintf("example_pubsub_%d", os.Getpid())
	for _, v := range []string{"REDIS_ADDR", "REDIS_HOST", "REDIS_PORT", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_ADDRS"} {
		t.Setenv(v, "")
	}
	t.Setenv("REDIS_URL", url)
	t.Setenv("REDIS_NAMESPACE", ns)
	assert.Equal(t, fmt.Sprintf(output, ns), runExample(t))
}
