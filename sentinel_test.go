package redisclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// The integration tests in this file run against the master, replica and
// sentinel that scripts/servers.sh starts. TestSentinelFailover kills the
// master, so it comes last; the other tests ask the sentinel for the current
// master instead of trusting REDISCLIENT_TEST_SENTINEL_MASTER_ADDR, and keep
// working after a failover.

// sentinelEnv returns the sentinel addresses and the monitored master's name.
func sentinelEnv(t testing.TB) ([]string, string) {
	t.Helper()
	addrs := strings.Split(testkit.RequireEnv(t, testkit.EnvSentinelAddrs), ",")
	return addrs, testkit.RequireEnv(t, testkit.EnvSentinelMaster)
}

// newSentinelClient returns a client that finds its master through the
// integration sentinel, in a namespace of its own flushed when the test ends.
func newSentinelClient(t testing.TB, opts Options) *Client {
	t.Helper()
	opts.SentinelAddrs, opts.MasterName = sentinelEnv(t)
	if opts.Namespace == "" {
		opts.Namespace = uniqueNamespace(t)
	}
	c, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx), "sentinel master %s via %s", testkit.EnvSentinelMaster, testkit.EnvSentinelAddrs)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = c.FlushNamespace(ctx)
		_ = c.Close()
	})
	return c
}

// sentinelAdmin returns a plain connection to the first sentinel.
func sentinelAdmin(t testing.TB) (*redis.SentinelClient, string) {
	t.Helper()
	addrs, master := sentinelEnv(t)
	sc := redis.NewSentinelClient(&redis.Options{Addr: addrs[0], DialTimeout: time.Second, ReadTimeout: time.Second})
	t.Cleanup(func() { _ = sc.Close() })
	return sc, master
}

// currentMaster asks the sentinel for the master's address.
func currentMaster(t testing.TB, ctx context.Context, sc *redis.SentinelClient, name string) string {
	t.Helper()
	hp, err := sc.GetMasterAddrByName(ctx, name).Result()
	require.NoError(t, err)
	require.Len(t, hp, 2)
	return net.JoinHostPort(hp[0], hp[1])
}

// healthyReplica returns the address of a replica the sentinel considers in
// sync with the master. A deployment without one (a failover test already
// ran) cannot fail over again: restart it with scripts/servers.sh.
func healthyReplica(t testing.TB, ctx context.Context, sc *redis.SentinelClient, name string) string {
	t.Helper()
	replicas, err := sc.Replicas(ctx, name).Result()
	require.NoError(t, err)
	var ok []string
	for _, r := range replicas {
		if r["flags"] == "slave" && r["master-link-status"] == "ok" {
			ok = append(ok, net.JoinHostPort(r["ip"], r["port"]))
		}
	}
	if len(ok) == 0 {
		msg := fmt.Sprintf("no healthy replica of %s (%v): restart the sentinel set with scripts/servers.sh", name, replicas)
		testkit.Unavailable(t, "%s", msg)
	}
	sort.Strings(ok)
	return ok[0]
}

// plainRedis returns a go-redis client on one server, bypassing the sentinel.
func plainRedis(t testing.TB, addr string) *redis.Client {
	t.Helper()
	r := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// serverPort returns the port of the server behind a connection of rdb.
func serverPort(t testing.TB, ctx context.Context, rdb redis.Cmdable) string {
	t.Helper()
	info, err := rdb.InfoMap(ctx, "server").Result()
	require.NoError(t, err)
	return info["Server"]["tcp_port"]
}

// roleOf returns the first element of ROLE: "master" or "slave".
func roleOf(t testing.TB, ctx context.Context, rdb redis.UniversalClient) string {
	t.Helper()
	role, err := rdb.Do(ctx, "ROLE").Slice()
	require.NoError(t, err)
	require.NotEmpty(t, role)
	return fmt.Sprint(role[0])
}

func TestSentinelReadsAndWritesGoToMaster(t *testing.T) {
	c := newSentinelClient(t, Options{})
	ctx := testCtx(t)
	sc, name := sentinelAdmin(t)
	master := currentMaster(t, ctx, sc, name)
	if want := os.Getenv(testkit.EnvSentinelMasterAddr); want != "" && want != master {
		t.Logf("the master moved since start: %s, was %s", master, want)
	}
	replica := healthyReplica(t, ctx, sc, name)

	// The client's connections are on the master.
	assert.Equal(t, "master", roleOf(t, ctx, c.Redis()))
	_, port, _ := net.SplitHostPort(master)
	assert.Equal(t, port, serverPort(t, ctx, c.Redis()))

	// A write through the client is on the master itself...
	require.NoError(t, c.Set(ctx, "quote", "1.2345", time.Minute))
	direct, err := plainRedis(t, master).Get(ctx, c.Key("quote")).Result()
	require.NoError(t, err)
	assert.Equal(t, "1.2345", direct)
	// ...and reaches the replica, which refuses writes of its own.
	r := plainRedis(t, replica)
	assert.Equal(t, "slave", roleOf(t, ctx, r))
	assert.Eventually(t, func() bool { return r.Get(ctx, c.Key("quote")).Val() == "1.2345" },
		2*time.Second, 10*time.Millisecond)
	err = r.Set(ctx, c.Key("replica-write"), "x", time.Minute).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "READONLY")

	// A read through the client sees a write made on the master at once.
	require.NoError(t, plainRedis(t, master).Set(ctx, c.Key("direct"), "from master", time.Minute).Err())
	var got string
	require.NoError(t, c.Get(ctx, "direct", &got))
	assert.Equal(t, "from master", got)
}

func TestSentinelFeatures(t *testing.T) {
	c := newSentinelClient(t, Options{})
	ctx := testCtx(t)

	n, err := c.Incr(ctx, "counter", 3)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	_, err = c.HSet(ctx, "hash", "f", "v")
	require.NoError(t, err)
	require.NoError(t, c.MSet(ctx, map[string]any{"a": 1, "b": 2}, time.Minute))
	got, err := MGet[int](ctx, c, "a", "b", "c")
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 1, "b": 2}, got)

	require.NoError(t, c.CacheModelPredictions(ctx, "lstm", map[string]any{"h1": 0.1, "h2": 0.2}, time.Minute))
	found, missing, err := GetModelPredictions[float64](ctx, c, "lstm", []string{"h1", "h2", "h3"})
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"h1": 0.1, "h2": 0.2}, found)
	assert.Equal(t, []string{"h3"}, missing)
	v, err := GetOrSet(ctx, c, "lazy", time.Minute, func(context.Context) (string, error) { return "loaded", nil })
	require.NoError(t, err)
	assert.Equal(t, "loaded", v)

	inbox := make(chan Message, 1)
	sub, err := c.Subscribe(ctx, func(_ context.Context, m Message) error { inbox <- m; return nil }, "events")
	require.NoError(t, err)
	defer sub.Close()
	_, err = c.Publish(ctx, "events", "hello")
	require.NoError(t, err)
	select {
	case m := <-inbox:
		assert.Equal(t, "events", m.Channel)
		assert.Equal(t, "hello", string(m.Payload))
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}

	r := c.Health(ctx)
	assert.Equal(t, StatusHealthy, r.Status, "problems: %v", r.Problems)
	assert.Equal(t, "sentinel", r.Deployment)
	assert.Equal(t, "master", r.Role)
	assert.Empty(t, r.Nodes)

	removed, err := c.InvalidateModel(ctx, "lstm")
	require.NoError(t, err)
	assert.Equal(t, int64(2), removed)
	removed, err = c.FlushNamespace(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(5), removed) // counter, hash, a, b, lazy
}

func TestSentinelFromEnvironment(t *testing.T) {
	addrs, name := sentinelEnv(t)
	clearRedisEnv(t)
	t.Setenv(EnvSentinelMaster, name)
	t.Setenv(EnvSentinelAddrs, strings.Join(addrs, ","))
	t.Setenv(EnvNamespace, uniqueNamespace(t))
	opts, err := OptionsFromEnv()
	require.NoError(t, err)
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = c.FlushNamespace(context.Background())
		_ = c.Close()
	})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "v", time.Minute))
	var v string
	require.NoError(t, c.Get(ctx, "k", &v))
	assert.Equal(t, "v", v)
	assert.Equal(t, "master", roleOf(t, ctx, c.Redis()))
}

// failoverErrorKind sorts the errors seen while the master is gone.
func failoverErrorKind(err error) string {
	switch {
	case errors.Is(err, ErrUnavailable):
		return "breaker open"
	case errors.Is(err, context.DeadlineExceeded):
		return "call timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case strings.Contains(err.Error(), "READONLY"):
		return "READONLY (replica)"
	case errors.Is(err, syscall.ECONNRESET), strings.Contains(err.Error(), "EOF"):
		return "connection closed"
	}
	return err.Error()
}

// TestSentinelFailover kills the master and measures how long the client
// takes to write and read again, on the replica the sentinel promotes. It
// must stay the last sentinel test: the old master does not come back.
func TestSentinelFailover(t *testing.T) {
	c := newSentinelClient(t, Options{})
	sc, name := sentinelAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oldMaster := currentMaster(t, ctx, sc, name)
	replica := healthyReplica(t, ctx, sc, name)
	if want := os.Getenv(testkit.EnvSentinelReplicaAddr); want != "" && want != replica {
		t.Logf("replica is %s, servers.sh started %s", replica, want)
	}

	// Data written before the failover, acknowledged by the replica.
	require.NoError(t, c.Set(ctx, "before", "survives", time.Hour))
	acks, err := c.Redis().Do(ctx, "WAIT", 1, 2000).Int()
	require.NoError(t, err)
	require.Equal(t, 1, acks, "replica did not acknowledge the write")

	// Watch the sentinel to tell its part from the client's.
	type promotion struct {
		addr string
		at   time.Time
	}
	promoted := make(chan promotion, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for watchCtx.Err() == nil {
			hp, err := sc.GetMasterAddrByName(watchCtx, name).Result()
			if err == nil && len(hp) == 2 && net.JoinHostPort(hp[0], hp[1]) != oldMaster {
				promoted <- promotion{net.JoinHostPort(hp[0], hp[1]), time.Now()}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	// Kill the master. It answers nothing: the connection just closes.
	killed := time.Now()
	_ = plainRedis(t, oldMaster).Do(ctx, "SHUTDOWN", "NOSAVE", "NOW").Err()
	require.Eventually(t, func() bool {
		return plainRedis(t, oldMaster).Ping(ctx).Err() != nil
	}, 5*time.Second, 20*time.Millisecond, "master %s still answers after SHUTDOWN", oldMaster)

	// Keep writing and reading, each call bounded, until both succeed.
	const bound = 30 * time.Second
	kinds := map[string]int{}
	var lastErr error
	var followed time.Duration
	for i := 0; ; i++ {
		if since := time.Since(killed); since > bound {
			t.Fatalf("client did not follow the new master within %v (%d failed calls %v; last error: %v)", bound, i, kinds, lastErr)
		}
		callCtx, cancelCall := context.WithTimeout(ctx, 250*time.Millisecond)
		key := fmt.Sprintf("after:%d", i)
		err := c.Set(callCtx, key, i, time.Hour)
		if err == nil {
			var got int
			if err = c.Get(callCtx, key, &got); err == nil && got != i {
				err = fmt.Errorf("read %d back, want %d", got, i)
			}
		}
		cancelCall()
		if err == nil {
			followed = time.Since(killed)
			// The write went to the promoted replica.
			v, err := plainRedis(t, replica).Get(ctx, c.Key(key)).Int()
			require.NoError(t, err)
			assert.Equal(t, i, v)
			break
		}
		kinds[failoverErrorKind(err)]++
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}

	newMaster := currentMaster(t, ctx, sc, name)
	assert.Equal(t, replica, newMaster, "sentinel promoted another server")
	assert.Equal(t, "master", roleOf(t, ctx, c.Redis()))
	_, port, _ := net.SplitHostPort(replica)
	assert.Equal(t, port, serverPort(t, ctx, c.Redis()))
	var before string
	require.NoError(t, c.Get(ctx, "before", &before))
	assert.Equal(t, "survives", before)
	assert.Equal(t, BreakerClosed, c.BreakerState())
	r := c.Health(ctx)
	assert.Equal(t, StatusHealthy, r.Status, "problems: %v", r.Problems)
	assert.Equal(t, "master", r.Role)

	sentinelPart := "not seen"
	select {
	case p := <-promoted:
		assert.Equal(t, replica, p.addr)
		sentinelPart = fmt.Sprintf("%v (client %v later)", p.at.Sub(killed).Round(time.Millisecond), (followed - p.at.Sub(killed)).Round(time.Millisecond))
	default:
	}
	t.Logf("failover: client followed new master after %v (master %s killed, sentinel promoted %s after %s; failed calls meanwhile: %v)",
		followed.Round(time.Millisecond), oldMaster, newMaster, sentinelPart, kinds)
}
