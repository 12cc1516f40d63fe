package redisclient

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type prediction struct {
	Model      string    `json:"model"`
	Symbol     string    `json:"symbol"`
	Value      float64   `json:"value"`
	Confidence float64   `json:"confidence"`
	Features   []float64 `json:"features"`
	At         time.Time `json:"at"`
}

func samplePrediction() prediction {
	return prediction{Model: "lstm", Symbol: "AAPL", Value: 187.25, Confidence: 0.93,
		Features: []float64{1.5, -2.25, 3}, At: time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)}
}

// norm drops the time zone, which MessagePack timestamps do not carry.
func (p prediction) norm() prediction {
	p.At = p.At.UTC()
	return p
}

func TestSingletonConstructedOnce(t *testing.T) {
	t.Cleanup(func() { SetDefault(nil) })
	SetDefault(nil)
	var calls atomic.Int32
	orig := newDefaultClient
	t.Cleanup(func() { newDefaultClient = orig })
	newDefaultClient = func() (*Client, error) {
		calls.Add(1)
		time.Sleep(10 * time.Millisecond) // widen the race window
		return New(Options{Addr: "127.0.0.1:1"})
	}
	var wg sync.WaitGroup
	got := make([]*Client, 100)
	for i := range got {
		wg.Go(func() { got[i] = GetClient() })
	}
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load())
	for _, c := range got {
		require.NotNil(t, c)
		assert.Same(t, got[0], c)
	}
	c, err := Default()
	require.NoError(t, err)
	assert.Same(t, got[0], c)
	require.NoError(t, c.Close())
}

func TestSingletonConstructionErrorIsSticky(t *testing.T) {
	t.Cleanup(func() { SetDefault(nil) })
	SetDefault(nil)
	t.Setenv("REDIS_URL", "")
	t.Setenv("REDIS_ADDR", "")
	t.Setenv("REDIS_HOST", "")
	t.Setenv("REDIS_CLUSTER_ADDRS", "")
	t.Setenv("REDIS_SENTINEL_MASTER", "")
	t.Setenv("REDIS_SENTINEL_ADDRS", "")
	t.Setenv("REDIS_DB", "not-a-number")
	c := GetClient()
	require.NotNil(t, c)
	ctx := testCtx(t)
	err := c.Set(ctx, "k", "v", 0)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidOptions)
	assert.Contains(t, err.Error(), "REDIS_DB")
	var s string
	assert.ErrorIs(t, c.Get(ctx, "k", &s), ErrInvalidOptions)
	_, err = c.Delete(ctx, "k")
	assert.ErrorIs(t, err, ErrInvalidOptions)
	assert.ErrorIs(t, c.Ping(ctx), ErrInvalidOptions)
	_, err = c.Namespace("x").FlushNamespace(ctx)
	assert.ErrorIs(t, err, ErrInvalidOptions)
	d, err := Default()
	assert.Same(t, c, d)
	assert.ErrorIs(t, err, ErrInvalidOptions)
	assert.NoError(t, c.Close())
}

func TestSetDefault(t *testing.T) {
	t.Cleanup(func() { SetDefault(nil) })
	c, _ := newMiniredisClient(t, Options{})
	SetDefault(c)
	assert.Same(t, c, GetClient())
	ctx := testCtx(t)
	require.NoError(t, GetClient().Set(ctx, "k", "v", 0))
	var s string
	require.NoError(t, c.Get(ctx, "k", &s))
	assert.Equal(t, "v", s)
}

func TestCloseIsIdempotentAndFailsLaterCalls(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	child := c.Namespace("child")
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	require.NoError(t, child.Close())
	ctx := testCtx(t)
	assert.ErrorIs(t, c.Set(ctx, "k", "v", 0), ErrClosed)
	var s string
	assert.ErrorIs(t, child.Get(ctx, "k", &s), ErrClosed)
	_, err := c.Incr(ctx, "n", 1)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = c.FlushNamespace(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, c.Ping(ctx), ErrClosed)
	for _, err := range c.Scan(ctx, "*") {
		assert.ErrorIs(t, err, ErrClosed)
	}
}

func TestSetGetRoundTrip(t *testing.T) {
	for _, ser := range []Serializer{MsgpackSerializer{}, JSONSerializer{}} {
		t.Run(fmt.Sprintf("%T", ser), func(t *testing.T) {
			backends(t, Options{Serializer: ser}, func(t *testing.T, c *Client) {
				ctx := testCtx(t)
				p := samplePrediction()
				require.NoError(t, c.Set(ctx, "pred", p, time.Minute))
				var got prediction
				require.NoError(t, c.Get(ctx, "pred", &got))
				assert.Equal(t, p, got.norm())

				require.NoError(t, c.Set(ctx, "s", "plain text", 0))
				require.NoError(t, c.Set(ctx, "b", []byte{0x80, 0x04, 0xff}, 0))
				require.NoError(t, c.Set(ctx, "n", 42, 0))
				require.NoError(t, c.Set(ctx, "f", 3.25, 0))
				require.NoError(t, c.Set(ctx, "m", map[string]int{"a": 1}, 0))

				var s string
				require.NoError(t, c.Get(ctx, "s", &s))
				assert.Equal(t, "plain text", s)
				var b []byte
				require.NoError(t, c.Get(ctx, "b", &b))
				assert.Equal(t, []byte{0x80, 0x04, 0xff}, b)
				var n int
				require.NoError(t, c.Get(ctx, "n", &n))
				assert.Equal(t, 42, n)
				require.NoError(t, c.Get(ctx, "n", &s))
				assert.Equal(t, "42", s, "numbers are stored as decimal text")
				var f float64
				require.NoError(t, c.Get(ctx, "f", &f))
				assert.Equal(t, 3.25, f)
				var m map[string]int
				require.NoError(t, c.Get(ctx, "m", &m))
				assert.Equal(t, map[string]int{"a": 1}, m)
				var anyNum, anyText any
				require.NoError(t, c.Get(ctx, "n", &anyNum))
				assert.Equal(t, int64(42), anyNum)
				require.NoError(t, c.Get(ctx, "s", &anyText))
				assert.Equal(t, "plain text", anyText)

				n2, err := c.Incr(ctx, "n", 8)
				require.NoError(t, err)
				assert.Equal(t, int64(50), n2)

				raw, err := c.Redis().Get(ctx, c.Key("s")).Result()
				require.NoError(t, err)
				assert.Equal(t, "plain text", raw, "strings are stored raw")
			})
		})
	}
}

func TestJSONIsReadableByOtherClients(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Serializer: JSONSerializer{}})
	require.NoError(t, c.Set(testCtx(t), "doc", map[string]any{"a": 1, "b": []int{1, 2}}, 0))
	v, err := mr.Get("trading:doc")
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1,"b":[1,2]}`, v)
}

func TestGetMissIsErrNotFound(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		var s string
		err := c.Get(testCtx(t), "missing", &s)
		require.ErrorIs(t, err, ErrNotFound)
		assert.Contains(t, err.Error(), c.Key("missing"))
		assert.Contains(t, err.Error(), "get")
	})
}

func TestInvalidKeysAndDestinations(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	assert.ErrorIs(t, c.Set(ctx, "", "v", 0), ErrInvalidKey)
	var s string
	assert.ErrorIs(t, c.Get(ctx, "", &s), ErrInvalidKey)
	_, err := c.Delete(ctx, "ok", "")
	assert.ErrorIs(t, err, ErrInvalidKey)
	assert.ErrorIs(t, c.Namespace("").Set(ctx, "k", 1, 0), ErrInvalidKey)
	assert.ErrorIs(t, c.Namespace("a", "").Set(ctx, "k", 1, 0), ErrInvalidKey)
	assert.ErrorIs(t, c.Namespace().Set(ctx, "k", 1, 0), ErrInvalidKey)
	require.NoError(t, c.Set(ctx, "k", samplePrediction(), 0))
	var p prediction
	assert.Error(t, c.Get(ctx, "k", p), "non-pointer destination")
	assert.Error(t, c.Get(ctx, "k", nil))
	assert.Error(t, c.Set(ctx, "k", nil, 0))
	assert.Error(t, c.Set(ctx, "k", make(chan int), 0))
}

func TestCorruptAndPickleValues(t *testing.T) {
	for _, ser := range []Serializer{MsgpackSerializer{}, JSONSerializer{}} {
		c, mr := newMiniredisClient(t, Options{Serializer: ser})
		ctx := testCtx(t)
		// pickle.dumps({'a': 1}, protocol=4)
		pickle := "\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
		require.NoError(t, mr.Set("trading:pickled", pickle))
		var m map[string]any
		err := c.Get(ctx, "pickled", &m)
		require.ErrorIs(t, err, ErrUnsupportedFormat)
		assert.Contains(t, err.Error(), "trading:pickled")
		var a any
		assert.ErrorIs(t, c.Get(ctx, "pickled", &a), ErrUnsupportedFormat)
		var n int
		assert.ErrorIs(t, c.Get(ctx, "pickled", &n), ErrUnsupportedFormat)
		var raw []byte
		require.NoError(t, c.Get(ctx, "pickled", &raw), "raw bytes are always readable")
		assert.Equal(t, pickle, string(raw))

		for i, junk := range []string{"\xc1\xff\x00", "{not json", "\xde\xff\xff", "\x92\x01", "hello"} {
			key := fmt.Sprintf("junk%d", i)
			require.NoError(t, mr.Set("trading:"+key, junk))
			var p prediction
			err := c.Get(ctx, key, &p)
			require.Error(t, err, "%T %q", ser, junk)
			assert.Contains(t, err.Error(), "trading:"+key)
		}
		var n2 int
		require.NoError(t, mr.Set("trading:notnum", "abc"))
		assert.Error(t, c.Get(ctx, "notnum", &n2))
	}
}

func TestEmptyMsgpackMapIsNotPickle(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "empty", map[string]int{}, 0))
	var m map[string]int
	require.NoError(t, c.Get(ctx, "empty", &m))
	assert.NotNil(t, m)
	assert.Empty(t, m)
}

func TestNamespaces(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		models := c.Namespace("models")
		assert.Equal(t, c.Name()+":models", models.Name())
		assert.Equal(t, c.Name()+":models:lstm:v1", models.Key("lstm", "v1"))
		require.NoError(t, models.Set(ctx, "k", "child", 0))
		require.NoError(t, c.Set(ctx, "k", "root", 0))
		var s string
		require.NoError(t, models.Get(ctx, "k", &s))
		assert.Equal(t, "child", s)
		require.NoError(t, c.Get(ctx, "k", &s))
		assert.Equal(t, "root", s)
		require.NoError(t, c.Get(ctx, "models:k", &s))
		assert.Equal(t, "child", s)

		jsonView := models.WithSerializer(JSONSerializer{})
		require.NoError(t, jsonView.Set(ctx, "doc", map[string]int{"x": 1}, 0))
		raw, err := c.Redis().Get(ctx, models.Key("doc")).Result()
		require.NoError(t, err)
		assert.Equal(t, `{"x":1}`, raw)
		var m map[string]int
		require.Error(t, models.Get(ctx, "doc", &m), "msgpack view cannot read JSON")
		require.NoError(t, jsonView.Get(ctx, "doc", &m))
		assert.Equal(t, 1, m["x"])
	})
}

func TestFlushNamespaceEscapesGlobs(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		star := c.Namespace("a*")
		other := c.Namespace("ab")
		brackets := c.Namespace("[x]")
		x := c.Namespace("x")
		for i := range 1200 {
			require.NoError(t, star.Set(ctx, fmt.Sprint(i), i, 0))
		}
		require.NoError(t, other.Set(ctx, "keep", 1, 0))
		require.NoError(t, x.Set(ctx, "keep", 1, 0))
		require.NoError(t, brackets.Set(ctx, "gone", 1, 0))

		n, err := star.FlushNamespace(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1200), n)
		n, err = brackets.FlushNamespace(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)

		cnt, err := c.Exists(ctx, "ab:keep", "x:keep")
		require.NoError(t, err)
		assert.Equal(t, int64(2), cnt, "other namespaces untouched")
	})
}

func TestScan(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		ns := c.Namespace("scan")
		for i := range 30 {
			require.NoError(t, ns.Set(ctx, fmt.Sprintf("user:%d", i), i, 0))
		}
		require.NoError(t, ns.Set(ctx, "other", 1, 0))
		require.NoError(t, c.Set(ctx, "scanx", 1, 0))
		var keys []string
		for k, err := range ns.Scan(ctx, "user:*") {
			require.NoError(t, err)
			keys = append(keys, k)
		}
		sort.Strings(keys)
		assert.Len(t, keys, 30)
		assert.Equal(t, "user:0", keys[0])
		all := 0
		for _, err := range ns.Scan(ctx, "") {
			require.NoError(t, err)
			all++
		}
		assert.Equal(t, 31, all)
		seen := 0
		for range ns.Scan(ctx, "*") {
			seen++
			if seen == 3 {
				break
			}
		}
		assert.Equal(t, 3, seen, "breaking out of the loop stops the scan")
	})
}

func TestKeyValueCommands(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		ok, err := c.SetNX(ctx, "lock", "a", time.Minute)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = c.SetNX(ctx, "lock", "b", time.Minute)
		require.NoError(t, err)
		assert.False(t, ok)

		d, err := c.TTL(ctx, "lock")
		require.NoError(t, err)
		assert.InDelta(t, time.Minute, d, float64(2*time.Second))

		require.NoError(t, c.Set(ctx, "forever", 1, NoExpiry))
		d, err = c.TTL(ctx, "forever")
		require.NoError(t, err)
		assert.Equal(t, NoExpiry, d)
		_, err = c.TTL(ctx, "nope")
		assert.ErrorIs(t, err, ErrNotFound)

		require.NoError(t, c.Set(ctx, "default", 1, 0))
		d, err = c.TTL(ctx, "default")
		require.NoError(t, err)
		assert.InDelta(t, DefaultTTL, d, float64(2*time.Second))

		ok, err = c.Expire(ctx, "forever", 30*time.Second)
		require.NoError(t, err)
		assert.True(t, ok)
		d, _ = c.TTL(ctx, "forever")
		assert.InDelta(t, 30*time.Second, d, float64(2*time.Second))
		ok, err = c.Expire(ctx, "forever", NoExpiry)
		require.NoError(t, err)
		assert.True(t, ok)
		d, _ = c.TTL(ctx, "forever")
		assert.Equal(t, NoExpiry, d)
		ok, err = c.Expire(ctx, "nope", time.Second)
		require.NoError(t, err)
		assert.False(t, ok)
		ok, err = c.Expire(ctx, "nope", NoExpiry)
		require.NoError(t, err)
		assert.False(t, ok)

		n, err := c.Exists(ctx, "lock", "forever", "nope")
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		n, err = c.Delete(ctx, "lock", "nope")
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)

		v, err := c.Incr(ctx, "ctr", 5)
		require.NoError(t, err)
		assert.Equal(t, int64(5), v)
		v, err = c.Decr(ctx, "ctr", 7)
		require.NoError(t, err)
		assert.Equal(t, int64(-2), v)
		require.NoError(t, c.Set(ctx, "text", "abc", 0))
		_, err = c.Incr(ctx, "text", 1)
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.Key("text"))

		assert.Error(t, c.Set(ctx, "bad", 1, -5*time.Second))
		assert.Error(t, c.Set(ctx, "bad", 1, time.Microsecond))
		_, err = c.Expire(ctx, "ctr", -3*time.Second)
		assert.Error(t, err)
	})
}

func TestMGetMSet(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		in := map[string]any{}
		for i := range 50 {
			p := samplePrediction()
			p.Value = float64(i)
			in[fmt.Sprintf("p%d", i)] = p
		}
		require.NoError(t, c.MSet(ctx, in, time.Minute))
		keys := []string{"p0", "p49", "missing"}
		got, err := MGet[prediction](ctx, c, keys...)
		require.NoError(t, err)
		assert.Len(t, got, 2)
		assert.Equal(t, 49.0, got["p49"].Value)
		_, found := got["missing"]
		assert.False(t, found)
		d, err := c.TTL(ctx, "p7")
		require.NoError(t, err)
		assert.Greater(t, d, 50*time.Second)

		require.NoError(t, c.Set(ctx, "junk", "not msgpack", 0))
		got, err = MGet[prediction](ctx, c, "p1", "junk")
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.Key("junk"))
		assert.Len(t, got, 1, "good values still returned")

		empty, err := MGet[prediction](ctx, c)
		require.NoError(t, err)
		assert.Empty(t, empty)
		require.NoError(t, c.MSet(ctx, nil, 0))
		assert.ErrorIs(t, c.MSet(ctx, map[string]any{"": 1}, 0), ErrInvalidKey)
	})
}

func TestTTLJitterSpreadsExpiries(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{TTLJitter: 0.5})
	ctx := testCtx(t)
	seen := map[time.Duration]bool{}
	for i := range 20 {
		key := fmt.Sprint(i)
		require.NoError(t, c.Set(ctx, key, 1, time.Hour))
		d, err := c.TTL(ctx, key)
		require.NoError(t, err)
		assert.LessOrEqual(t, d, time.Hour)
		assert.Greater(t, d, 30*time.Minute-time.Second)
		seen[d.Round(time.Second)] = true
	}
	assert.Greater(t, len(seen), 5, "expiries are spread")

	plain, _ := newMiniredisClient(t, Options{})
	require.NoError(t, plain.Set(ctx, "k", 1, time.Hour))
	d, _ := plain.TTL(ctx, "k")
	assert.Equal(t, time.Hour, d, "jitter is off by default")
}

func TestPerNamespaceDefaultTTL(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	orders := c.Namespace("orders").WithDefaultTTL(30 * time.Second)
	require.NoError(t, orders.Set(ctx, "o1", 1, 0))
	d, err := orders.TTL(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, d)
	assert.ErrorIs(t, c.WithDefaultTTL(time.Nanosecond).Set(ctx, "x", 1, 0), ErrInvalidOptions)
	forever := c.WithDefaultTTL(NoExpiry)
	require.NoError(t, forever.Set(ctx, "p", 1, 0))
	d, _ = forever.TTL(ctx, "p")
	assert.Equal(t, NoExpiry, d)
}

func TestRedisEscapeHatch(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	var hooked atomic.Int32
	c.Redis().AddHook(countingHook{&hooked})
	require.NoError(t, c.Set(testCtx(t), "k", "v", 0)) // also dials
	before := hooked.Load()
	require.NoError(t, c.Set(testCtx(t), "k", "v", 0))
	assert.Equal(t, before+1, hooked.Load())
}

type countingHook struct{ n *atomic.Int32 }

func (h countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestErrorMessageShape(t *testing.T) {
	err := opErr("get", "trading:k", ErrNotFound)
	assert.Equal(t, "redisclient: get trading:k: not found", err.Error())
	assert.True(t, errors.Is(err, ErrNotFound))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "trading:k", e.Key)
}
