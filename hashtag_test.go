package redisclient

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHashTagKeySlot(t *testing.T) {
	// Values from CLUSTER KEYSLOT on Redis 7.
	for key, want := range map[string]int{
		"":                     0,
		"foo":                  12182,
		"bar":                  5061,
		"hello":                866,
		"{user1000}.following": 3443,
		"{user1000}.followers": 3443,
		"foo{}{bar}":           8363, // empty tag: the whole key
		"foo{{bar}}zap":        4015, // the tag is "{bar"
		"foo{bar}{zap}":        5061, // the first tag only
		"{}":                   15257,
		"a{b":                  13340, // no closing brace: the whole key
	} {
		assert.Equal(t, want, KeySlot(key), "%q", key)
	}
}

func TestHashTagView(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	defer c.Close()

	user := c.HashTag("user42")
	require.NoError(t, user.Err())
	assert.Equal(t, "trading:{user42}", user.Name())
	assert.Equal(t, "trading:{user42}:orders", user.Key("orders"))
	slot := KeySlot("user42")
	for _, k := range []string{
		user.Key("orders"),
		user.Key("{other}:x"), // the view's tag comes first
		user.Namespace("positions").Key("AAPL"),
		c.Namespace("{user42}").Key("profile"),
		c.Key("{user42}:profile"),
	} {
		assert.Equal(t, slot, KeySlot(k), k)
	}
	pk, err := user.predictionKey("test", "lstm", "abc")
	require.NoError(t, err)
	assert.Equal(t, slot, KeySlot(pk))
	assert.NotEqual(t, KeySlot(c.Key("a")), KeySlot(c.Key("b")), "untagged keys spread")

	// A tag under a child namespace and with another separator.
	sc, err := New(Options{Namespace: "app", Separator: "/"})
	require.NoError(t, err)
	defer sc.Close()
	assert.Equal(t, "app/md/{EURUSD}/tick", sc.Namespace("md").HashTag("EURUSD").Key("tick"))
	assert.Equal(t, "app/{a:b}/k", sc.HashTag("a:b").Key("k"))
}

func TestHashTagInvalid(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	defer c.Close()
	braced, err := New(Options{Namespace: "app{"})
	require.NoError(t, err)
	defer braced.Close()
	ctx := context.Background()
	for name, v := range map[string]*Client{
		"empty":          c.HashTag(""),
		"open brace":     c.HashTag("a{b"),
		"close brace":    c.HashTag("a}b"),
		"braced":         c.HashTag("{a}"),
		"already tagged": c.HashTag("a").HashTag("b"),
		"tagged ns":      c.Namespace("{a}").HashTag("b"),
		"stray brace":    braced.HashTag("x"),
		"after error":    c.Namespace("").HashTag("x"),
	} {
		t.Run(name, func(t *testing.T) {
			require.Error(t, v.Err())
			assert.ErrorIs(t, v.Err(), ErrInvalidKey)
			err := v.Set(ctx, "k", "v", time.Minute)
			assert.ErrorIs(t, err, ErrInvalidKey)
		})
	}
	assert.Contains(t, c.HashTag("a").HashTag("b").Err().Error(), `hash by "a"`)
	assert.Contains(t, braced.HashTag("x").Err().Error(), `hash by ":{x"`)
	// A tag below a tagged namespace is allowed when it is the one in force.
	assert.NoError(t, c.HashTag("a").Namespace("b").Err())
}

func TestHashTagStandalone(t *testing.T) {
	// Off a cluster the braces are ordinary key characters.
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	user := c.HashTag("user42")
	require.NoError(t, user.MSet(ctx, map[string]any{"a": 1, "b": 2}, time.Minute))
	got, err := MGet[int](ctx, user, "a", "b")
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 1, "b": 2}, got)
	assert.True(t, mr.Exists("trading:{user42}:a"))
	n, err := user.FlushNamespace(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
}

func TestHashTagOnCluster(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)

	// KeySlot agrees with the server, tags and odd braces included.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteByte("ab{}:x"[rng.IntN(6)])
		}
		k := fmt.Sprintf("%s%d", b.String(), i)
		want, err := cc.ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err)
		require.Equal(t, int(want), KeySlot(k), "%q", k)
	}

	user := c.HashTag("user42")
	names := []string{"profile", "orders", "positions", "balance", "a", "b", "c"}
	full := fullKeys(user, names)
	slots := serverSlots(t, ctx, cc, full)
	require.Len(t, slots, 1, "tagged keys in one slot")
	for s := range slots {
		assert.Equal(t, int64(KeySlot("user42")), s)
	}
	// The same names without the tag are spread over slots.
	require.Greater(t, len(serverSlots(t, ctx, cc, fullKeys(c, names))), 1)

	// The client's calls work on the view as on any other.
	values := map[string]any{}
	for i, n := range names {
		values[n] = i
	}
	require.NoError(t, user.MSet(ctx, values, time.Minute))
	got, err := MGet[int](ctx, user, names...)
	require.NoError(t, err)
	assert.Len(t, got, len(names))

	// Multi-key commands through Redis() work on tagged keys...
	rdb := c.Redis()
	vals, err := rdb.MGet(ctx, full...).Result()
	require.NoError(t, err)
	assert.Equal(t, []any{"0", "1", "2", "3", "4", "5", "6"}, vals)
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.IncrBy(ctx, user.Key("balance"), 100)
		p.DecrBy(ctx, user.Key("positions"), 1)
		return nil
	})
	require.NoError(t, err)
	sum, err := rdb.Eval(ctx, "return redis.call('GET', KEYS[1]) + redis.call('GET', KEYS[2])",
		[]string{user.Key("balance"), user.Key("positions")}).Int()
	require.NoError(t, err)
	assert.Equal(t, 103+1, sum)
	require.NoError(t, rdb.SAdd(ctx, user.Key("s1"), "x", "y").Err())
	require.NoError(t, rdb.SAdd(ctx, user.Key("s2"), "y", "z").Err())
	n, err := rdb.SUnionStore(ctx, user.Key("s3"), user.Key("s1"), user.Key("s2")).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	require.NoError(t, rdb.Rename(ctx, user.Key("s3"), user.Key("union")).Err())
	deleted, err := rdb.Del(ctx, user.Key("s1"), user.Key("s2"), user.Key("union")).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(3), deleted)

	// ...and fail with CROSSSLOT on the same keys without the tag.
	require.NoError(t, c.MSet(ctx, values, time.Minute))
	err = rdb.MGet(ctx, fullKeys(c, names)...).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CROSSSLOT")

	// A view's keys all live on one master, so its flush finds them there.
	counts := masterKeyCounts(t, ctx, cc, escapeGlob(user.Key(""))+"*")
	nonEmpty := 0
	for _, n := range counts {
		if n > 0 {
			nonEmpty++
		}
	}
	assert.Equal(t, 1, nonEmpty, "tagged keys on one master: %v", counts)
	removed, err := user.FlushNamespace(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(len(names)), removed)
}

func ExampleClient_HashTag() {
	c, err := New(Options{}) // no connection is made until a command runs
	if err != nil {
		panic(err)
	}
	defer c.Close()
	user := c.HashTag("user42")
	fmt.Println(user.Key("orders"))
	fmt.Println(user.Namespace("positions").Key("AAPL"))
	fmt.Println(KeySlot(user.Key("orders")) == KeySlot(user.Namespace("positions").Key("AAPL")))
	// Output:
	// trading:{user42}:orders
	// trading:{user42}:positions:AAPL
	// true
}
