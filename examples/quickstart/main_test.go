package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
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

func TestEmbedded(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	assert.Equal(t, `REDIS_URL not set: using an embedded miniredis
read back AAPL bid=187.20 ask=187.25 from key trading:quote:AAPL
order 42 lives at trading:orders:42 for 30s
miss: redisclient: get trading:quote:MSFT: not found
`, runExample(t))
}

// TestRedisURL runs the example against the integration server, in a
// namespace of its own.
func TestRedisURL(t *testing.T) {
	url := os.Getenv("REDISCLIENT_TEST_URL")
	if url == "" {
		if os.Getenv("REDISCLIENT_INTEGRATION") == "1" {
			t.Fatal("REDISCLIENT_INTEGRATION=1 but REDISCLIENT_TEST_URL is not set: start the servers with scripts/servers.sh")
		}
		t.Skip("integration test: REDISCLIENT_TEST_URL not set (run scripts/test.sh)")
	}
	ns := fmt.Sprintf("example_quickstart_%d", os.Getpid())
	for _, v := range []string{"REDIS_ADDR", "REDIS_HOST", "REDIS_PORT", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_ADDRS"} {
		t.Setenv(v, "")
	}
	t.Setenv("REDIS_URL", url)
	t.Setenv("REDIS_NAMESPACE", ns)
	want := strings.ReplaceAll(`read back AAPL bid=187.20 ask=187.25 from key trading:quote:AAPL
order 42 lives at trading:orders:42 for 30s
miss: redisclient: get trading:quote:MSFT: not found
`, "trading:", ns+":")
	assert.Equal(t, want, runExample(t))
}
