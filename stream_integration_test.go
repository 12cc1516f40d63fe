package redisclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// TestStreamSurvivesRestartWithAOF: entries that Add acknowledged, the
// group, what it acknowledged and what it left pending all survive a crash
// (SIGKILL) and restart of a server with appendonly yes; a consumer running
// across a second crash carries on by itself. The server fsyncs every write
// (appendfsync always): with deploy/redis.conf's everysec, Redis postpones
// its writes to the AOF while an earlier fsync is still running, so on a
// busy disk a process crash loses up to 2 s of acknowledged writes (README,
// "Durable messaging"), which this test would see as lost entries.
func TestStreamSurvivesRestartWithAOF(t *testing.T) {
	srv := testkit.StartServer(t, testkit.Config{Args: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	c, err := New(Options{URL: srv.URL(), Namespace: uniqueNamespace(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx := testCtx(t)
	s := c.Stream("orders")
	const n = 100
	for i := range n {
		_, err := s.Add(ctx, i)
		require.NoError(t, err)
	}
	// Before the crash, the group handled the first 40 and a consumer that
	// then died took 10 more without acknowledging them.
	rdb := c.Redis()
	require.NoError(t, rdb.XGroupCreate(ctx, s.Key(), "g", "0").Err())
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "old", Streams: []string{s.Key(), ">"}, Count: 40}).Result()
	require.NoError(t, err)
	ids := make([]string, 0, 40)
	for _, m := range res[0].Messages {
		ids = append(ids, m.ID)
	}
	require.NoError(t, rdb.XAck(ctx, s.Key(), "g", ids...).Err())
	_, err = rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "crashed", Streams: []string{s.Key(), ">"}, Count: 10}).Result()
	require.NoError(t, err)

	srv.Stop() // SIGKILL: what Redis acknowledged was written to the AOF before the reply
	srv.Restart()

	var mu sync.Mutex
	seen := map[int]int{}
	// MinIdle well above a handler's run on a loaded machine, so the
	// consumer never reclaims what it is still working on.
	cs := consume(t, s, "g", "new", ConsumeOptions{MinIdle: 2 * time.Second}, func(_ context.Context, m StreamMessage) error {
		var v int
		if err := m.Decode(&v); err != nil {
			return err
		}
		mu.Lock()
		seen[v]++
		mu.Unlock()
		return nil
	})
	require.Eventually(t, func() bool { return cs.Stats().Acked == n-40 }, streamWait, 10*time.Millisecond, "%+v", cs.Stats())
	mu.Lock()
	for i := range n {
		want := 1
		if i < 40 {
			want = 0 // acknowledged before the crash
		}
		assert.Equal(t, want, seen[i], "message %d", i)
	}
	mu.Unlock()
	assert.EqualValues(t, 10, cs.Stats().Reclaimed, "the dead consumer's pending messages")

	// A crash while the consumer runs: it reconnects and recreates nothing.
	srv.Stop()
	srv.Restart()
	for i := n; i < n+20; i++ {
		require.Eventually(t, func() bool {
			_, err := s.Add(ctx, i)
			return err == nil
		}, streamWait, 20*time.Millisecond)
	}
	// At least once: an ack lost to the crash, or an Add retried after its
	// reply was lost, may deliver a message twice; none may be missing.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := n; i < n+20; i++ {
			if seen[i] == 0 {
				return false
			}
		}
		p, err := rdb.XPending(ctx, s.Key(), "g").Result()
		return err == nil && p.Count == 0
	}, streamWait, 10*time.Millisecond, "%+v", cs.Stats())
	require.NoError(t, cs.Close())
	assert.GreaterOrEqual(t, cs.Stats().Acked, uint64(n-40+20))
	assert.Zero(t, groupPending(t, c, s, "g"))
}

// clusterStreamOnTwoNodes returns a stream name whose key and dead-letter
// key live on different cluster nodes.
func clusterStreamOnTwoNodes(t *testing.T, c *Client) string {
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	for i := range 1000 {
		name := fmt.Sprintf("orders%d", i)
		s := c.Stream(name)
		if top.ownerOf(t, ctx, cc, s.Key()) != top.ownerOf(t, ctx, cc, s.Key()+DeadLetterSuffix) {
			return name
		}
	}
	t.Fatal("no stream name with its dead-letter stream on another node")
	return ""
}

func TestClusterStreams(t *testing.T) {
	c := newClusterClient(t, Options{})
	t.Run("shared", func(t *testing.T) { sharedNoLoss(t, c.Namespace("shared"), 1000) })

	t.Run("dead letter on another node", func(t *testing.T) {
		ctx := testCtx(t)
		s := c.Stream(clusterStreamOnTwoNodes(t, c))
		assert.NotEqual(t, KeySlot(s.Key()), KeySlot(s.Key()+DeadLetterSuffix))
		for _, v := range []string{"ok", "poison"} {
			_, err := s.Add(ctx, v)
			require.NoError(t, err)
		}
		cs := consume(t, s, "g", "w", ConsumeOptions{MaxDeliveries: 2, OnError: func(error) {}}, func(_ context.Context, m StreamMessage) error {
			if string(m.Payload) == "poison" {
				return errors.New("bad order")
			}
			return nil
		})
		require.Eventually(t, func() bool {
			st := cs.Stats()
			return st.Acked == 1 && st.DeadLettered == 1
		}, streamWait, 10*time.Millisecond)
		dead, err := c.Stream(s.Name() + DeadLetterSuffix).Len(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 1, dead)
		assert.Zero(t, groupPending(t, c, s, "g"))
	})

	t.Run("reclaim", func(t *testing.T) {
		ctx := testCtx(t)
		s := c.Stream("reclaim")
		_, err := s.Add(ctx, "x")
		require.NoError(t, err)
		require.NoError(t, c.Redis().XGroupCreate(ctx, s.Key(), "g", "0").Err())
		_, err = c.Redis().XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "crashed", Streams: []string{s.Key(), ">"}}).Result()
		require.NoError(t, err)
		cs := consume(t, s, "g", "w", ConsumeOptions{MinIdle: 100 * time.Millisecond}, func(context.Context, StreamMessage) error { return nil })
		require.Eventually(t, func() bool { return cs.Stats().Acked == 1 }, streamWait, 10*time.Millisecond)
		assert.EqualValues(t, 1, cs.Stats().Reclaimed)
	})

	t.Run("hash tag keeps the dead letters in the slot", func(t *testing.T) {
		s := c.HashTag("orders").Stream("fills")
		assert.Equal(t, KeySlot(s.Key()), KeySlot(s.Key()+DeadLetterSuffix))
	})
}
