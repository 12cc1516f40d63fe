package redisclient

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// The integration tests in this file run against the 3-master cluster that
// scripts/servers.sh starts (REDISCLIENT_TEST_CLUSTER_ADDRS). Each test works
// in a namespace of its own, flushed when it ends. The unit tests at the end
// check how options and the environment select a deployment.

const clusterMasters = 3

// newClusterClient returns a client on the integration cluster, in a
// namespace of its own that is flushed when the test ends.
func newClusterClient(t testing.TB, opts Options) *Client {
	t.Helper()
	return newClusterClientWith(t, opts, nil)
}

// newClusterClientWith is newClusterClient with setup run on the go-redis
// cluster client before its first command, so that hooks it installs with
// OnNewNode reach every node.
func newClusterClientWith(t testing.TB, opts Options, setup func(*redis.ClusterClient)) *Client {
	t.Helper()
	opts.Addrs = strings.Split(testkit.RequireEnv(t, testkit.EnvClusterAddrs), ",")
	if opts.Namespace == "" {
		opts.Namespace = uniqueNamespace(t)
	}
	c, err := New(opts)
	require.NoError(t, err)
	require.True(t, c.isCluster())
	if setup != nil {
		setup(clusterOf(t, c))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx), "cluster at %s", testkit.EnvClusterAddrs)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = c.FlushNamespace(ctx)
		_ = c.Close()
	})
	return c
}

// clusterOf returns the go-redis cluster client behind c.
func clusterOf(t testing.TB, c *Client) *redis.ClusterClient {
	t.Helper()
	cc, ok := c.Redis().(*redis.ClusterClient)
	require.True(t, ok, "Redis() is %T, want *redis.ClusterClient", c.Redis())
	return cc
}

// clusterTopology is the slot ownership the cluster reports.
type clusterTopology struct {
	owner   [clusterSlots]string // master address of each slot
	masters []string             // sorted
}

func clusterTopologyOf(t testing.TB, ctx context.Context, cc *redis.ClusterClient) *clusterTopology {
	t.Helper()
	slots, err := cc.ClusterSlots(ctx).Result()
	require.NoError(t, err)
	top := &clusterTopology{}
	seen := map[string]bool{}
	for _, r := range slots {
		require.NotEmpty(t, r.Nodes)
		for s := r.Start; s <= r.End; s++ {
			top.owner[s] = r.Nodes[0].Addr
		}
		seen[r.Nodes[0].Addr] = true
	}
	for s, a := range top.owner {
		require.NotEmpty(t, a, "slot %d has no master", s)
	}
	top.masters = slices.Sorted(maps.Keys(seen))
	require.Len(t, top.masters, clusterMasters, "masters %v", top.masters)
	return top
}

// ownerOf asks the cluster for the slot of a full key and returns its master.
func (top *clusterTopology) ownerOf(t testing.TB, ctx context.Context, cc *redis.ClusterClient, full string) string {
	t.Helper()
	slot, err := cc.ClusterKeySlot(ctx, full).Result()
	require.NoError(t, err)
	return top.owner[slot]
}

// spreadKeys returns names prefix0, prefix1, ... until every master owns at
// least perMaster of the full keys that full makes of them.
func spreadKeys(t testing.TB, ctx context.Context, cc *redis.ClusterClient, top *clusterTopology,
	prefix string, perMaster int, full func(string) string) []string {
	t.Helper()
	count := map[string]int{}
	var names []string
	for i := 0; ; i++ {
		require.Less(t, i, 10000, "keys never covered every master")
		name := prefix + strconv.Itoa(i)
		names = append(names, name)
		count[top.ownerOf(t, ctx, cc, full(name))]++
		if len(count) == clusterMasters && slices.Min(slices.Collect(maps.Values(count))) >= perMaster {
			return names
		}
	}
}

// serverSlots returns the distinct slots of full keys, as the cluster
// computes them.
func serverSlots(t testing.TB, ctx context.Context, cc *redis.ClusterClient, full []string) map[int64]bool {
	t.Helper()
	slots := map[int64]bool{}
	for _, k := range full {
		s, err := cc.ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err)
		slots[s] = true
	}
	return slots
}

// masterKeyCounts counts the keys matching pattern on every master, asking
// each node directly with SCAN, independently of the client under test.
func masterKeyCounts(t testing.TB, ctx context.Context, cc *redis.ClusterClient, pattern string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n := 0
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		mu.Lock()
		counts[node.Options().Addr] = n
		mu.Unlock()
		return iter.Err()
	})
	require.NoError(t, err)
	require.Len(t, counts, clusterMasters)
	return counts
}

// keyUnder returns a function making the full key of a name under parts of
// c's namespace.
func keyUnder(c *Client, parts ...string) func(string) string {
	return func(name string) string { return c.Key(append(slices.Clone(parts), name)...) }
}

func fullKeys(c *Client, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = c.Key(n)
	}
	return out
}

func TestClusterKeyValue(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	names := spreadKeys(t, ctx, cc, top, "kv", 1, keyUnder(c))
	require.GreaterOrEqual(t, len(serverSlots(t, ctx, cc, fullKeys(c, names))), 2)

	type quote struct {
		Symbol string
		Bid    float64
	}
	for i, n := range names {
		require.NoError(t, c.Set(ctx, n, quote{"SYM" + n, float64(i)}, time.Minute))
	}
	for i, n := range names {
		var q quote
		require.NoError(t, c.Get(ctx, n, &q))
		assert.Equal(t, quote{"SYM" + n, float64(i)}, q)
	}
	var s string
	assert.ErrorIs(t, c.Get(ctx, "missing", &s), ErrNotFound)

	// Multi-key Exists and Delete over keys on every master: no CROSSSLOT.
	n, err := c.Exists(ctx, append(slices.Clone(names), "missing")...)
	require.NoError(t, err)
	assert.Equal(t, int64(len(names)), n)
	n, err = c.Delete(ctx, append(slices.Clone(names), "missing")...)
	require.NoError(t, err)
	assert.Equal(t, int64(len(names)), n)
	n, err = c.Exists(ctx, names...)
	require.NoError(t, err)
	assert.Zero(t, n)

	ok, err := c.SetNX(ctx, "once", "a", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = c.SetNX(ctx, "once", "b", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok)
	ttl, err := c.TTL(ctx, "once")
	require.NoError(t, err)
	assert.InDelta(t, time.Minute, ttl, float64(5*time.Second))
	ok, err = c.Expire(ctx, "once", NoExpiry)
	require.NoError(t, err)
	assert.True(t, ok)
	ttl, err = c.TTL(ctx, "once")
	require.NoError(t, err)
	assert.Equal(t, NoExpiry, ttl)

	v, err := c.Incr(ctx, "counter", 5)
	require.NoError(t, err)
	assert.Equal(t, int64(5), v)
	v, err = c.Decr(ctx, "counter", 2)
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)
}

func TestClusterDataStructures(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)

	isNew, err := c.HSet(ctx, "hash", "bid", 1.5)
	require.NoError(t, err)
	assert.True(t, isNew)
	require.NoError(t, c.HSetMap(ctx, "hash", map[string]any{"ask": 1.75, "venue": "X"}))
	var bid float64
	require.NoError(t, c.HGet(ctx, "hash", "bid", &bid))
	assert.Equal(t, 1.5, bid)
	var all map[string]string
	require.NoError(t, c.HGetAll(ctx, "hash", &all))
	assert.Equal(t, map[string]string{"bid": "1.5", "ask": "1.75", "venue": "X"}, all)
	has, err := c.HExists(ctx, "hash", "venue")
	require.NoError(t, err)
	assert.True(t, has)
	n, err := c.HDel(ctx, "hash", "venue", "nope")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	n, err = c.RPush(ctx, "list", "b", "c")
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	n, err = c.LPush(ctx, "list", "a")
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	var elems []string
	require.NoError(t, c.LRange(ctx, "list", 0, -1, &elems))
	assert.Equal(t, []string{"a", "b", "c"}, elems)
	var first string
	require.NoError(t, c.LPop(ctx, "list", &first))
	assert.Equal(t, "a", first)
	n, err = c.LLen(ctx, "list")
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)

	n, err = c.SAdd(ctx, "set", "x", "y", "x")
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	var members []string
	require.NoError(t, c.SMembers(ctx, "set", &members))
	assert.ElementsMatch(t, []string{"x", "y"}, members)
	in, err := c.SIsMember(ctx, "set", "y")
	require.NoError(t, err)
	assert.True(t, in)
	n, err = c.SRem(ctx, "set", "y")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	_, err = c.ZAdd(ctx, "zset", 2, "two")
	require.NoError(t, err)
	_, err = c.ZAdd(ctx, "zset", 1, "one")
	require.NoError(t, err)
	score, err := c.ZIncrBy(ctx, "zset", 10, "one")
	require.NoError(t, err)
	assert.Equal(t, 11.0, score)
	var ranked []string
	require.NoError(t, c.ZRange(ctx, "zset", 0, -1, true, &ranked))
	assert.Equal(t, []string{"one", "two"}, ranked)
	scored, err := c.ZRangeWithScores(ctx, "zset", 0, 0, false)
	require.NoError(t, err)
	require.Len(t, scored, 1)
	assert.Equal(t, 2.0, scored[0].Score)
	n, err = c.ZCard(ctx, "zset")
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	n, err = c.ZRem(ctx, "zset", "two")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// The four structures are keys of different slots, all removed at once.
	full := fullKeys(c, []string{"hash", "list", "set", "zset"})
	assert.GreaterOrEqual(t, len(serverSlots(t, ctx, clusterOf(t, c), full)), 2)
	n, err = c.Delete(ctx, "hash", "list", "set", "zset")
	require.NoError(t, err)
	assert.Equal(t, int64(4), n)
}

func TestClusterMGetMSet(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	names := spreadKeys(t, ctx, cc, top, "px", 2, keyUnder(c))
	slots := serverSlots(t, ctx, cc, fullKeys(c, names))
	require.GreaterOrEqual(t, len(slots), 2)
	t.Logf("%d keys in %d slots on %d masters", len(names), len(slots), clusterMasters)

	values := map[string]any{}
	for i, n := range names {
		values[n] = i * 10
	}
	require.NoError(t, c.MSet(ctx, values, time.Minute))

	got, err := MGet[int](ctx, c, append([]string{"absent"}, names...)...)
	require.NoError(t, err)
	require.Len(t, got, len(names))
	for i, n := range names {
		assert.Equal(t, i*10, got[n], n)
	}
	assert.NotContains(t, got, "absent")

	// Every master took its share of the batch.
	counts := masterKeyCounts(t, ctx, cc, escapeGlob(c.Key(""))+"*")
	for _, m := range top.masters {
		assert.GreaterOrEqual(t, counts[m], 2, "master %s", m)
	}

	// go-redis's own MGET across slots is what the client avoids.
	err = cc.MGet(ctx, fullKeys(c, names)...).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CROSSSLOT")
}

func TestClusterBatchPredictions(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	predKey := keyUnder(c, "model", "lstm")
	hashes := spreadKeys(t, ctx, cc, top, "h", 2, predKey)
	full := make([]string, len(hashes))
	for i, h := range hashes {
		full[i] = predKey(h)
	}
	require.GreaterOrEqual(t, len(serverSlots(t, ctx, cc, full)), 2)

	preds := map[string]any{}
	for i, h := range hashes {
		preds[h] = []float64{float64(i), 0.5}
	}
	require.NoError(t, c.CacheModelPredictions(ctx, "lstm", preds, time.Minute))

	ask := append(slices.Clone(hashes), "miss1", "miss2")
	found, missing, err := GetModelPredictions[[]float64](ctx, c, "lstm", ask)
	require.NoError(t, err)
	assert.Equal(t, []string{"miss1", "miss2"}, missing)
	require.Len(t, found, len(hashes))
	for i, h := range hashes {
		assert.Equal(t, []float64{float64(i), 0.5}, found[h], h)
	}
	var one []float64
	require.NoError(t, c.GetCachedModelPrediction(ctx, "lstm", hashes[1], &one))
	assert.Equal(t, []float64{1, 0.5}, one)

	// Predictions of every master are visible to the independent count.
	counts := masterKeyCounts(t, ctx, cc, escapeGlob(c.Key("model", "lstm", ""))+"*")
	total := 0
	for _, m := range top.masters {
		assert.GreaterOrEqual(t, counts[m], 2, "master %s", m)
		total += counts[m]
	}
	assert.Equal(t, len(hashes), total)
}

func TestClusterScan(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	names := spreadKeys(t, ctx, cc, top, "scan:", 3, keyUnder(c))
	values := map[string]any{"other": 1}
	for _, n := range names {
		values[n] = n
	}
	require.NoError(t, c.MSet(ctx, values, time.Minute))
	require.NoError(t, c.Namespace("child").Set(ctx, "k", 1, time.Minute))
	sibling := newClusterClient(t, Options{Namespace: c.Name() + "x"})
	require.NoError(t, sibling.Set(ctx, "scan:0", 1, time.Minute))

	collect := func(v *Client, match string) []string {
		var out []string
		for k, err := range v.Scan(ctx, match) {
			require.NoError(t, err)
			out = append(out, k)
		}
		return out
	}
	assert.ElementsMatch(t, names, collect(c, "scan:*"))
	assert.ElementsMatch(t, append(slices.Clone(names), "other", "child:k"), collect(c, ""))
	assert.Equal(t, []string{"k"}, collect(c.Namespace("child"), "*"))

	// Stopping early ends the scan of every node without an error.
	seen := 0
	for _, err := range c.Scan(ctx, "*") {
		require.NoError(t, err)
		if seen++; seen == 2 {
			break
		}
	}
	assert.Equal(t, 2, seen)
}

func TestClusterFlushNamespace(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	names := spreadKeys(t, ctx, cc, top, "f", 5, keyUnder(c))
	values := map[string]any{}
	for _, n := range names {
		values[n] = "v"
	}
	require.NoError(t, c.MSet(ctx, values, time.Minute))
	child := c.Namespace("child")
	childNames := spreadKeys(t, ctx, cc, top, "c", 1, keyUnder(child))
	for _, n := range childNames {
		require.NoError(t, child.Set(ctx, n, 1, time.Minute))
	}
	require.NoError(t, c.CacheModelPredictions(ctx, "m", map[string]any{"h1": 1, "h2": 2}, time.Minute))
	sibling := newClusterClient(t, Options{Namespace: c.Name() + "x"})
	require.NoError(t, sibling.Set(ctx, "keep", 1, time.Minute))

	pattern := escapeGlob(c.Key("")) + "*"
	before := masterKeyCounts(t, ctx, cc, pattern)
	want := len(names) + len(childNames) + 2
	total := 0
	for _, m := range top.masters {
		assert.Positive(t, before[m], "master %s holds none of the keys", m)
		total += before[m]
	}
	require.Equal(t, want, total)

	n, err := c.FlushNamespace(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(want), n)
	for m, left := range masterKeyCounts(t, ctx, cc, pattern) {
		assert.Zero(t, left, "keys left on master %s", m)
	}
	var keep int
	require.NoError(t, sibling.Get(ctx, "keep", &keep), "sibling namespace must survive")

	n, err = c.FlushNamespace(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestClusterInvalidateModel(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	hashes := spreadKeys(t, ctx, cc, top, "h", 4, keyUnder(c, "model", "lstm"))
	preds := map[string]any{}
	for _, h := range hashes {
		preds[h] = 0.5
	}
	require.NoError(t, c.CacheModelPredictions(ctx, "lstm", preds, time.Minute))
	// Names that a careless pattern would also match.
	require.NoError(t, c.CacheModelPredictions(ctx, "lstm2", map[string]any{"a": 1, "b": 2}, time.Minute))
	require.NoError(t, c.CacheModelPredictions(ctx, "ls*", map[string]any{"a": 1}, time.Minute))
	require.NoError(t, c.Set(ctx, "lstm", "plain key", time.Minute))

	pattern := escapeGlob(c.Key("model", "lstm", "")) + "*"
	before := masterKeyCounts(t, ctx, cc, pattern)
	for _, m := range top.masters {
		assert.GreaterOrEqual(t, before[m], 4, "master %s", m)
	}

	n, err := c.InvalidateModel(ctx, "lstm")
	require.NoError(t, err)
	assert.Equal(t, int64(len(hashes)), n)
	for m, left := range masterKeyCounts(t, ctx, cc, pattern) {
		assert.Zero(t, left, "predictions left on master %s", m)
	}
	_, missing, err := GetModelPredictions[float64](ctx, c, "lstm", hashes)
	require.NoError(t, err)
	assert.Equal(t, hashes, missing)

	found, _, err := GetModelPredictions[int](ctx, c, "lstm2", []string{"a", "b"})
	require.NoError(t, err)
	assert.Len(t, found, 2)
	var x int
	require.NoError(t, c.GetCachedModelPrediction(ctx, "ls*", "a", &x))
	var s string
	require.NoError(t, c.Get(ctx, "lstm", &s))

	n, err = c.InvalidateModel(ctx, "ls*")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

func TestClusterGetOrSet(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	var loads sync.Map
	load := func(key string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) {
			n, _ := loads.LoadOrStore(key, new(int64))
			*(n.(*int64))++
			time.Sleep(50 * time.Millisecond)
			return "value of " + key, nil
		}
	}

	// Concurrent callers of keys in different slots: one load per key.
	keys := []string{"a", "b", "c", "d", "e", "f"}
	var wg sync.WaitGroup
	for range 5 {
		for _, k := range keys {
			wg.Go(func() {
				v, err := GetOrSet(ctx, c, k, time.Minute, load(k))
				assert.NoError(t, err)
				assert.Equal(t, "value of "+k, v)
			})
		}
	}
	wg.Wait()
	for _, k := range keys {
		n, ok := loads.Load(k)
		require.True(t, ok, k)
		assert.Equal(t, int64(1), *(n.(*int64)), "loads of %s", k)
	}
	stats := c.CacheStats()
	assert.Zero(t, stats.RedisErrors)

	v, err := GetOrSet(ctx, c, "a", time.Minute, func(context.Context) (string, error) {
		t.Error("loaded although cached")
		return "", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "value of a", v)
	assert.Greater(t, c.CacheStats().Hits, stats.Hits)

	p, err := GetOrComputePrediction(ctx, c, "lstm", map[string]any{"x": 1}, time.Minute,
		func(context.Context) (float64, error) { return 0.25, nil })
	require.NoError(t, err)
	assert.Equal(t, 0.25, p)
	h, err := c.HashInput(map[string]any{"x": 1})
	require.NoError(t, err)
	var cached float64
	require.NoError(t, c.GetCachedModelPrediction(ctx, "lstm", h, &cached))
	assert.Equal(t, 0.25, cached)
}

// clusterInbox collects the messages of a subscription.
func clusterInbox() (Handler, <-chan Message) {
	ch := make(chan Message, 64)
	return func(ctx context.Context, m Message) error {
		select {
		case ch <- m:
		case <-ctx.Done():
		}
		return nil
	}, ch
}

func clusterRecv(t testing.TB, ch <-chan Message) Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return Message{}
	}
}

func TestClusterPubSub(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	// Channels whose slots belong to different masters: a classic
	// subscription sees messages published on any node.
	chans := spreadKeys(t, ctx, cc, top, "prices:", 1, keyUnder(c))
	require.GreaterOrEqual(t, len(serverSlots(t, ctx, cc, fullKeys(c, chans))), 2)

	h, inbox := clusterInbox()
	sub, err := c.Subscribe(ctx, h, chans...)
	require.NoError(t, err)
	defer sub.Close()
	ph, pinbox := clusterInbox()
	psub, err := c.PSubscribe(ctx, ph, "prices:*")
	require.NoError(t, err)
	defer psub.Close()

	type tick struct {
		Symbol string
		Price  float64
	}
	for i, ch := range chans {
		_, err := c.Publish(ctx, ch, tick{ch, float64(i)})
		require.NoError(t, err)
	}
	got := map[string]tick{}
	pgot := map[string]string{}
	for range chans {
		m := clusterRecv(t, inbox)
		var v tick
		require.NoError(t, m.Decode(&v))
		got[m.Channel] = v
		pm := clusterRecv(t, pinbox)
		pgot[pm.Channel] = pm.Pattern
	}
	for i, ch := range chans {
		assert.Equal(t, tick{ch, float64(i)}, got[ch])
		assert.Equal(t, "prices:*", pgot[ch])
	}
}

func TestClusterHealth(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	top := clusterTopologyOf(t, ctx, clusterOf(t, c))

	r := c.Health(ctx)
	assert.Equal(t, StatusHealthy, r.Status, "problems: %v", r.Problems)
	assert.True(t, r.Connected)
	assert.Equal(t, "cluster", r.Deployment)
	assert.Equal(t, "ok", r.ClusterState)
	assert.Empty(t, r.Error)
	require.Len(t, r.Nodes, clusterMasters)
	var addrs []string
	var used int64
	for _, n := range r.Nodes {
		addrs = append(addrs, n.Address)
		assert.True(t, n.Connected, n.Address)
		assert.Empty(t, n.Error, n.Address)
		assert.Equal(t, "master", n.Role, n.Address)
		assert.NotEmpty(t, n.Version, n.Address)
		assert.Positive(t, n.MemoryUsed, n.Address)
		used += n.MemoryUsed
	}
	assert.Equal(t, top.masters, addrs, "one entry per master")
	assert.Equal(t, used, r.MemoryUsed, "report sums the masters")

	rec := httptest.NewRecorder()
	c.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	var body struct {
		Status       string `json:"status"`
		ClusterState string `json:"cluster_state"`
		Nodes        []struct {
			Address   string `json:"address"`
			Connected bool   `json:"connected"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	assert.Equal(t, "healthy", body.Status)
	assert.Equal(t, "ok", body.ClusterState)
	assert.Len(t, body.Nodes, clusterMasters)
}

func TestClusterFromEnvironment(t *testing.T) {
	addrs := testkit.RequireEnv(t, testkit.EnvClusterAddrs)
	clearRedisEnv(t)
	t.Setenv(EnvClusterAddrs, addrs)
	t.Setenv(EnvNamespace, uniqueNamespace(t))
	opts, err := OptionsFromEnv()
	require.NoError(t, err)
	c, err := New(opts)
	require.NoError(t, err)
	ctx := testCtx(t)
	t.Cleanup(func() {
		_, _ = c.FlushNamespace(context.Background())
		_ = c.Close()
	})
	clusterOf(t, c)
	require.NoError(t, c.Set(ctx, "k", "v", time.Minute))
	var v string
	require.NoError(t, c.Get(ctx, "k", &v))
	assert.Equal(t, "v", v)
}

// clearRedisEnv blanks every variable OptionsFromEnv reads, for the test.
func clearRedisEnv(t *testing.T) {
	for _, name := range []string{EnvURL, EnvAddr, EnvHost, EnvPort, EnvUsername, EnvPassword, EnvDB,
		EnvNamespace, EnvDefaultTTL, EnvPoolSize, EnvClusterAddrs, EnvSentinelMaster, EnvSentinelAddrs, EnvSentinelPassword} {
		t.Setenv(name, "")
	}
}

// Unit tests: how options and the environment choose the deployment.

func TestClusterAndSentinelClientTypes(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want deployment
	}{
		{"addrs", Options{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}, cluster},
		{"one addr in Addrs", Options{Addrs: []string{"127.0.0.1:1"}}, cluster},
		{"cluster mode with Addr", Options{Addr: "127.0.0.1:1", ClusterMode: true}, cluster},
		{"cluster URL", Options{URL: "redis://127.0.0.1:1?addr=127.0.0.1:2", ClusterMode: true}, cluster},
		{"sentinel", Options{MasterName: "mymaster", SentinelAddrs: []string{"127.0.0.1:1"}, DB: 2}, sentinel},
		{"standalone", Options{Addr: "127.0.0.1:1"}, standalone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tc.want, c.shared.deploy)
			assert.Equal(t, tc.want == cluster, c.isCluster())
			uo := c.shared.opts.universal()
			switch tc.want {
			case cluster:
				assert.IsType(t, &redis.ClusterClient{}, c.Redis())
				assert.True(t, uo.IsClusterMode)
				assert.NotEmpty(t, uo.Addrs)
			case sentinel:
				assert.IsType(t, &redis.Client{}, c.Redis())
				assert.Equal(t, "mymaster", uo.MasterName)
				assert.Equal(t, tc.opts.SentinelAddrs, uo.Addrs)
				assert.Equal(t, 2, uo.DB)
			default:
				assert.IsType(t, &redis.Client{}, c.Redis())
				assert.False(t, uo.IsClusterMode)
			}
		})
	}
	o, err := Options{Addr: "127.0.0.1:7000", ClusterMode: true}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7000"}, o.universal().Addrs)
}

func TestClusterAndSentinelConflicts(t *testing.T) {
	sentinelOpts := Options{MasterName: "m", SentinelAddrs: []string{"s:1"}}
	cases := []struct {
		name string
		opts Options
		want []string
	}{
		{"sentinel and addrs", Options{MasterName: "m", SentinelAddrs: []string{"s:1"}, Addrs: []string{"a:1"}},
			[]string{"MasterName/SentinelAddrs", "ClusterMode/Addrs"}},
		{"sentinel and cluster mode", Options{MasterName: "m", SentinelAddrs: []string{"s:1"}, ClusterMode: true},
			[]string{"MasterName/SentinelAddrs", "ClusterMode/Addrs"}},
		{"sentinel addrs and cluster", Options{SentinelAddrs: []string{"s:1"}, Addrs: []string{"a:1"}},
			[]string{"MasterName", "SentinelAddrs"}},
		{"sentinel addrs alone", Options{SentinelAddrs: []string{"s:1"}}, []string{"MasterName", "SentinelAddrs"}},
		{"sentinel and addr", Options{MasterName: "m", SentinelAddrs: []string{"s:1"}, Addr: "a:1"},
			[]string{"Addr", "MasterName"}},
		{"sentinel and URL", Options{MasterName: "m", SentinelAddrs: []string{"s:1"}, URL: "redis://a:1"},
			[]string{"URL", "MasterName"}},
		{"cluster addrs and addr", Options{Addrs: []string{"a:1"}, Addr: "b:1"}, []string{"Addr", "Addrs"}},
		{"cluster addrs and URL", Options{Addrs: []string{"a:1"}, URL: "redis://b:1"}, []string{"URL", "Addrs"}},
		{"cluster DB", Options{ClusterMode: true, Addr: "a:1", DB: 1}, []string{"DB 1", "Cluster"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidOptions)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := New(sentinelOpts)
	require.NoError(t, err)
}

func TestClusterAndSentinelFromEnvLookup(t *testing.T) {
	o, err := optionsFromLookup(envFrom(map[string]string{
		EnvClusterAddrs: "10.0.0.1:7000,10.0.0.2:7000", EnvPassword: "pw", EnvNamespace: "svc",
	}))
	require.NoError(t, err)
	o, err = o.withDefaults()
	require.NoError(t, err)
	d, err := o.deployment()
	require.NoError(t, err)
	assert.Equal(t, cluster, d)
	assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7000"}, o.Addrs)
	assert.Equal(t, "pw", o.Password)
	assert.Empty(t, o.Addr, "no standalone address next to the cluster seeds")

	o, err = optionsFromLookup(envFrom(map[string]string{
		EnvSentinelMaster: "mymaster", EnvSentinelAddrs: " s1:26379 , s2:26379 ", EnvSentinelPassword: "sp", EnvPassword: "mp", EnvDB: "3",
	}))
	require.NoError(t, err)
	o, err = o.withDefaults()
	require.NoError(t, err)
	d, err = o.deployment()
	require.NoError(t, err)
	assert.Equal(t, sentinel, d)
	uo := o.universal()
	assert.Equal(t, "mymaster", uo.MasterName)
	assert.Equal(t, []string{"s1:26379", "s2:26379"}, uo.Addrs)
	assert.Equal(t, "sp", uo.SentinelPassword)
	assert.Equal(t, "mp", uo.Password)
	assert.Equal(t, 3, uo.DB)
	assert.Empty(t, o.Addr)
}

func TestClusterAndSentinelEnvConflicts(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{EnvClusterAddrs: "a:1", EnvSentinelMaster: "m", EnvSentinelAddrs: "s:1"},
			[]string{EnvClusterAddrs, EnvSentinelMaster}},
		{map[string]string{EnvURL: "redis://h:1", EnvClusterAddrs: "a:1"}, []string{EnvURL, EnvClusterAddrs}},
		{map[string]string{EnvAddr: "h:1", EnvClusterAddrs: "a:1"}, []string{EnvAddr, EnvClusterAddrs}},
		{map[string]string{EnvHost: "h", EnvClusterAddrs: "a:1"}, []string{EnvHost, EnvClusterAddrs}},
		{map[string]string{EnvPort: "6380", EnvClusterAddrs: "a:1"}, []string{EnvPort, EnvClusterAddrs}},
		{map[string]string{EnvURL: "redis://h:1", EnvSentinelMaster: "m", EnvSentinelAddrs: "s:1"}, []string{EnvURL, EnvSentinelMaster}},
		{map[string]string{EnvAddr: "h:1", EnvSentinelMaster: "m", EnvSentinelAddrs: "s:1"}, []string{EnvAddr, EnvSentinelMaster}},
		{map[string]string{EnvPort: "6380", EnvSentinelMaster: "m", EnvSentinelAddrs: "s:1"}, []string{EnvPort, EnvSentinelMaster}},
		{map[string]string{EnvSentinelAddrs: "s:1"}, []string{EnvSentinelAddrs, EnvSentinelMaster}},
		{map[string]string{EnvSentinelAddrs: "s:1", EnvClusterAddrs: "a:1"}, []string{EnvSentinelAddrs, EnvSentinelMaster}},
		{map[string]string{EnvSentinelMaster: "m"}, []string{EnvSentinelMaster, EnvSentinelAddrs}},
		{map[string]string{EnvSentinelMaster: "m", EnvSentinelAddrs: "s1:1,nohostport"}, []string{EnvSentinelAddrs, "host:port"}},
		{map[string]string{EnvClusterAddrs: "a:1,,b"}, []string{EnvClusterAddrs, "host:port"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.want, "+"), func(t *testing.T) {
			tc.env[EnvPassword] = "topsecret"
			tc.env[EnvSentinelPassword] = "sentinelsecret"
			_, err := optionsFromLookup(envFrom(tc.env))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidOptions)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "topsecret")
			assert.NotContains(t, err.Error(), "sentinelsecret")
		})
	}
}

func TestClusterClientErrorsNameKeys(t *testing.T) {
	// Keys and errors on a cluster client are those of any client: the
	// deployment changes routing, not the contract.
	c, err := New(Options{Addrs: []string{"127.0.0.1:1"}, Namespace: "ns", DialTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = c.Set(ctx, "k", "v", time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set ns:k")
	_, err = c.Delete(ctx, "a", "b")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "delete ns:a (and 1 more)")
}
