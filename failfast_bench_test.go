package redisclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// BenchmarkClusterDeadMaster measures calls on a cluster one of whose
// masters was killed (no replica takes over: the cluster keeps serving the
// other slots). It starts a cluster of its own.
//
//   - dead-key/breaker-off: a Get on the dead master's key with the breaker
//     disabled: the retry policy's 3 refused dials and its backoff.
//   - dead-key/breaker-open: the same Get once the node's breaker is open.
//   - live-key: a Get on another master's key meanwhile.
//   - mget-live-and-dead: MGet of a key of each, breaker off and open.
//   - stalled-key/breaker-off: a Get on the key of a master that accepts
//     connections but does not answer (CLIENT PAUSE): 3 read timeouts.
func BenchmarkClusterDeadMaster(b *testing.B) {
	oc := startOwnCluster(b, "cluster")
	ctx := context.Background()
	for _, a := range oc.addrs {
		require.NoError(b, oc.admin(a).ConfigSet(ctx, "cluster-require-full-coverage", "no").Err())
	}
	ns := uniqueNamespace(b)
	open := oc.client(Options{Namespace: ns, Breaker: BreakerOptions{Cooldown: time.Hour}})
	off := oc.client(Options{Namespace: ns, Breaker: BreakerOptions{Threshold: -1}})
	cc := clusterOf(b, open)
	top := clusterTopologyOf(b, ctx, cc)
	victim := top.masters[0]
	dead, live := keysOn(b, ctx, cc, top, victim, "k", 1, keyUnder(open))
	for _, c := range []*Client{open, off} {
		require.NoError(b, c.Set(ctx, dead[0], 1, time.Hour))
		require.NoError(b, c.Set(ctx, live[0], 1, time.Hour))
	}
	oc.kill(ctx, victim)
	for open.BreakerState() != BreakerOpen {
		_ = open.Get(ctx, dead[0], new(int))
	}

	get := func(b *testing.B, c *Client, key string, wantErr bool) {
		var v int
		for b.Loop() {
			err := c.Get(ctx, key, &v)
			if (err != nil) != wantErr {
				b.Fatalf("Get %s: %v", key, err)
			}
		}
	}
	b.Run("dead-key/breaker-off", func(b *testing.B) { get(b, off, dead[0], true) })
	b.Run("dead-key/breaker-open", func(b *testing.B) {
		if err := open.Get(ctx, dead[0], new(int)); !errors.Is(err, ErrUnavailable) {
			b.Fatal(err)
		}
		get(b, open, dead[0], true)
	})
	b.Run("live-key", func(b *testing.B) { get(b, open, live[0], false) })
	// MGet of a live and a dead key: the live one is read, the dead one
	// reported in the *BatchError.
	mget := func(b *testing.B, c *Client) {
		for b.Loop() {
			got, err := MGet[int](ctx, c, live[0], dead[0])
			var be *BatchError
			if !errors.As(err, &be) || len(got) != 1 {
				b.Fatalf("MGet: %v %v", got, err)
			}
		}
	}
	b.Run("mget-live-and-dead/breaker-off", func(b *testing.B) { mget(b, off) })
	b.Run("mget-live-and-dead/breaker-open", func(b *testing.B) { mget(b, open) })
	// A stalled master: connections open, no replies (CLIENT PAUSE).
	liveMaster := top.ownerOf(b, ctx, cc, open.Key(live[0]))
	require.NoError(b, oc.admin(liveMaster).Do(ctx, "CLIENT", "PAUSE", "600000", "ALL").Err())
	defer func() { _ = oc.admin(liveMaster).Do(ctx, "CLIENT", "UNPAUSE").Err() }()
	b.Run("stalled-key/breaker-off", func(b *testing.B) { get(b, off, live[0], true) })
}

// BenchmarkSentinelDeadMaster measures a Get through Sentinel once the
// master was killed, before the sentinel fails over (it is told to wait a
// minute): with the breaker disabled, and once it is open. It starts a
// master, a replica and a sentinel of its own.
func BenchmarkSentinelDeadMaster(b *testing.B) {
	_, env := testkit.StartServers(b, "sentinel")
	ctx := context.Background()
	master := env[testkit.EnvSentinelMaster]
	sentinels := strings.Split(env[testkit.EnvSentinelAddrs], ",")
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0]})
	defer sc.Close()
	require.NoError(b, sc.Set(ctx, master, "down-after-milliseconds", "60000").Err())
	ns := uniqueNamespace(b)
	clients := map[string]*Client{}
	for name, br := range map[string]BreakerOptions{"open": {Cooldown: time.Hour}, "off": {Threshold: -1}} {
		c, err := New(Options{MasterName: master, SentinelAddrs: sentinels, Namespace: ns, Breaker: br})
		require.NoError(b, err)
		defer c.Close()
		require.NoError(b, c.Set(ctx, "k", 1, time.Hour))
		clients[name] = c
	}
	oc := &ownCluster{t: b}
	oc.kill(ctx, env[testkit.EnvSentinelMasterAddr])
	for clients["open"].BreakerState() != BreakerOpen {
		_ = clients["open"].Get(ctx, "k", new(int))
	}
	for _, name := range []string{"off", "open"} {
		b.Run("breaker-"+name, func(b *testing.B) {
			var v int
			for b.Loop() {
				if err := clients[name].Get(ctx, "k", &v); err == nil {
					b.Fatal("Get succeeded with the master down")
				}
			}
		})
	}
}
