package redisclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

const attrNS = "redisclient.namespace"

// TestCacheMetricsByNamespace: the cache-aside counters are reported per
// namespace, while CacheStats keeps the totals of the pool.
func TestCacheMetricsByNamespace(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	models := c.Namespace("models")
	ctx := testCtx(t)
	load := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return v, nil }
	}
	for range 3 {
		_, err := GetOrSet(ctx, c, "a", 0, load(1))
		require.NoError(t, err)
	}
	_, err := GetOrSet(ctx, models, "a", 0, load(2))
	require.NoError(t, err)
	_, err = GetOrSet(ctx, models, "b", 0, func(context.Context) (int, error) { return 0, errors.New("db down") })
	require.Error(t, err)

	m := k.collect(t)
	for _, tc := range []struct {
		name string
		ns   string
		want float64
	}{
		{"redisclient.cache.hits", "trading", 2},
		{"redisclient.cache.misses", "trading", 1},
		{"redisclient.cache.loads", "trading", 1},
		{"redisclient.cache.hits", "trading:models", 0},
		{"redisclient.cache.misses", "trading:models", 2},
		{"redisclient.cache.loads", "trading:models", 2},
		{"redisclient.cache.load_errors", "trading:models", 1},
		{"redisclient.cache.load_errors", "trading", 0},
		{"redisclient.cache.redis_errors", "trading", 0},
	} {
		assert.Equal(t, tc.want, m.sum(tc.name, attrNS, tc.ns), "%s{%s}", tc.name, tc.ns)
	}
	assert.Equal(t, CacheStats{Hits: 2, Misses: 3, Loads: 3, LoadErrors: 1}, c.CacheStats())
	assert.Equal(t, c.CacheStats(), models.CacheStats(), "every view reports the pool's totals")
}

func TestNamespaceStatsBounded(t *testing.T) {
	var r namespaceStats
	for i := range maxNamespaceStats + 10 {
		r.get(fmt.Sprintf("ns%d", i)).hits.Add(1)
	}
	r.get("ns0").hits.Add(1)
	var names []string
	r.each(func(ns string, s CacheStats) { names = append(names, ns) })
	assert.Len(t, names, maxNamespaceStats+1)
	assert.Contains(t, names, otherNamespace)
	assert.Equal(t, uint64(maxNamespaceStats+11), r.total().Hits)
}

// TestFailOpenRedisErrorsMetric: GetOrSet on a Redis that is down returns
// the loaded value and reports both failed cache operations.
func TestFailOpenRedisErrorsMetric(t *testing.T) {
	k := newTelemetryKit(t)
	c, mr := newMiniredisClient(t, k.with(Options{Retry: RetryPolicy{Attempts: 1}, Breaker: BreakerOptions{Threshold: -1}}))
	mr.Close()
	v, err := GetOrSet(testCtx(t), c, "k", 0, func(context.Context) (string, error) { return "loaded", nil })
	require.NoError(t, err)
	assert.Equal(t, "loaded", v)
	m := k.collect(t)
	assert.Equal(t, 2.0, m.sum("redisclient.cache.redis_errors", attrNS, "trading"), "the read and the write")
	assert.Equal(t, 1.0, m.sum("redisclient.cache.loads", attrNS, "trading"))
}

// TestRetriesByReason: every retry is counted under the error that caused
// it, and nothing is counted for calls that succeed.
func TestRetriesByReason(t *testing.T) {
	k := newTelemetryKit(t)
	c, mr := newMiniredisClient(t, k.with(Options{Retry: RetryPolicy{Attempts: 3, MinBackoff: -1}}))
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))
	m := k.collect(t)
	require.Len(t, m["redisclient.retries"], int(numRetryReasons), "every reason is reported, zeros included")
	assert.Zero(t, m.sum("redisclient.retries"))

	mr.SetError("LOADING Redis is loading the dataset in memory")
	var s string
	require.Error(t, c.Get(ctx, "k", &s))
	mr.SetError("")
	m = k.collect(t)
	assert.Equal(t, 2.0, m.sum("redisclient.retries", "redisclient.retry.reason", "loading"))
	assert.Equal(t, 2.0, m.sum("redisclient.retries"))

	mr.Close()
	require.Error(t, c.Get(ctx, "k", &s))
	m = k.collect(t)
	assert.Equal(t, 4.0, m.sum("redisclient.retries"))
	// A pooled connection may fail first (network); the redials are refused.
	assert.GreaterOrEqual(t, m.sum("redisclient.retries", "redisclient.retry.reason", "dial"), 1.0)
}

func TestClassifyRetry(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&dialError{err: errors.New("connection refused")}, "dial"},
		{fmt.Errorf("get: %w", redis.ErrPoolTimeout), "pool_timeout"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, "timeout"},
		{io.ErrUnexpectedEOF, "network"},
		{replyErr("READONLY You can't write against a read only replica."), "readonly"},
		{replyErr("TRYAGAIN Multiple keys request during rehashing of slot"), "tryagain"},
		{replyErr("MASTERDOWN Link with MASTER is down"), "masterdown"},
		{replyErr("CLUSTERDOWN The cluster is down"), "clusterdown"},
		{replyErr("NOREPLICAS Not enough good replicas to write."), "noreplicas"},
		{replyErr("ERR max number of clients reached"), "max_clients"},
		{replyErr("LOADING Redis is loading the dataset in memory"), "loading"},
		{replyErr("ERR something new"), "other"},
	} {
		assert.Equal(t, tc.want, classifyRetry(tc.err).String(), "%v", tc.err)
	}
}

// TestBreakerMetrics: the state gauge follows the breaker, and every
// transition is counted by the state entered.
func TestBreakerMetrics(t *testing.T) {
	k := newTelemetryKit(t)
	c, mr := newMiniredisClient(t, k.with(Options{Retry: RetryPolicy{Attempts: 1}, Breaker: BreakerOptions{Threshold: 2, Cooldown: 50 * time.Millisecond}}))
	ctx := testCtx(t)
	require.NoError(t, c.Ping(ctx))
	m := k.collect(t)
	assert.Equal(t, 0.0, m.sum("redisclient.breaker.state"))
	assert.Equal(t, 0.0, m.sum("redisclient.breaker.transitions"))
	require.Len(t, m["redisclient.breaker.transitions"], 3, "every state is reported, zeros included")

	mr.Close()
	for c.BreakerState() != BreakerOpen {
		_ = c.Ping(ctx)
	}
	m = k.collect(t)
	assert.Equal(t, float64(BreakerOpen), m.sum("redisclient.breaker.state"))
	assert.Equal(t, 1.0, m.sum("redisclient.breaker.transitions", "redisclient.breaker.state", "open"))

	require.NoError(t, mr.Restart())
	require.Eventually(t, func() bool { return c.Ping(ctx) == nil }, 10*time.Second, 10*time.Millisecond)
	m = k.collect(t)
	assert.Equal(t, 0.0, m.sum("redisclient.breaker.state"))
	// Every probe half-opens it; each failed probe (go-redis may still be
	// pausing its dials) re-opens it, the last one closes it.
	probes := m.sum("redisclient.breaker.transitions", "redisclient.breaker.state", "half-open")
	assert.GreaterOrEqual(t, probes, 1.0)
	assert.Equal(t, probes, m.sum("redisclient.breaker.transitions", "redisclient.breaker.state", "open"))
	assert.Equal(t, 1.0, m.sum("redisclient.breaker.transitions", "redisclient.breaker.state", "closed"))
}

// TestPoolMetrics: the pool's counters, from go-redis's PoolStats.
func TestPoolMetrics(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	ctx := testCtx(t)
	for range 5 {
		require.NoError(t, c.Ping(ctx))
	}
	m := k.collect(t)
	ps := c.Redis().PoolStats()
	assert.Equal(t, float64(ps.Hits), m.sum("redisclient.pool.hits"))
	assert.Equal(t, float64(ps.Misses), m.sum("redisclient.pool.misses"))
	assert.Equal(t, float64(ps.IdleConns), m.sum("redisclient.pool.connections", "redisclient.pool.state", "idle"))
	assert.Positive(t, m.sum("redisclient.pool.hits"))
	assert.Equal(t, 1.0, m.sum("redisclient.pool.connections"))
	for _, name := range []string{"redisclient.pool.timeouts", "redisclient.pool.waits", "redisclient.pool.pending", "redisclient.pool.wait_time"} {
		assert.True(t, m.has(name), name)
	}
}

// TestPubSubMetrics: received, delivered, dropped and handler errors per
// namespace; counts of a closed subscription stay in the totals.
func TestPubSubMetrics(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	ctx := testCtx(t)
	events := c.Namespace("events")

	handler := func(_ context.Context, m Message) error {
		if string(m.Payload) == "bad" {
			return errors.New("cannot handle")
		}
		return nil
	}
	sub, err := events.SubscribeWith(ctx, SubscribeOptions{OnError: func(error) {}}, handler, "ticks")
	require.NoError(t, err)
	for _, p := range []string{"ok", "bad", "ok", "bad", "ok"} {
		_, err := events.Publish(ctx, "ticks", p)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return sub.Stats().Delivered == 5 }, 10*time.Second, 5*time.Millisecond)
	m := k.collect(t)
	for name, want := range map[string]float64{
		"redisclient.pubsub.subscriptions":  1,
		"redisclient.pubsub.received":       5,
		"redisclient.pubsub.delivered":      5,
		"redisclient.pubsub.handler_errors": 2,
		"redisclient.pubsub.dropped":        0,
		"redisclient.pubsub.pending":        0,
	} {
		assert.Equal(t, want, m.sum(name, attrNS, "trading:events"), name)
	}

	// A handler that holds the only buffer slot: DropOldest drops.
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := func(ctx context.Context, _ Message) error {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	dropping, err := c.SubscribeWith(ctx, SubscribeOptions{BufferSize: 1, Overflow: DropOldest}, slow, "burst")
	require.NoError(t, err)
	_, err = c.Publish(ctx, "burst", 0)
	require.NoError(t, err)
	<-started
	for i := range 10 {
		_, err := c.Publish(ctx, "burst", i+1)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return dropping.Stats().Received == 11 }, 10*time.Second, 5*time.Millisecond)
	close(release)
	require.NoError(t, dropping.Close())
	require.NoError(t, sub.Close())

	m = k.collect(t)
	st := dropping.Stats()
	assert.Positive(t, st.Dropped)
	assert.Equal(t, float64(st.Dropped), m.sum("redisclient.pubsub.dropped", attrNS, "trading"))
	assert.Equal(t, 11.0, m.sum("redisclient.pubsub.received", attrNS, "trading"))
	assert.Equal(t, float64(st.Delivered), m.sum("redisclient.pubsub.delivered", attrNS, "trading"))
	assert.Equal(t, 5.0, m.sum("redisclient.pubsub.received", attrNS, "trading:events"), "closed subscriptions keep counting")
	assert.Equal(t, 2.0, m.sum("redisclient.pubsub.handler_errors", attrNS, "trading:events"))
	assert.Equal(t, 0.0, m.sum("redisclient.pubsub.subscriptions"))
}

// TestPubSubHandlerLag: once a reader collects, the time messages wait for
// a busy handler is measured: summed, and the longest since the last
// collection.
func TestPubSubHandlerLag(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	ctx := testCtx(t)
	gate := make(chan struct{})
	sub, err := c.Subscribe(ctx, func(_ context.Context, m Message) error {
		if string(m.Payload) == "first" {
			<-gate
		}
		return nil
	}, "slow")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })

	_, err = c.Publish(ctx, "slow", "before any collection")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return sub.Stats().Delivered == 1 }, 10*time.Second, time.Millisecond)
	m := k.collect(t) // from now on lag is measured
	assert.Zero(t, m.sum("redisclient.pubsub.handler.lag"), "not measured before a reader asked")

	// The first message holds the handler until the other two have been
	// read; they then wait at least pause in the buffer.
	for _, p := range []string{"first", "second", "third"} {
		_, err := c.Publish(ctx, "slow", p)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return sub.Stats().Received == 4 }, 10*time.Second, time.Millisecond)
	const pause = 30 * time.Millisecond
	time.Sleep(pause)
	close(gate)
	require.Eventually(t, func() bool { return sub.Stats().Delivered == 4 }, 10*time.Second, time.Millisecond)
	m = k.collect(t)
	assert.GreaterOrEqual(t, m.sum("redisclient.pubsub.handler.lag", attrNS, "trading"), (2 * pause).Seconds())
	assert.GreaterOrEqual(t, m.sum("redisclient.pubsub.handler.lag.max", attrNS, "trading"), pause.Seconds())
	m = k.collect(t)
	assert.Zero(t, m.sum("redisclient.pubsub.handler.lag.max", attrNS, "trading"), "the maximum restarts at each collection")
	assert.GreaterOrEqual(t, m.sum("redisclient.pubsub.handler.lag", attrNS, "trading"), (2 * pause).Seconds())
}

// TestInstrumentsDocumented: the README's instrument table lists exactly the
// redisclient.* instruments the client reports.
func TestInstrumentsDocumented(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, func(context.Context, Message) error { return nil }, "x")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	consume(t, c.Stream("s"), "g", "w", ConsumeOptions{}, func(context.Context, StreamMessage) error { return nil })
	near, _ := newMiniredisClient(t, k.with(Options{Namespace: "near", LocalCache: &LocalCacheOptions{}}))
	require.NoError(t, near.Ping(ctx))
	emitted := k.collect(t).names("redisclient.")

	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(redisclient\\.[a-z_.]+)` \\|").FindAllSubmatch(readme, -1) {
		documented = append(documented, string(m[1]))
	}
	sort.Strings(documented)
	assert.Equal(t, emitted, documented)
}

// TestStreamMetrics: consumer counters per namespace, stream and group; a
// closed consumer's counts stay in the totals.
func TestStreamMetrics(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	ctx := testCtx(t)
	s := c.Namespace("svc").Stream("orders")
	for _, v := range []string{"ok1", "poison", "ok2"} {
		_, err := s.Add(ctx, v)
		require.NoError(t, err)
	}
	cs := consume(t, s, "billing", "w1", ConsumeOptions{MaxDeliveries: 2, OnError: func(error) {}}, func(_ context.Context, m StreamMessage) error {
		if string(m.Payload) == "poison" {
			return errors.New("cannot parse")
		}
		return nil
	})
	require.Eventually(t, func() bool {
		st := cs.Stats()
		return st.Acked == 2 && st.DeadLettered == 1
	}, streamWait, 5*time.Millisecond)
	attrs := []string{attrNS, "trading:svc", "redisclient.stream", "orders", "redisclient.stream.group", "billing"}
	m := k.collect(t)
	assert.Equal(t, 1.0, m.sum("redisclient.stream.consumers", attrs...))
	require.NoError(t, cs.Close())

	m = k.collect(t)
	st := cs.Stats()
	for name, want := range map[string]uint64{
		"redisclient.stream.delivered":      st.Delivered,
		"redisclient.stream.acked":          2,
		"redisclient.stream.dead_lettered":  1,
		"redisclient.stream.retried":        1,
		"redisclient.stream.handler_errors": 2,
		"redisclient.stream.reclaimed":      0,
		"redisclient.stream.left_pending":   0,
		"redisclient.stream.panics":         0,
		"redisclient.stream.pending":        0,
		"redisclient.stream.consumers":      0,
	} {
		assert.Equal(t, float64(want), m.sum(name, attrs...), name)
	}
	assert.Equal(t, 3.0, m.sum("redisclient.stream.delivered", attrs...))
}

// TestLocalCacheMetrics: the near cache's counters, on a server with
// CLIENT TRACKING; without a near cache no redisclient.local.* series.
func TestLocalCacheMetrics(t *testing.T) {
	k := newTelemetryKit(t)
	plain, _ := newMiniredisClient(t, k.with(Options{}))
	require.NoError(t, plain.Ping(testCtx(t)))
	assert.Empty(t, k.collect(t).names("redisclient.local."), "no near cache, no series")

	k = newTelemetryKit(t)
	c := newTrackedClient(t, k.with(Options{URL: testkit.RequireEnv(t, testkit.EnvURL)}))
	ctx := testCtx(t)
	t.Cleanup(func() { _, _ = c.FlushNamespace(context.Background()) })
	require.NoError(t, c.Set(ctx, "k", "v1", time.Hour))
	primeCache(t, ctx, c, "k", "v1")
	var s string
	for range 5 {
		require.NoError(t, c.Get(ctx, "k", &s))
	}
	require.NoError(t, c.Set(ctx, "k", "v2", time.Hour)) // drops the local copy
	// Redis's invalidations of the two SETs may still arrive while the
	// metrics are collected: each series lies between the stats before and
	// after.
	before := c.CacheStats()
	m := k.collect(t)
	after := c.CacheStats()
	assert.GreaterOrEqual(t, before.LocalHits, uint64(5))
	for name, want := range map[string][2]uint64{
		"redisclient.local.hits":          {before.LocalHits, after.LocalHits},
		"redisclient.local.misses":        {before.LocalMisses, after.LocalMisses},
		"redisclient.local.invalidations": {before.LocalInvalidations, after.LocalInvalidations},
		"redisclient.local.flushes":       {before.LocalFlushes, after.LocalFlushes},
		"redisclient.local.evictions":     {before.LocalEvictions, after.LocalEvictions},
	} {
		got := m.sum(name)
		assert.True(t, float64(want[0]) <= got && got <= float64(want[1]), "%s: %v, not in %v", name, got, want)
	}
	assert.Positive(t, m.sum("redisclient.local.invalidations"))
	assert.True(t, m.has("redisclient.local.entries"))
}
