package redisclient

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file make one master of the shared integration cluster
// fail, as a node that went down would, through a hook on its go-redis node
// client: the cluster itself stays healthy for the other tests. The tests
// that kill real masters are in cluster_failover_test.go.

// nodeFault fails the commands some cluster nodes receive, with a refused
// dial, while a rule says so.
type nodeFault struct {
	mu   sync.Mutex
	rule func(addr string, cmd redis.Cmder) bool
	hits atomic.Int64
}

// install adds the fault to every node client cc creates. It must run before
// cc's first command.
func (f *nodeFault) install(cc *redis.ClusterClient) {
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(faultHook{f, node.Options().Addr}) })
}

// set replaces the rule; nil lets everything through.
func (f *nodeFault) set(rule func(addr string, cmd redis.Cmder) bool) {
	f.mu.Lock()
	f.rule = rule
	f.mu.Unlock()
}

func (f *nodeFault) fails(addr string, cmd redis.Cmder) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rule != nil && f.rule(addr, cmd) {
		f.hits.Add(1)
		return true
	}
	return false
}

// failNode is a rule failing every command sent to addr.
func failNode(addr string) func(string, redis.Cmder) bool {
	return func(a string, _ redis.Cmder) bool { return a == addr }
}

type faultHook struct {
	f    *nodeFault
	addr string
}

func (h faultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h faultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.f.fails(h.addr, cmd) {
			cmd.SetErr(errRefused)
			return errRefused
		}
		return next(ctx, cmd)
	}
}

func (h faultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && h.f.fails(h.addr, cmds[0]) {
			for _, cmd := range cmds {
				cmd.SetErr(errRefused)
			}
			return errRefused
		}
		return next(ctx, cmds)
	}
}

// faultyCluster is a client on the shared cluster whose node clients carry
// f, with the breaker off so that the injected failures never open it.
func faultyCluster(t *testing.T) (*Client, *nodeFault, *clusterTopology) {
	t.Helper()
	f := &nodeFault{}
	c := newClusterClientWith(t, Options{Breaker: BreakerOptions{Threshold: -1}}, f.install)
	top := clusterTopologyOf(t, testCtx(t), clusterOf(t, c))
	return c, f, top
}

// byOwner splits names into those whose full key lives on master and the
// others.
func byOwner(t *testing.T, ctx context.Context, cc *redis.ClusterClient, top *clusterTopology,
	master string, names []string, full func(string) string) (on, off []string) {
	t.Helper()
	for _, n := range names {
		if top.ownerOf(t, ctx, cc, full(n)) == master {
			on = append(on, n)
		} else {
			off = append(off, n)
		}
	}
	require.NotEmpty(t, on)
	require.NotEmpty(t, off)
	return on, off
}

// absentKeyOff returns a name under full whose key does not live on master.
func absentKeyOff(t *testing.T, ctx context.Context, cc *redis.ClusterClient, top *clusterTopology,
	master string, full func(string) string) string {
	t.Helper()
	for _, n := range []string{"absent0", "absent1", "absent2", "absent3", "absent4", "absent5"} {
		if top.ownerOf(t, ctx, cc, full(n)) != master {
			return n
		}
	}
	t.Fatal("no absent key off the failing master")
	return ""
}

// TestClusterMGetNeverReportsUnreadKeysAbsent: on a cluster MGet is a
// pipeline of GETs. Its first command missing (redis.Nil) used to hide the
// failures of later ones, so the keys of a failed node came back absent with
// a nil error.
func TestClusterMGetNeverReportsUnreadKeysAbsent(t *testing.T) {
	c, f, top := faultyCluster(t)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	names := spreadKeys(t, ctx, cc, top, "k", 3, keyUnder(c))
	values := map[string]any{}
	for i, n := range names {
		values[n] = i
	}
	require.NoError(t, c.MSet(ctx, values, time.Minute))
	victim := top.masters[0]
	on, off := byOwner(t, ctx, cc, top, victim, names, keyUnder(c))
	absent := absentKeyOff(t, ctx, cc, top, victim, keyUnder(c))

	f.set(failNode(victim))
	got, err := MGet[int](ctx, c, append([]string{absent}, names...)...)
	require.Error(t, err, "keys of the failed master must not come back absent without an error")
	var be *BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "mget", be.Op)
	assert.ElementsMatch(t, on, slices.Collect(maps.Keys(be.Failed)))
	assert.ElementsMatch(t, append([]string{absent}, off...), be.Done)
	assert.ErrorIs(t, err, errRefused.Err, "the cause is reachable")
	assert.Len(t, got, len(off))
	for _, n := range off {
		assert.Equal(t, values[n], got[n], n)
	}
	for _, n := range on {
		assert.NotContains(t, got, n)
	}
	assert.Positive(t, f.hits.Load())

	f.set(nil)
	got, err = MGet[int](ctx, c, append([]string{absent}, names...)...)
	require.NoError(t, err)
	assert.Len(t, got, len(names))
}

func TestClusterGetModelPredictionsReportsUnreadHashes(t *testing.T) {
	c, f, top := faultyCluster(t)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	full := keyUnder(c, "model", "lstm")
	hashes := spreadKeys(t, ctx, cc, top, "h", 3, full)
	preds := map[string]any{}
	for i, h := range hashes {
		preds[h] = float64(i)
	}
	require.NoError(t, c.CacheModelPredictions(ctx, "lstm", preds, time.Minute))
	victim := top.masters[1]
	on, off := byOwner(t, ctx, cc, top, victim, hashes, full)
	absent := absentKeyOff(t, ctx, cc, top, victim, full)

	f.set(failNode(victim))
	found, missing, err := GetModelPredictions[float64](ctx, c, "lstm", append([]string{absent}, hashes...))
	require.Error(t, err)
	var be *BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "get predictions", be.Op)
	assert.ElementsMatch(t, on, slices.Collect(maps.Keys(be.Failed)))
	assert.Equal(t, []string{absent}, missing, "only the hash that was read and absent is missing")
	assert.Len(t, found, len(off))
	for _, h := range off {
		assert.Equal(t, preds[h], found[h], h)
	}
}

func TestClusterDeleteAndExistsReportUnreachedKeys(t *testing.T) {
	c, f, top := faultyCluster(t)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	names := spreadKeys(t, ctx, cc, top, "d", 2, keyUnder(c))
	values := map[string]any{}
	for _, n := range names {
		values[n] = 1
	}
	require.NoError(t, c.MSet(ctx, values, time.Minute))
	victim := top.masters[2]
	on, off := byOwner(t, ctx, cc, top, victim, names, keyUnder(c))

	f.set(failNode(victim))
	n, err := c.Exists(ctx, names...)
	var be *BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "exists", be.Op)
	assert.ElementsMatch(t, on, slices.Collect(maps.Keys(be.Failed)))
	assert.Equal(t, int64(len(off)), n)

	n, err = c.Delete(ctx, names...)
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "delete", be.Op)
	assert.ElementsMatch(t, on, slices.Collect(maps.Keys(be.Failed)))
	assert.ElementsMatch(t, off, be.Done)
	assert.Equal(t, int64(len(off)), n)

	f.set(nil)
	n, err = c.Exists(ctx, names...)
	require.NoError(t, err)
	assert.Equal(t, int64(len(on)), n, "the failed master's keys are still there")
}

// failFirstScanned returns a rule that fails every command sent to the first
// master that receives a SCAN, and reports which one it was.
func failFirstScanned() (func(string, redis.Cmder) bool, func() string) {
	var mu sync.Mutex
	var first string
	rule := func(addr string, cmd redis.Cmder) bool {
		mu.Lock()
		defer mu.Unlock()
		if first == "" && cmd.Name() == "scan" {
			first = addr
		}
		return addr == first
	}
	return rule, func() string {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
}

// TestClusterFlushNamespaceVisitsEveryReachableMaster: a master that cannot
// be reached used to end FlushNamespace there, leaving the masters not yet
// visited untouched (and reporting n=0 when it came first).
func TestClusterFlushNamespaceVisitsEveryReachableMaster(t *testing.T) {
	c, f, top := faultyCluster(t)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	names := spreadKeys(t, ctx, cc, top, "f", 20, keyUnder(c))
	values := map[string]any{}
	for _, n := range names {
		values[n] = "v"
	}
	require.NoError(t, c.MSet(ctx, values, time.Minute))
	pattern := escapeGlob(c.Key("")) + "*"
	before := masterKeyCounts(t, ctx, cc, pattern)

	rule, failed := failFirstScanned()
	f.set(rule)
	n, err := c.FlushNamespace(ctx)
	f.set(nil)
	victim := failed()
	require.NotEmpty(t, victim)
	require.Error(t, err)
	var ce *ClusterError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{victim}, slices.Collect(maps.Keys(ce.Failed)))
	var others []string
	for _, m := range top.masters {
		if m != victim {
			others = append(others, m)
		}
	}
	assert.Equal(t, others, ce.Done)
	assert.ErrorIs(t, err, errRefused.Err)
	assert.Contains(t, err.Error(), "flush namespace")
	assert.Contains(t, err.Error(), victim)

	after := masterKeyCounts(t, ctx, cc, pattern)
	assert.Equal(t, before[victim], after[victim], "the failed master kept its keys")
	removed := 0
	for _, m := range others {
		assert.Zero(t, after[m], "keys left on reachable master %s", m)
		removed += before[m]
	}
	assert.Equal(t, int64(removed), n, "n counts what was removed")
	assert.Contains(t, err.Error(), "keys removed")

	n, err = c.FlushNamespace(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(before[victim]), n)
}

func TestClusterInvalidateModelAndScanVisitEveryReachableMaster(t *testing.T) {
	c, f, top := faultyCluster(t)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	full := keyUnder(c, "model", "m")
	hashes := spreadKeys(t, ctx, cc, top, "h", 5, full)
	preds := map[string]any{}
	for _, h := range hashes {
		preds[h] = 1
	}
	require.NoError(t, c.CacheModelPredictions(ctx, "m", preds, time.Minute))

	// Scan yields the keys of every reachable master, then the error.
	rule, failed := failFirstScanned()
	f.set(rule)
	var keys []string
	var errs []error
	for k, err := range c.Scan(ctx, "model:m:*") {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, k)
	}
	f.set(nil)
	victim := failed()
	require.Len(t, errs, 1)
	var ce *ClusterError
	require.ErrorAs(t, errs[0], &ce)
	assert.Equal(t, []string{victim}, slices.Collect(maps.Keys(ce.Failed)))
	_, off := byOwner(t, ctx, cc, top, victim, hashes, full)
	want := make([]string, len(off))
	for i, h := range off {
		want[i] = "model:m:" + h
	}
	assert.ElementsMatch(t, want, keys)

	rule, failed = failFirstScanned()
	f.set(rule)
	n, err := c.InvalidateModel(ctx, "m")
	f.set(nil)
	require.ErrorAs(t, err, &ce)
	victim = failed()
	on, off := byOwner(t, ctx, cc, top, victim, hashes, full)
	assert.Equal(t, int64(len(off)), n)
	_, missing, err := GetModelPredictions[int](ctx, c, "m", hashes)
	require.NoError(t, err)
	assert.ElementsMatch(t, off, missing)
	assert.Len(t, on, len(hashes)-len(missing))
}

// TestBatchReadsOnAServerThatIsDown: when no key can be read the batch
// reads fail as a whole, naming the call, and report nothing missing.
func TestBatchReadsOnAServerThatIsDown(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: fastRetry, Breaker: BreakerOptions{Threshold: -1}})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "a", 1, 0))
	mr.Close()
	got, err := MGet[int](ctx, c, "a", "b")
	require.Error(t, err)
	assert.Empty(t, got)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "mget", e.Op)
	assert.True(t, isConnFailure(err), "%v", err)

	found, missing, err := GetModelPredictions[int](ctx, c, "m", []string{"h1", "h2"})
	require.Error(t, err)
	assert.Empty(t, found)
	assert.Empty(t, missing, "a prediction that could not be read is not missing")
	assert.False(t, errors.Is(err, ErrNotFound))
}

// TestClusterBreakerIsPerNode: a master that cannot be reached opens its own
// breaker only. Its keys fail fast with ErrUnavailable naming the node; the
// other masters' keys are untouched (the client-wide breaker used to fail
// them all in microseconds); the report and the stats show which node is
// open; its probe closes it once the node answers again.
func TestClusterBreakerIsPerNode(t *testing.T) {
	f := &nodeFault{}
	k := newTelemetryKit(t)
	c := newClusterClientWith(t, k.with(Options{Retry: fastRetry, Breaker: BreakerOptions{Threshold: 3, Cooldown: 200 * time.Millisecond}}), f.install)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	victim := top.masters[0]
	on, off := byOwner(t, ctx, cc, top, victim, spreadKeys(t, ctx, cc, top, "b", 2, keyUnder(c)), keyUnder(c))
	for _, k := range append(slices.Clone(on), off...) {
		require.NoError(t, c.Set(ctx, k, 1, time.Minute))
	}

	f.set(failNode(victim))
	var v int
	for c.BreakerState() == BreakerClosed {
		require.Error(t, c.Get(ctx, on[0], &v))
	}
	err := c.Get(ctx, on[0], &v)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "redis node "+victim+" unavailable")
	for range 100 {
		for _, k := range off {
			require.NoError(t, c.Get(ctx, k, &v), "a healthy master's key")
		}
	}
	assert.Equal(t, BreakerOpen, c.BreakerState(), "a master is open")
	states := c.NodeBreakers()
	assert.Equal(t, BreakerOpen, states[victim])
	for _, m := range top.masters[1:] {
		assert.Equal(t, BreakerClosed, states[m], m)
	}

	m := k.collect(t)
	assert.Equal(t, float64(BreakerOpen), m.sum("redisclient.breaker.state", "redisclient.node", victim))
	assert.Equal(t, 0.0, m.sum("redisclient.breaker.state", "redisclient.node", top.masters[1]))
	assert.Equal(t, 1.0, m.sum("redisclient.breaker.transitions", "redisclient.node", victim, "redisclient.breaker.state", "open"))
	assert.Equal(t, 0.0, m.sum("redisclient.breaker.transitions", "redisclient.node", top.masters[1]))

	r := c.Health(ctx)
	assert.Equal(t, BreakerOpen, r.Breaker)
	for _, n := range r.Nodes {
		want := BreakerClosed
		if n.Address == victim {
			want = BreakerOpen
		}
		assert.Equal(t, want, n.Breaker, n.Address)
	}
	assert.Contains(t, r.Problems, "node "+victim+": circuit breaker is open")

	f.set(nil)
	require.Eventually(t, func() bool { return c.Get(ctx, on[0], &v) == nil }, 10*time.Second, 10*time.Millisecond,
		"the probe never closed the node's breaker")
	assert.Equal(t, BreakerClosed, c.BreakerState())
	assert.Equal(t, StatusHealthy, c.Health(ctx).Status)
}
