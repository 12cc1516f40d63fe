package redisclient

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// These tests run the library as the least-privilege users of
// deploy/users.conf on a redis-server of their own.

const appPassword = "app-Pa55word"

// exerciseAPI calls every public method of the client that talks to Redis,
// on keys and channels of its namespace, and fails the test on any error.
func exerciseAPI(t *testing.T, c *Client) {
	t.Helper()
	ctx := testCtx(t)
	type point struct{ X, Y int }
	must := func(what string, err error) {
		t.Helper()
		require.NoError(t, err, what)
	}

	must("Ping", c.Ping(ctx))
	must("Set", c.Set(ctx, "a", point{1, 2}, 0))
	must("Set NoExpiry", c.Set(ctx, "forever", "x", NoExpiry))
	var p point
	must("Get", c.Get(ctx, "a", &p))
	_, err := c.SetNX(ctx, "nx", "v", time.Minute)
	must("SetNX", err)
	_, err = c.SetNX(ctx, "nx-forever", "v", NoExpiry)
	must("SetNX NoExpiry", err)
	_, err = c.Exists(ctx, "a", "nx")
	must("Exists", err)
	_, err = c.Expire(ctx, "a", time.Hour)
	must("Expire", err)
	_, err = c.Expire(ctx, "a", NoExpiry)
	must("Expire NoExpiry", err)
	_, err = c.TTL(ctx, "a")
	must("TTL", err)
	_, err = c.Incr(ctx, "n", 2)
	must("Incr", err)
	_, err = c.Decr(ctx, "n", 1)
	must("Decr", err)
	must("MSet", c.MSet(ctx, map[string]any{"m1": 1, "m2": "two"}, time.Minute))
	_, err = MGet[string](ctx, c, "m1", "m2", "missing")
	must("MGet", err)
	for _, err := range c.Scan(ctx, "m*") {
		must("Scan", err)
	}
	_, err = c.Delete(ctx, "m1")
	must("Delete", err)

	_, err = c.HSet(ctx, "h", "f", 1)
	must("HSet", err)
	must("HSetMap", c.HSetMap(ctx, "h", map[string]any{"g": "x", "k": 2}))
	var s string
	must("HGet", c.HGet(ctx, "h", "g", &s))
	var hm map[string]string
	must("HGetAll", c.HGetAll(ctx, "h", &hm))
	_, err = c.HExists(ctx, "h", "f")
	must("HExists", err)
	_, err = c.HDel(ctx, "h", "f")
	must("HDel", err)

	_, err = c.LPush(ctx, "l", "a", "b")
	must("LPush", err)
	_, err = c.RPush(ctx, "l", "c")
	must("RPush", err)
	must("LPop", c.LPop(ctx, "l", &s))
	must("RPop", c.RPop(ctx, "l", &s))
	var ls []string
	must("LRange", c.LRange(ctx, "l", 0, -1, &ls))
	_, err = c.LLen(ctx, "l")
	must("LLen", err)
	must("LTrim", c.LTrim(ctx, "l", 0, 10))

	_, err = c.SAdd(ctx, "s", "a", "b")
	must("SAdd", err)
	must("SMembers", c.SMembers(ctx, "s", &ls))
	_, err = c.SIsMember(ctx, "s", "a")
	must("SIsMember", err)
	_, err = c.SRem(ctx, "s", "a")
	must("SRem", err)

	_, err = c.ZAdd(ctx, "z", 1, "a")
	must("ZAdd", err)
	_, err = c.ZIncrBy(ctx, "z", 2, "a")
	must("ZIncrBy", err)
	must("ZRange", c.ZRange(ctx, "z", 0, -1, true, &ls))
	_, err = c.ZRangeWithScores(ctx, "z", 0, -1, false)
	must("ZRangeWithScores", err)
	_, err = c.ZCard(ctx, "z")
	must("ZCard", err)
	_, err = c.ZRem(ctx, "z", "a")
	must("ZRem", err)

	_, err = GetOrSet(ctx, c, "gos", time.Minute, func(context.Context) (int, error) { return 7, nil })
	must("GetOrSet", err)
	h, err := c.HashInput(map[string]any{"x": 1})
	must("HashInput", err)
	must("CacheModelPrediction", c.CacheModelPrediction(ctx, "m", h, 0.5, 0))
	var f float64
	must("GetCachedModelPrediction", c.GetCachedModelPrediction(ctx, "m", h, &f))
	must("CacheModelPredictions", c.CacheModelPredictions(ctx, "m", map[string]any{"h1": 1.0, "h2": 2.0}, time.Minute))
	_, _, err = GetModelPredictions[float64](ctx, c, "m", []string{"h1", "h2", "h3"})
	must("GetModelPredictions", err)
	_, err = GetOrComputePrediction(ctx, c, "m2", []int{1}, time.Minute, func(context.Context) (float64, error) { return 1, nil })
	must("GetOrComputePrediction", err)
	_, err = c.InvalidateModel(ctx, "m")
	must("InvalidateModel", err)

	// Pub/sub: plain and pattern subscriptions receive what Publish sends.
	var got atomic.Int64
	handler := func(context.Context, Message) error { got.Add(1); return nil }
	sub, err := c.Subscribe(ctx, handler, "events")
	must("Subscribe", err)
	psub, err := c.PSubscribe(ctx, handler, "ev*")
	must("PSubscribe", err)
	sub2, err := c.SubscribeWith(ctx, SubscribeOptions{BufferSize: 8}, handler, "other")
	must("SubscribeWith", err)
	psub2, err := c.PSubscribeWith(ctx, SubscribeOptions{BufferSize: 8}, handler, "oth*")
	must("PSubscribeWith", err)
	_, err = c.Publish(ctx, "events", "hello")
	must("Publish", err)
	_, err = c.Publish(ctx, "other", 1)
	must("Publish", err)
	require.Eventually(t, func() bool { return got.Load() == 4 }, 10*time.Second, 10*time.Millisecond, "messages received: %d", got.Load())
	for _, s := range []*Subscription{sub, psub, sub2, psub2} {
		must("Subscription.Close", s.Close())
	}

	// Streams: add, count, consume with a retry and a dead letter.
	st := c.Stream("orders")
	for _, v := range []string{"a", "bad", "b"} {
		_, err = st.Add(ctx, v)
		must("Stream.Add", err)
	}
	_, err = st.Len(ctx)
	must("Stream.Len", err)
	cons, err := st.Consume(ctx, "g", "c1", func(_ context.Context, m StreamMessage) error {
		if string(m.Payload) == "bad" {
			return errors.New("bad message")
		}
		return nil
	}, ConsumeOptions{MaxDeliveries: 2, RetryDelay: -1, OnError: func(error) {}})
	must("Stream.Consume", err)
	require.Eventually(t, func() bool {
		s := cons.Stats()
		return s.Acked == 2 && s.DeadLettered == 1
	}, 10*time.Second, 10*time.Millisecond, "consumer stats: %+v", cons.Stats())
	must("Consumer.Close", cons.Close())

	rep := c.Health(ctx)
	assert.Equal(t, StatusHealthy, rep.Status, "%+v", rep)
	assert.Empty(t, rep.Notes)
	rec := httptest.NewRecorder()
	c.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	// Views share the pool and the permissions.
	must("Namespace view", c.Namespace("child").Set(ctx, "k", 1, 0))
	must("HashTag view", c.HashTag("tag").Set(ctx, "k", 1, 0))
	must("WithSerializer view", c.WithSerializer(JSONSerializer{}).Set(ctx, "j", map[string]int{"a": 1}, 0))
	must("WithDefaultTTL view", c.WithDefaultTTL(time.Minute).Set(ctx, "t", 1, 0))
	_, err = c.FlushNamespace(ctx)
	must("FlushNamespace", err)
}

// TestMinimalACLUserRunsTheWholeAPI runs every public call as the library
// user of deploy/users.conf, on DB 0 and on DB 1 (with +select), and checks
// that the server logged no denied command and that it ran every command
// the rule allows: the rule is enough, and nothing in it is unused.
func TestMinimalACLUserRunsTheWholeAPI(t *testing.T) {
	testkit.NeedSuite(t)
	// The patterns exerciseAPI subscribes to, as deploy/users.conf says.
	patterns := []string{"&trading:ev*", "&trading:oth*"}
	user := testkit.DeployUser(t, "redisclient", appPassword, patterns...)
	userDB1 := strings.Replace(testkit.DeployUser(t, "redisclient", appPassword, append(patterns, "+select")...), "user redisclient", "user redisclient-db1", 1)
	srv := testkit.StartServer(t, testkit.Config{Lines: []string{user, userDB1}})

	for _, tc := range []struct {
		user string
		db   int
	}{{"redisclient", 0}, {"redisclient-db1", 1}} {
		t.Run(tc.user, func(t *testing.T) {
			c, err := New(Options{Addr: srv.Addr(), Username: tc.user, Password: appPassword, DB: tc.db})
			require.NoError(t, err)
			defer c.Close()
			exerciseAPI(t, c)
			assert.Empty(t, srv.ACLLog(t), "commands denied to %s", tc.user)
		})
	}

	ran := srv.CommandsRun(t)
	for _, cmd := range testkit.AllowedCommands(userDB1) {
		assert.Contains(t, ran, cmd, "the rule allows %s but no public call used it", cmd)
	}
	t.Logf("commands run: %s", strings.Join(ran, " "))
	assert.True(t, slices.Contains(ran, "hello"), "go-redis's handshake ran")
}

// The near cache's rules of deploy/users.conf are enough for it. Without
// them the health report says what to grant, and the log says it once
// rather than once per attempt.
func TestNearCacheACLUser(t *testing.T) {
	testkit.NeedSuite(t)
	nearCache := strings.Replace(testkit.DeployUser(t, "redisclient", appPassword, nearCacheRules...), "user redisclient", "user redisclient-near", 1)
	srv := testkit.StartServer(t, testkit.Config{Lines: []string{testkit.DeployUser(t, "redisclient", appPassword), nearCache}})
	ctx := testCtx(t)

	t.Run("granted", func(t *testing.T) {
		c, err := New(Options{Addr: srv.Addr(), Username: "redisclient-near", Password: appPassword, LocalCache: &LocalCacheOptions{}})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Set(ctx, "k", "1", 0))
		primeCache(t, ctx, c, "k", "1")
		other := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: "redisclient-near", Password: appPassword})
		defer other.Close()
		require.NoError(t, other.Set(ctx, c.Key("k"), "2", 0).Err())
		require.Eventually(t, func() bool { return !cached(c, "k") }, liveTimeout, time.Millisecond, "another client's write did not invalidate")
		h := c.Health(ctx).LocalCache
		require.NotNil(t, h)
		require.Len(t, h.Nodes, 1)
		assert.True(t, h.Tracking)
		assert.Empty(t, h.Nodes[0].Error)
		assert.Empty(t, srv.ACLLog(t), "commands denied with the near cache's rules")
	})

	t.Run("refused", func(t *testing.T) {
		srv.ResetACLLog(t)
		var logs testkit.Buffer
		c, err := New(Options{
			Addr: srv.Addr(), Username: "redisclient", Password: appPassword, LocalCache: &LocalCacheOptions{},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		require.NoError(t, err)
		defer c.Close()
		// Wait for a series of attempts (each is refused more than once),
		// backing off towards one a second.
		require.Eventually(t, func() bool { return srv.ACLDenials(t, "client|id") >= 20 }, liveTimeout, 50*time.Millisecond)
		h := c.Health(ctx).LocalCache
		require.NotNil(t, h)
		require.Len(t, h.Nodes, 1)
		assert.False(t, h.Tracking)
		assert.False(t, h.Nodes[0].Tracking)
		assert.Contains(t, h.Nodes[0].Error, "NOPERM")
		assert.Contains(t, h.Nodes[0].Error, "+client|id +client|tracking &__redis__:invalidate")
		assert.NotContains(t, h.Nodes[0].Error, appPassword)
		assert.Equal(t, 1, strings.Count(logs.String(), "near cache tracking connection lost"), "logged once per attempt:\n%s", logs.String())
		// The data path does not need tracking: reads go to Redis.
		require.NoError(t, c.Set(ctx, "k", "v", 0))
		var s string
		require.NoError(t, c.Get(ctx, "k", &s))
		assert.Equal(t, "v", s)
	})
}

// nearCacheRules are what deploy/users.conf says to add for the near cache.
var nearCacheRules = []string{"+client|id", "+client|tracking", "&__redis__:invalidate"}
