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
	"github.com/systemtrader/redisclient"
)

func runExample(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out))
	return out.String()
}

// expected is the example's output after its first line, in namespace ns.
func expected(t *testing.T, ns string) string {
	hash, err := redisclient.HashInputSHA256(inputs["AAPL"])
	require.NoError(t, err)
	require.Len(t, hash, 64)
	return fmt.Sprintf(`AAPL features hash to %[1]s
its prediction is cached under %[2]s:model:momentum-v1:%[1]s
AAPL: BUY score=0.0040 (computed, model runs so far: 1)
MSFT: SELL score=-0.0020 (computed, model runs so far: 2)
AAPL: BUY score=0.0040 (from cache, model runs so far: 2)
batch lookup: 2 cached (AAPL, MSFT), 1 missing (TSLA)
invalidated 2 cached predictions of momentum-v1
AAPL: BUY score=0.0040 (computed, model runs so far: 3)
`, hash, ns)
}

func TestEmbedded(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	assert.Equal(t, "REDIS_URL not set: using an embedded miniredis\n"+expected(t, "trading"), runExample(t))
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
	ns := fmt.Sprintf("example_predictions_%d", os.Getpid())
	for _, v := range []string{"REDIS_ADDR", "REDIS_HOST", "REDIS_PORT", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_ADDRS"} {
		t.Setenv(v, "")
	}
	t.Setenv("REDIS_URL", url)
	t.Setenv("REDIS_NAMESPACE", ns)
	assert.Equal(t, expected(t, ns), runExample(t))
	// Running it again gives the same output: it leaves nothing behind.
	out := runExample(t)
	assert.True(t, strings.HasSuffix(out, "(computed, model runs so far: 3)\n"), out)
	assert.Equal(t, expected(t, ns), out)
}
