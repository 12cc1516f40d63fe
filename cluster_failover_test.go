package redisclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/redisinfo"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// The tests in this file kill cluster masters, so each starts a cluster of
// its own with scripts/servers.sh (testkit.StartServers: in a state
// directory of its own, stopped when the test ends): the "ha-cluster" kind, three masters with a replica
// each and cluster-node-timeout 2000, or the plain 3-master "cluster" kind.
// They run with REDISCLIENT_INTEGRATION=1, as scripts/test.sh sets it.

// ownCluster is a cluster a test started for itself.
type ownCluster struct {
	t     testing.TB
	dir   string
	addrs []string // every node, the masters first
}

// startOwnCluster starts a cluster of the given servers.sh kind ("cluster"
// or "ha-cluster") and stops it when the test ends.
func startOwnCluster(t testing.TB, kind string) *ownCluster {
	t.Helper()
	dir, env := testkit.StartServers(t, kind)
	oc := &ownCluster{t: t, dir: dir}
	for k, v := range env {
		if strings.HasSuffix(k, "CLUSTER_ADDRS") {
			oc.addrs = strings.Split(v, ",")
		}
	}
	require.NotEmpty(t, oc.addrs, "no cluster addresses in %s/env", dir)
	return oc
}

// client returns a library client on the cluster, closed when the test ends.
func (oc *ownCluster) client(opts Options) *Client {
	oc.t.Helper()
	opts.Addrs = oc.addrs[:3]
	if opts.Namespace == "" {
		opts.Namespace = uniqueNamespace(oc.t)
	}
	c, err := New(opts)
	require.NoError(oc.t, err)
	oc.t.Cleanup(func() { _ = c.Close() })
	return c
}

// admin returns a plain go-redis client on one node, without the library.
func (oc *ownCluster) admin(addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1})
	oc.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// kill sends SIGKILL to the node at addr (a server this test started) and
// waits until it is gone.
func (oc *ownCluster) kill(ctx context.Context, addr string) {
	oc.t.Helper()
	admin := oc.admin(addr)
	info, err := admin.Info(ctx, "server").Result()
	require.NoError(oc.t, err)
	pid, err := strconv.Atoi(redisinfo.Parse(info)["process_id"])
	require.NoError(oc.t, err)
	require.NoError(oc.t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(oc.t, func() bool { return testkit.Ping(addr) != nil }, 10*time.Second, 10*time.Millisecond,
		"node %s (pid %d) still answers after SIGKILL", addr, pid)
}

// owners returns the master of each slot range as a live node reports them.
func (oc *ownCluster) owners(ctx context.Context, via string) (map[int]string, error) {
	slots, err := oc.admin(via).ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, r := range slots {
		out[r.Start] = r.Nodes[0].Addr
	}
	return out, nil
}

// keysOn splits names into those whose full key lives on master and the
// others (at least perSide of each), asking the cluster for the slots.
func keysOn(t testing.TB, ctx context.Context, cc *redis.ClusterClient, top *clusterTopology,
	master, prefix string, perSide int, full func(string) string) (on, off []string) {
	t.Helper()
	for i := 0; len(on) < perSide || len(off) < perSide; i++ {
		require.Less(t, i, 10000)
		name := prefix + strconv.Itoa(i)
		if top.ownerOf(t, ctx, cc, full(name)) == master {
			if len(on) < perSide {
				on = append(on, name)
			}
		} else if len(off) < perSide {
			off = append(off, name)
		}
	}
	return on, off
}

// failoverLoad is the traffic of TestClusterFailover: workers calling Set,
// Get, MGet and Incr on keys of the failed master ("dead") and of the others
// ("healthy"), each outcome kept with its time.
type failoverLoad struct {
	c              *Client
	healthy, dead  []string
	stop           chan struct{}
	stopOnce       sync.Once
	wg             sync.WaitGroup
	mu             sync.Mutex
	healthyUnavail []string    // ErrUnavailable on a healthy key: must stay empty
	healthyOther   []string    // other errors on healthy keys (CLUSTERDOWN while the cluster fails over)
	hiddenMisses   []string    // MGet: an existing key absent without an error naming it: must stay empty
	deadOK         []time.Time // successful writes to dead keys
	calls, fails   atomic.Int64
}

func (l *failoverLoad) run(ctx context.Context, workers int) {
	for w := range workers {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.step(ctx, w, i)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
}

func (l *failoverLoad) Stop() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *failoverLoad) step(ctx context.Context, w, i int) {
	pick := func(keys []string) string { return keys[(w*7+i)%len(keys)] }
	healthy, dead := pick(l.healthy), pick(l.dead)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch i % 4 {
	case 0:
		l.note("set", healthy, true, l.c.Set(ctx, healthy, i, time.Hour))
		if err := l.c.Set(ctx, dead, i, time.Hour); err == nil {
			l.mu.Lock()
			l.deadOK = append(l.deadOK, time.Now())
			l.mu.Unlock()
		} else {
			l.note("set", dead, false, err)
		}
	case 1:
		var v int
		l.note("get", healthy, true, l.c.Get(ctx, healthy, &v))
		l.note("get", dead, false, l.c.Get(ctx, dead, &v))
	case 2:
		keys := []string{healthy, dead, pick(l.healthy[1:]), pick(l.dead[1:]), "never-set"}
		got, err := MGet[int](ctx, l.c, keys...)
		l.checkMGet(keys, got, err)
		hk := []string{healthy, pick(l.healthy[1:])}
		got, err = MGet[int](ctx, l.c, hk...)
		l.checkMGet(hk, got, err)
		l.note("mget", strings.Join(hk, ","), true, err)
	case 3:
		_, err := l.c.Incr(ctx, healthy, 1)
		l.note("incr", healthy, true, err)
		_, err = l.c.Incr(ctx, dead, 1)
		l.note("incr", dead, false, err)
	}
}

// note records the outcome of a call on a healthy or dead key.
func (l *failoverLoad) note(op, key string, healthy bool, err error) {
	l.calls.Add(1)
	if err == nil || errors.Is(err, ErrNotFound) {
		return
	}
	l.fails.Add(1)
	if !healthy {
		return
	}
	line := fmt.Sprintf("%s %s %s: %v", time.Now().Format("15:04:05.000"), op, key, err)
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(err, ErrUnavailable) {
		l.healthyUnavail = append(l.healthyUnavail, line)
	} else {
		l.healthyOther = append(l.healthyOther, line)
	}
}

// checkMGet: every key but "never-set" exists, so each must come back, or
// the call must fail, or the *BatchError must name it as failed.
func (l *failoverLoad) checkMGet(keys []string, got map[string]int, err error) {
	var be *BatchError
	isBatch := errors.As(err, &be)
	for _, k := range keys {
		if _, ok := got[k]; ok || k == "never-set" {
			continue
		}
		switch {
		case err == nil:
		case isBatch:
			if _, failed := be.Failed[k]; failed {
				continue
			}
		default:
			continue // the whole call failed: nothing was claimed absent
		}
		l.mu.Lock()
		l.hiddenMisses = append(l.hiddenMisses, fmt.Sprintf("%s missing, err %v", k, err))
		l.mu.Unlock()
	}
}

// TestClusterFailover kills a master of a 6-node cluster under load. The
// other masters' keys never see ErrUnavailable (the breaker is per node);
// the dead master's keys work again soon after its replica takes over (the
// slot map is re-read on failures); MGet never reports an existing key
// absent; a subscription on the dead master resumes.
func TestClusterFailover(t *testing.T) {
	oc := startOwnCluster(t, "ha-cluster")
	ctx := testCtx(t)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	c := oc.client(Options{})
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	victim := top.masters[1]
	var survivor string
	for _, m := range top.masters {
		if m != victim {
			survivor = m
		}
	}
	dead, healthy := keysOn(t, ctx, cc, top, victim, "k", 6, keyUnder(c))
	for i, k := range append(slices.Clone(dead), healthy...) {
		require.NoError(t, c.Set(ctx, k, i, time.Hour))
	}

	// A subscription whose connection is on the victim: the channel's slot
	// is the victim's. A publisher sends a sequence number every 10 ms.
	chans, _ := keysOn(t, ctx, cc, top, victim, "ch", 1, keyUnder(c))
	channel := chans[0]
	var lastSeen atomic.Int64 // UnixNano of the last message received
	var reconnected atomic.Int64
	sub, err := c.SubscribeWith(ctx, SubscribeOptions{
		OnReconnect: func() { reconnected.CompareAndSwap(0, time.Now().UnixNano()) },
	}, func(context.Context, Message) error {
		lastSeen.Store(time.Now().UnixNano())
		return nil
	}, channel)
	require.NoError(t, err)
	defer sub.Close()
	stopPub := make(chan struct{})
	var pubWG sync.WaitGroup
	pubWG.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopPub:
				return
			case <-time.After(10 * time.Millisecond):
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			_, _ = c.Publish(pctx, channel, i)
			pcancel()
		}
	})
	defer func() { close(stopPub); pubWG.Wait() }()
	require.Eventually(t, func() bool { return lastSeen.Load() != 0 }, 10*time.Second, 10*time.Millisecond, "no message before the kill")

	l := &failoverLoad{c: c, healthy: healthy, dead: dead, stop: make(chan struct{})}
	l.run(ctx, 8)
	defer l.Stop()
	time.Sleep(500 * time.Millisecond)

	killed := time.Now()
	oc.kill(ctx, victim)

	// Promotion: the moment a survivor reports the victim's slots on another
	// node.
	var victimSlots []int
	owners, err := oc.owners(ctx, survivor)
	require.NoError(t, err)
	for start, owner := range owners {
		if owner == victim {
			victimSlots = append(victimSlots, start)
		}
	}
	require.NotEmpty(t, victimSlots)
	var promoted time.Time
	require.Eventually(t, func() bool {
		o, err := oc.owners(ctx, survivor)
		if err != nil {
			return false
		}
		for _, s := range victimSlots {
			if o[s] == victim || o[s] == "" {
				return false
			}
		}
		promoted = time.Now()
		return true
	}, 30*time.Second, 10*time.Millisecond, "the victim's replica never took over")

	// Dead slots: the first successful write after the promotion.
	const recoveryBound = 5 * time.Second
	var recovered time.Time
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, ok := range l.deadOK {
			if ok.After(promoted) {
				recovered = ok
				return true
			}
		}
		return false
	}, recoveryBound+5*time.Second, 5*time.Millisecond, "no write to the dead master's slots succeeded after the promotion")
	// Subscription: a message received after the promotion.
	require.Eventually(t, func() bool { return lastSeen.Load() > promoted.UnixNano() }, recoveryBound+5*time.Second, 5*time.Millisecond,
		"the subscription received nothing after the promotion")
	resumed := time.Unix(0, lastSeen.Load())
	resubscribed := time.Unix(0, reconnected.Load())
	time.Sleep(time.Second) // more load on the new topology
	l.Stop()

	t.Logf("killed %s; replica promoted +%v; dead slots written again +%v (%v after promotion); "+
		"subscription resubscribed +%v, first message +%v (%v after promotion)",
		victim, promoted.Sub(killed).Round(time.Millisecond), recovered.Sub(killed).Round(time.Millisecond),
		recovered.Sub(promoted).Round(time.Millisecond), resubscribed.Sub(killed).Round(time.Millisecond),
		resumed.Sub(killed).Round(time.Millisecond), resumed.Sub(promoted).Round(time.Millisecond))
	t.Logf("%d calls, %d failed; healthy keys: %d ErrUnavailable, %d other errors; MGet hid %d keys",
		l.calls.Load(), l.fails.Load(), len(l.healthyUnavail), len(l.healthyOther), len(l.hiddenMisses))
	for _, line := range firstLines(l.healthyOther, 5) {
		t.Logf("healthy-key error: %s", line)
	}
	assert.Empty(t, firstLines(l.healthyUnavail, 5), "ErrUnavailable on the healthy masters' keys")
	assert.Empty(t, firstLines(l.hiddenMisses, 5), "MGet reported existing keys absent without an error")
	assert.Less(t, recovered.Sub(promoted), recoveryBound, "dead slots recovered too late after the promotion")
	assert.Less(t, resumed.Sub(promoted), recoveryBound, "the subscription resumed too late after the promotion")
	assert.Equal(t, BreakerClosed, c.BreakerState(), "the dead master no longer counts once replaced")
}

func firstLines(lines []string, n int) []string {
	sort.Strings(lines)
	return lines[:min(n, len(lines))]
}

// TestClusterPartialFlushWithAMasterDown: a master of a cluster without
// replicas is killed; FlushNamespace, InvalidateModel and Scan still cover
// the two others and name the dead one. The cluster is told to keep serving
// the slots it still has (cluster-require-full-coverage no), as it would
// before it notices the failure.
func TestClusterPartialFlushWithAMasterDown(t *testing.T) {
	oc := startOwnCluster(t, "cluster")
	ctx := testCtx(t)
	for _, a := range oc.addrs {
		require.NoError(t, oc.admin(a).ConfigSet(ctx, "cluster-require-full-coverage", "no").Err())
	}
	c := oc.client(Options{})
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	victim := top.masters[0]
	on, off := keysOn(t, ctx, cc, top, victim, "k", 50, keyUnder(c))
	values := map[string]any{}
	for _, k := range append(slices.Clone(on), off...) {
		values[k] = 1
	}
	require.NoError(t, c.MSet(ctx, values, time.Hour))
	hashesOn, hashesOff := keysOn(t, ctx, cc, top, victim, "h", 20, keyUnder(c, "model", "m"))
	preds := map[string]any{}
	for _, h := range append(slices.Clone(hashesOn), hashesOff...) {
		preds[h] = 0.5
	}
	require.NoError(t, c.CacheModelPredictions(ctx, "m", preds, time.Hour))

	oc.kill(ctx, victim)

	var ce *ClusterError
	var scanned []string
	var scanErrs []error
	for k, err := range c.Scan(ctx, "k*") {
		if err != nil {
			scanErrs = append(scanErrs, err)
			continue
		}
		scanned = append(scanned, k)
	}
	require.Len(t, scanErrs, 1)
	require.ErrorAs(t, scanErrs[0], &ce)
	assert.Contains(t, ce.Failed, victim)
	assert.Len(t, ce.Done, 2)
	assert.ElementsMatch(t, off, scanned)

	got, err := MGet[int](ctx, c, append(slices.Clone(on[:3]), off[:3]...)...)
	var be *BatchError
	require.ErrorAs(t, err, &be)
	assert.ElementsMatch(t, on[:3], mapKeys(be.Failed))
	assert.Len(t, got, 3)

	n, err := c.InvalidateModel(ctx, "m")
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{victim}, mapKeys(ce.Failed))
	assert.Equal(t, int64(len(hashesOff)), n)

	n, err = c.FlushNamespace(ctx)
	require.Error(t, err)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{victim}, mapKeys(ce.Failed))
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "%v", err)
	assert.Equal(t, int64(len(off)), n, "the keys of the two live masters were removed")
	assert.Contains(t, err.Error(), victim)
	t.Logf("FlushNamespace with a master down: n=%d, %v", n, err)
	left := 0
	for range c.Scan(ctx, "*") {
		left++
	}
	assert.Equal(t, 1, left, "only the error is left: the live masters hold none of the keys")
}

func mapKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
