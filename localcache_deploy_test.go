package redisclient

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// On a cluster every master has a tracking connection, and another
// client's writes on any master invalidate.
func TestLocalCacheCluster(t *testing.T) {
	addrs := strings.Split(testkit.RequireEnv(t, testkit.EnvClusterAddrs), ",")
	c := newTrackedClient(t, Options{Addrs: addrs})
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	other := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = other.Close() })

	h := c.Health(ctx)
	require.NotNil(t, h.LocalCache)
	assert.Equal(t, 3, h.LocalCache.TrackedNodes)

	const n = 30 // spread over every master's slots
	masters := map[string]bool{}
	for i := range n {
		k := "k" + strconv.Itoa(i)
		require.NoError(t, c.Set(ctx, k, "v1", time.Hour))
		node, err := other.MasterForKey(ctx, c.Key(k))
		require.NoError(t, err)
		masters[node.Options().Addr] = true
	}
	require.Len(t, masters, 3, "keys do not cover every master")
	for i := range n {
		primeCache(t, ctx, c, "k"+strconv.Itoa(i), "v1")
	}
	for i := range n {
		require.NoError(t, other.Set(ctx, c.Key("k"+strconv.Itoa(i)), "v2", 0).Err())
	}
	for i := range n {
		k := "k" + strconv.Itoa(i)
		require.Eventually(t, func() bool { return !cached(c, k) }, liveTimeout, time.Millisecond, "%s not invalidated", k)
		var s string
		require.NoError(t, c.Get(ctx, k, &s))
		assert.Equal(t, "v2", s)
	}

	// A node the cluster client makes (a new master, a failover) stops
	// local reads until the trackers are reconciled with the masters.
	c.shared.tracking.topologyChanged()
	var s string
	hits := c.CacheStats().LocalHits
	require.NoError(t, c.Get(ctx, "k0", &s))
	if !c.shared.local.live.Load() {
		assert.Equal(t, hits, c.CacheStats().LocalHits, "served locally while the topology was unreconciled")
	}
	requireLive(t, c)
	primeCache(t, ctx, c, "k0", "v2")
}

// Under Sentinel the current master is tracked.
func TestLocalCacheSentinel(t *testing.T) {
	addrs, master := sentinelEnv(t)
	c := newTrackedClient(t, Options{SentinelAddrs: addrs, MasterName: master})
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	sc, _ := sentinelAdmin(t)
	other := plainRedis(t, currentMaster(t, ctx, sc, master))

	require.NoError(t, c.Set(ctx, "k", "v1", time.Hour))
	primeCache(t, ctx, c, "k", "v1")
	require.NoError(t, other.Set(ctx, c.Key("k"), "v2", 0).Err())
	require.Eventually(t, func() bool {
		var s string
		return c.Get(ctx, "k", &s) == nil && s == "v2"
	}, liveTimeout, time.Millisecond)
	assert.True(t, c.Health(ctx).LocalCache.Tracking)
}
