package redisclient

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// TestFaultProxyRelays checks the proxy itself against a real server: it
// relays every command of the client, pipelines and transactions included.
func TestFaultProxyRelays(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	c := newFaultClient(t, p.Addr(), Options{})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))
	var got string
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "v", got)
	require.NoError(t, c.MSet(ctx, map[string]any{"a": 1, "b": 2}, 0))
	_, err := c.Redis().TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.Incr(ctx, c.Key("n"))
		pl.Incr(ctx, c.Key("n"))
		return nil
	})
	require.NoError(t, err)
	n, err := c.Incr(ctx, "n", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	assert.Equal(t, int64(1), p.Count("GET"))
	assert.Equal(t, p.Commands(), p.Forwarded())
	r := c.Health(ctx)
	assert.Equal(t, StatusHealthy, r.Status, "%q %s", r.Problems, r.Error)
	assert.NotEmpty(t, r.Version)

	p.SetRule(func(args []string) testkit.Action {
		if args[0] == "GET" {
			return testkit.Action{Reply: "$5\r\nproxy\r\n"}
		}
		return testkit.Action{}
	})
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "proxy", got)
}
