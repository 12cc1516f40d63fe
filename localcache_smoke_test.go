package redisclient

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestLocalCacheSmoke(t *testing.T) {
	c := newRealClient(t, Options{LocalCache: &LocalCacheOptions{}})
	ctx := testCtx(t)
	require.Eventually(t, c.shared.local.live.Load, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, c.Set(ctx, "k", "v1", 0))
	var s string
	require.NoError(t, c.Get(ctx, "k", &s))
	require.NoError(t, c.Get(ctx, "k", &s))
	t.Logf("%+v", c.CacheStats())
	o, _ := redis.ParseURL(c.shared.opts.Addr)
	_ = o
	other := redis.NewClient(&redis.Options{Addr: c.shared.opts.Addr})
	defer other.Close()
	require.NoError(t, other.Set(ctx, c.Key("k"), "v2", 0).Err())
	require.Eventually(t, func() bool { _ = c.Get(ctx, "k", &s); return s == "v2" }, 5*time.Second, time.Millisecond)
	t.Logf("%+v", c.CacheStats())
}
