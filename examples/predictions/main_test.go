package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/testkit"
)

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
	assert.Equal(t, "REDIS_URL not set: using an embedded miniredis\n"+expected(t, "trading"), testkit.Output(t, run))
}

// TestRedisURL runs the example against the integration server, in a
// namespace of its own.
func TestRedisURL(t *testing.T) {
	ns := fmt.Sprintf("example_predictions_%d", os.Getpid())
	testkit.SetLibraryEnv(t, "REDIS_URL", testkit.RequireEnv(t, testkit.EnvURL), "REDIS_NAMESPACE", ns)
	assert.Equal(t, expected(t, ns), testkit.Output(t, run))
	// Running it again gives the same output: it leaves nothing behind.
	out := testkit.Output(t, run)
	assert.True(t, strings.HasSuffix(out, "(computed, model runs so far: 3)\n"), out)
	assert.Equal(t, expected(t, ns), out)
}
