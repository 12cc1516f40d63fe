package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/systemtrader/redisclient/internal/testkit"
)

func TestEmbedded(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	assert.Equal(t, `REDIS_URL not set: using an embedded miniredis
read back AAPL bid=187.20 ask=187.25 from key trading:quote:AAPL
order 42 lives at trading:orders:42 for 30s
miss: redisclient: get trading:quote:MSFT: not found
`, testkit.Output(t, run))
}

// TestRedisURL runs the example against the integration server, in a
// namespace of its own.
func TestRedisURL(t *testing.T) {
	ns := fmt.Sprintf("example_quickstart_%d", os.Getpid())
	testkit.SetLibraryEnv(t, "REDIS_URL", testkit.RequireEnv(t, testkit.EnvURL), "REDIS_NAMESPACE", ns)
	want := strings.ReplaceAll(`read back AAPL bid=187.20 ask=187.25 from key trading:quote:AAPL
order 42 lives at trading:orders:42 for 30s
miss: redisclient: get trading:quote:MSFT: not found
`, "trading:", ns+":")
	assert.Equal(t, want, testkit.Output(t, run))
}
