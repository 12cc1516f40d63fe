package redisclient

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// Auto-pipelining against real servers: a fault proxy, the integration
// cluster and Sentinel. The fault tests of fault_test.go run with the
// default options, auto-pipelining included; these force the batch path.

// TestFaultAutoPipelineLostReplies: 32 goroutines read and write (batched)
// and increment (never batched) through a proxy that loses the reply of
// every INCRBY and of two GETs, cutting the connections of their batches.
// Every INCRBY reaches the server exactly once; the commands of a batch
// whose connection was cut are retried and succeed (two cuts cannot spend a
// command's three attempts).
func TestFaultAutoPipelineLostReplies(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	admin := adminClient(t, s.Addr())
	c := newFaultClient(t, p.Addr(), Options{Breaker: BreakerOptions{Threshold: -1}})
	ap, spy := forceBatching(t, c)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))

	var gets atomic.Int64
	p.SetRule(func(args []string) testkit.Action {
		switch args[0] {
		case "INCRBY":
			return testkit.Action{LoseReply: true}
		case "GET":
			n := gets.Add(1)
			return testkit.Action{LoseReply: n == 100 || n == 400}
		}
		return testkit.Action{}
	})
	var incrs atomic.Int64
	const goroutines, ops = 32, 30
	runConcurrently(t, goroutines, ops, func(g, i int) error {
		var s string
		if err := c.Get(ctx, "k", &s); err != nil || s != "v" {
			return fmt.Errorf("get: %q, %w", s, err)
		}
		if err := c.Set(ctx, fmt.Sprintf("g%d", g), i, 0); err != nil {
			return err
		}
		if i%5 == 0 {
			incrs.Add(1)
			_, err := c.Incr(ctx, "n", 1)
			if err == nil {
				return errors.New("INCRBY succeeded although its reply is lost")
			}
			if bad := surfacedProperly(err); bad != nil {
				return bad
			}
		}
		return nil
	})
	p.SetRule(nil)
	n, err := admin.Get(ctx, c.Key("n")).Int64()
	require.NoError(t, err)
	assert.Equal(t, incrs.Load(), p.Count("INCRBY"), "each INCRBY sent once: never retried")
	assert.Equal(t, incrs.Load(), n, "each INCRBY ran exactly once")
	_, incrPiped := spy.counts("incrby")
	assert.Zero(t, incrPiped, "INCRBY is never batched")
	assert.Greater(t, p.Count("GET"), int64(goroutines*ops), "batches that lost their connection were sent again")
	t.Logf("%d commands in %d batches; %d GETs reached the proxy for %d calls",
		ap.batched.Load(), ap.batches.Load(), p.Count("GET"), goroutines*ops)
	assert.NotZero(t, ap.batches.Load())
}

// TestFaultAutoPipelineStalledBatchesCountOnce: through a blackholed proxy
// every batch times out; each counts once against the breaker, not once per
// command.
func TestFaultAutoPipelineStalledBatchesCountOnce(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	const timeout = 300 * time.Millisecond
	c := newFaultClient(t, p.Addr(), Options{
		ReadTimeout: timeout, WriteTimeout: timeout, DialTimeout: timeout,
		Retry: RetryPolicy{Attempts: 1}, Breaker: BreakerOptions{Threshold: 1000},
	})
	forceBatching(t, c)
	ctx := testCtx(t)
	require.NoError(t, c.Ping(ctx))
	var batches atomic.Int64
	c.Redis().AddHook(pipelineCounter{&batches})

	p.SetBlackhole(true)
	const n = 32
	runConcurrently(t, n, 1, func(int, int) error {
		err := c.Get(ctx, "k", new(string))
		if err == nil || !isConnFailure(err) {
			return fmt.Errorf("want a timeout, got %v", err)
		}
		return nil
	})
	p.SetBlackhole(false)
	failures := c.shared.breaker.failures.Load()
	t.Logf("%d GETs timed out in %d batches; breaker count %d", n, batches.Load(), failures)
	assert.Equal(t, batches.Load(), failures, "one failure per batch")
	assert.Less(t, failures, int64(n/2))
}

// pipelineCounter counts the pipelines that reach it.
type pipelineCounter struct{ n *atomic.Int64 }

func (h pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestFaultAutoPipelineDeadlineWhileQueued: behind batches stalled by a
// slow link, a caller with a short deadline returns on time and its
// command is never sent.
func TestFaultAutoPipelineDeadlineWhileQueued(t *testing.T) {
	s := faultServer(t)
	p := testkit.NewFaultProxy(t, s.Addr())
	c := newFaultClient(t, p.Addr(), Options{ReadTimeout: 10 * time.Second})
	ap, spy := forceBatching(t, c)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0))
	// Open pipeline connections ahead (go-redis keeps a pool of them), so
	// that the slow batches below do not wait on a handshake.
	runConcurrently(t, 8, 50, func(int, int) error { return c.Get(ctx, "k", new(string)) })

	p.SetLatency(time.Second)
	slow := make(chan error, batchesInFlight)
	gets := p.Count("GET")
	for i := range batchesInFlight { // one at a time: a batch each
		go func() { slow <- c.Get(ctx, "k", new(string)) }()
		require.Eventually(t, func() bool { return p.Count("GET") == gets+int64(i+1) }, waitFor, time.Millisecond,
			"flusher %d waits on the slow link", i)
	}
	sets := p.Count("SET")
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Set(dctx, "late", "v", 0)
	took := time.Since(start)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, took, 800*time.Millisecond, "returned at its deadline, not with the stalled batch")
	for range batchesInFlight {
		require.NoError(t, <-slow)
	}
	p.SetLatency(0)
	require.NoError(t, c.Set(ctx, "after", "v", 0))
	assert.Equal(t, sets+1, p.Count("SET"), "the late SET was never sent")
	assert.Zero(t, spy.sent(c.Key("late")))
	assert.Zero(t, ap.single.queued())
	assert.Equal(t, BreakerClosed, c.BreakerState())
	t.Logf("SET with a 100ms deadline behind two stalled batches returned after %v", took)
}

// clusterLoad runs Set, Get, HSet, HGetAll and MGet from goroutines
// goroutines on keys spread over every master, checking each reply.
func clusterLoad(t *testing.T, c *Client, names []string, goroutines, ops int) {
	ctx := testCtx(t)
	runConcurrently(t, goroutines, ops, func(g, i int) error {
		k := names[(g*ops+i)%len(names)]
		v := g*1000 + i
		if err := c.Set(ctx, k, v, 0); err != nil {
			return err
		}
		var got int
		if err := c.Get(ctx, k, &got); err != nil {
			return err
		}
		if got/1000 >= goroutines || (got/1000 == g && got != v) {
			return fmt.Errorf("get %s = %d after setting %d", k, got, v)
		}
		if _, err := c.HSet(ctx, k+":h", "f", v); err != nil {
			return err
		}
		m := map[string]int{}
		if err := c.HGetAll(ctx, k+":h", &m); err != nil || len(m) != 1 {
			return fmt.Errorf("hgetall %s: %v, %w", k, m, err)
		}
		if err := c.Get(ctx, k+":missing", &got); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("get missing: %v", err)
		}
		return nil
	})
}

// TestClusterAutoPipeline: concurrent commands on a cluster are batched per
// master, and each caller gets its own reply.
func TestClusterAutoPipeline(t *testing.T) {
	c := newClusterClient(t, Options{})
	ap, _ := forceBatching(t, c)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	names := spreadKeys(t, ctx, cc, top, "k", 10, keyUnder(c))
	clusterLoad(t, c, names, 32, 50)
	nodes := 0
	ap.nodes.Range(func(addr, _ any) bool {
		nodes++
		assert.Contains(t, top.masters, addr)
		return true
	})
	assert.Equal(t, clusterMasters, nodes, "a batcher per master")
	batches, batched := ap.batches.Load(), ap.batched.Load()
	t.Logf("cluster: %d commands in %d batches", batched, batches)
	assert.Greater(t, float64(batched)/float64(batches), 1.5, "batches carry several commands")
	for addr, st := range c.NodeBreakers() {
		assert.Equal(t, BreakerClosed, st, addr)
	}
}

// TestClusterAutoPipelineStalledMaster: a master that stalls holds up only
// its own batches; the other masters' callers are answered meanwhile.
func TestClusterAutoPipelineStalledMaster(t *testing.T) {
	c := newClusterClient(t, Options{ReadTimeout: 5 * time.Second})
	forceBatching(t, c)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	victim := top.masters[0]
	stalled, live := keysOn(t, ctx, cc, top, victim, "k", 8, keyUnder(c))
	for _, k := range append(stalled, live...) {
		require.NoError(t, c.Set(ctx, k, k, 0))
	}
	admin := redis.NewClient(&redis.Options{Addr: victim})
	defer admin.Close()
	require.NoError(t, admin.Do(ctx, "client", "pause", 1500).Err())
	stalledDone := make(chan error, len(stalled))
	for _, k := range stalled {
		go func() { stalledDone <- c.Get(ctx, k, new(string)) }()
	}
	start := time.Now()
	runConcurrently(t, len(live), 20, func(g, _ int) error {
		var s string
		if err := c.Get(ctx, live[g], &s); err != nil || s != live[g] {
			return fmt.Errorf("get %s: %q, %w", live[g], s, err)
		}
		return nil
	})
	took := time.Since(start)
	assert.Less(t, took, time.Second, "the other masters' batches did not wait for the paused one")
	for range stalled {
		require.NoError(t, <-stalledDone, "the paused master answers once the pause ends")
	}
	t.Logf("%d×20 GETs on live masters took %v while %s was paused for 1.5s", len(live), took, victim)
}

// TestSentinelAutoPipeline: concurrent commands through Sentinel are
// batched to the master.
func TestSentinelAutoPipeline(t *testing.T) {
	c := newSentinelClient(t, Options{})
	ap, _ := forceBatching(t, c)
	ctx := testCtx(t)
	names := make([]string, 40)
	for i := range names {
		names[i] = fmt.Sprintf("k%d", i)
	}
	clusterLoad(t, c, names, 32, 50)
	batches, batched := ap.batches.Load(), ap.batched.Load()
	t.Logf("sentinel: %d commands in %d batches", batched, batches)
	assert.Greater(t, float64(batched)/float64(batches), 1.5, "batches carry several commands")
	sc, name := sentinelAdmin(t)
	master := plainRedis(t, currentMaster(t, ctx, sc, name))
	n, err := master.Exists(ctx, fullKeys(c, names)...).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(len(names)), n, "the batched writes reached the master")
	assert.Equal(t, BreakerClosed, c.BreakerState())
}
