package redisclient

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// waitSyncedReplica waits until the sentinel sees the master's one replica
// in sync, so that it can fail over.
func waitSyncedReplica(t *testing.T, ctx context.Context, sc *redis.SentinelClient, name string) {
	t.Helper()
	var last atomic.Value
	if !assert.Eventually(t, func() bool {
		rs, err := sc.Replicas(ctx, name).Result()
		last.Store(fmt.Sprint(rs, err))
		return err == nil && len(rs) == 1 && rs[0]["flags"] == "slave" && rs[0]["master-link-status"] == "ok"
	}, time.Minute, 50*time.Millisecond) {
		t.Fatalf("no replica in sync: %v", last.Load())
	}
}

// requireTrackingOn waits until the near cache tracks exactly the server at
// addr, as Health reports it.
func requireTrackingOn(t *testing.T, c *Client, addr string) {
	t.Helper()
	var last atomic.Pointer[LocalCacheHealth]
	if !assert.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h := c.Health(ctx).LocalCache
		last.Store(h)
		return h != nil && h.Tracking && len(h.Nodes) == 1 && h.Nodes[0] == LocalCacheNode{Addr: addr, Tracking: true}
	}, 3*liveTimeout, 10*time.Millisecond) {
		t.Fatalf("tracking never moved to %s: %+v", addr, last.Load())
	}
}

// Sentinel failovers under load, the near cache on: a manual failover (the
// old master stays up and is demoted) and then a killed master. No read
// returns a value older than the last write acknowledged before it (by
// this client, or by another client earlier than the staleness bound), and
// after each failover the tracking connection is on the new master (Health
// says so) and another client's write there invalidates.
func TestLocalCacheSentinelFailover(t *testing.T) {
	_, env := testkit.StartServers(t, "sentinel")
	sentinels, name := strings.Split(env[testkit.EnvSentinelAddrs], ","), env[testkit.EnvSentinelMaster]
	first, second := env[testkit.EnvSentinelMasterAddr], env[testkit.EnvSentinelReplicaAddr]
	require.NotEmpty(t, first)
	require.NotEmpty(t, second)
	c := newTrackedClient(t, Options{SentinelAddrs: sentinels, MasterName: name,
		LocalCache: &LocalCacheOptions{MaxStaleness: time.Minute}})
	requireTrackingOn(t, c, first)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	other := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: name, SentinelAddrs: sentinels,
		MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = other.Close() })
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0], ReadTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = sc.Close() })

	// Keys "own<i>" are written by c: a read must return at least the last
	// value acknowledged before it began (read-your-writes). Keys
	// "other<i>" are written by another client: at least the last value
	// acknowledged staleBound before the read began. A write counts as
	// acknowledged once the replica has it (WAIT), so a failover keeps it;
	// once no replica is left, when it returns.
	const keys, staleBound = 4, 2 * time.Second
	type ack struct {
		v  int64
		at time.Time
	}
	var mu sync.Mutex
	acked := map[string][]ack{}
	floor := func(k string, before time.Time) int64 {
		mu.Lock()
		defer mu.Unlock()
		f := int64(-1)
		for _, a := range acked[k] {
			if a.at.Before(before) {
				f = a.v
			}
		}
		return f
	}
	var noReplica atomic.Bool
	write := func(k string, v int64) {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var rdb redis.UniversalClient = other
		if strings.HasPrefix(k, "own") {
			if c.Set(wctx, k, v, time.Hour) != nil {
				return
			}
			rdb = c.Redis()
		} else if other.Set(wctx, c.Key(k), v, time.Hour).Err() != nil {
			return
		}
		if !noReplica.Load() {
			if n, err := rdb.Do(wctx, "WAIT", 1, 1000).Int(); err != nil || n != 1 {
				return
			}
		}
		mu.Lock()
		acked[k] = append(acked[k], ack{v, time.Now()})
		mu.Unlock()
	}
	for i := range keys {
		write("own"+strconv.Itoa(i), 0)
		write("other"+strconv.Itoa(i), 0)
	}

	var stop atomic.Bool
	var reads, violations atomic.Int64
	var firstViolation atomic.Value
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 4))
		for v := int64(1); !stop.Load(); v++ {
			k := "own"
			if v%2 == 0 {
				k = "other"
			}
			write(k+strconv.Itoa(rng.IntN(keys)), v)
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
	})
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !stop.Load() {
				k := "other" + strconv.Itoa(rng.IntN(keys))
				if rng.IntN(2) == 0 {
					k = "own" + strconv.Itoa(rng.IntN(keys))
				}
				start := time.Now()
				f := floor(k, start)
				if !strings.HasPrefix(k, "own") {
					f = floor(k, start.Add(-staleBound))
				}
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				var v int64
				err := c.Get(rctx, k, &v)
				cancel()
				if err != nil {
					continue // during the failover
				}
				reads.Add(1)
				if v < f {
					violations.Add(1)
					firstViolation.CompareAndSwap(nil, fmt.Sprintf("%s: read %d, but %d was acknowledged before", k, v, f))
				}
			}
		})
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })

	// checkInvalidation: another client's write on the master reaches the
	// near cache through the new tracking connection.
	checkInvalidation := func(master string, round int) {
		t.Helper()
		k := "probe" + strconv.Itoa(round)
		var err error
		require.Eventually(t, func() bool { err = c.Set(ctx, k, "v1", time.Hour); return err == nil },
			time.Minute, 50*time.Millisecond, "the client never wrote to the new master: %v", err)
		primeCache(t, ctx, c, k, "v1")
		require.NoError(t, plainRedis(t, master).Set(ctx, c.Key(k), "v2", time.Hour).Err())
		require.Eventually(t, func() bool { return !cached(c, k) }, liveTimeout, time.Millisecond, "write on the new master %s did not invalidate", master)
		var s string
		require.NoError(t, c.Get(ctx, k, &s))
		require.Equal(t, "v2", s)
	}
	waitMaster := func(want string) {
		t.Helper()
		require.Eventually(t, func() bool {
			hp, err := sc.GetMasterAddrByName(ctx, name).Result()
			return err == nil && len(hp) == 2 && hp[0]+":"+hp[1] == want
		}, time.Minute, 20*time.Millisecond, "sentinel never promoted %s", want)
	}
	settle := func() { // readers and the writer go on with the new master
		t.Helper()
		n := reads.Load()
		require.Eventually(t, func() bool { return reads.Load() > n+200 }, time.Minute, 10*time.Millisecond)
		time.Sleep(staleBound + 500*time.Millisecond)
	}
	checkInvalidation(first, 0)
	time.Sleep(time.Second)

	// A manual failover: the old master stays up and becomes a replica.
	waitSyncedReplica(t, ctx, sc, name)
	require.NoError(t, sc.Failover(ctx, name).Err())
	waitMaster(second)
	requireTrackingOn(t, c, second)
	checkInvalidation(second, 1)
	settle()

	// The new master dies; the old one, now its replica, takes over.
	waitSyncedReplica(t, ctx, sc, name) // the demoted master, of the new one
	info, err := plainRedis(t, second).Info(ctx, "server").Result()
	require.NoError(t, err)
	pid, err := strconv.Atoi(redisinfo.Parse(info)["process_id"])
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitMaster(first)
	noReplica.Store(true)
	requireTrackingOn(t, c, first)
	checkInvalidation(first, 2)
	settle()

	stop.Store(true)
	wg.Wait()
	require.Zero(t, violations.Load(), "%v", firstViolation.Load())
	require.Positive(t, reads.Load())
	st := c.CacheStats()
	assert.Positive(t, st.LocalHits)
	assert.GreaterOrEqual(t, st.LocalFlushes, uint64(4), "tracking loss and return flush the cache")
	t.Logf("%d reads; %+v", reads.Load(), st)
}

// A master cut off from the sentinels but not from this client: the
// sentinels promote its replica and the client's commands follow them, but
// nothing closes the tracking connection on the old master, which would
// leave the near cache deaf to writes on the new one. The tracker asks the
// sentinels every PingInterval and moves. (The cut: the old master starts
// requiring a password, which connections already open keep, and the
// sentinels' connections are closed.)
func TestLocalCacheSentinelMasterCutOff(t *testing.T) {
	_, env := testkit.StartServers(t, "sentinel")
	sentinels, name := strings.Split(env[testkit.EnvSentinelAddrs], ","), env[testkit.EnvSentinelMaster]
	first, second := env[testkit.EnvSentinelMasterAddr], env[testkit.EnvSentinelReplicaAddr]
	c := newTrackedClient(t, Options{SentinelAddrs: sentinels, MasterName: name,
		LocalCache: &LocalCacheOptions{MaxStaleness: time.Minute, PingInterval: 100 * time.Millisecond}})
	requireTrackingOn(t, c, first)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0], ReadTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = sc.Close() })
	waitSyncedReplica(t, ctx, sc, name)

	old := plainRedis(t, first)
	require.NoError(t, old.ConfigSet(ctx, "requirepass", "cut-off-"+strconv.Itoa(rand.Int())).Err())
	clients, err := old.ClientList(ctx).Result()
	require.NoError(t, err)
	for line := range strings.Lines(clients) {
		f := infoFieldsSpaced(line)
		if strings.HasPrefix(f["name"], "sentinel-") {
			_ = old.Do(ctx, "CLIENT", "KILL", "ID", f["id"]).Err()
		}
	}
	require.Eventually(t, func() bool {
		hp, err := sc.GetMasterAddrByName(ctx, name).Result()
		return err == nil && len(hp) == 2 && hp[0]+":"+hp[1] == second
	}, time.Minute, 20*time.Millisecond, "sentinel never promoted %s", second)
	requireTrackingOn(t, c, second)

	var err2 error
	require.Eventually(t, func() bool { err2 = c.Set(ctx, "k", "v1", time.Hour); return err2 == nil },
		time.Minute, 50*time.Millisecond, "the client never wrote to the new master: %v", err2)
	primeCache(t, ctx, c, "k", "v1")
	require.NoError(t, plainRedis(t, second).Set(ctx, c.Key("k"), "v2", time.Hour).Err())
	require.Eventually(t, func() bool {
		var s string
		return c.Get(ctx, "k", &s) == nil && s == "v2"
	}, liveTimeout, time.Millisecond, "a write on the new master never reached the near cache")
}

// infoFieldsSpaced splits a CLIENT LIST line ("id=1 addr=... name=x").
func infoFieldsSpaced(line string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
