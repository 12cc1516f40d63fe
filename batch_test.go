package redisclient

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failKeys is a hook, closest to the network, that fails the commands of a
// pipeline whose key contains one of its markers as if their replies were
// lost, and lets the others through.
type failKeys struct {
	markers []string
	err     error
}

func (h failKeys) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h failKeys) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h failKeys) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var pass, fail []redis.Cmder
		for _, cmd := range cmds {
			if len(cmd.Args()) > 1 && h.hit(cmd.Args()[1]) {
				fail = append(fail, cmd)
			} else {
				pass = append(pass, cmd)
			}
		}
		var err error
		if len(pass) > 0 { // go-redis cannot run an empty pipeline
			err = next(ctx, pass)
		}
		for _, cmd := range fail {
			cmd.SetErr(h.err)
		}
		if len(fail) > 0 {
			return h.err
		}
		return err
	}
}

func (h failKeys) hit(arg any) bool {
	s, _ := arg.(string)
	for _, m := range h.markers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// A batch that partly fails says which keys were written and which not.
func TestMSetPartialFailureIsBatchError(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: RetryPolicy{Attempts: 1}})
	ctx := testCtx(t)
	lost := errors.New("reply lost")
	c.Redis().AddHook(failKeys{markers: []string{"bad"}, err: lost})

	err := c.MSet(ctx, map[string]any{"a": 1, "bad1": 2, "b": 3, "bad2": 4}, time.Minute)
	var be *BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "mset", be.Op)
	assert.Equal(t, []string{"a", "b"}, be.Done, "caller's keys, sorted")
	assert.Equal(t, map[string]error{"bad1": lost, "bad2": lost}, be.Failed)
	assert.ErrorIs(t, err, lost)
	assert.Equal(t, "redisclient: mset: 2 of 4 keys failed (first: bad1: reply lost)", err.Error())
	assert.True(t, mr.Exists(c.Key("a")) && mr.Exists(c.Key("b")), "Done keys were written")
	assert.False(t, mr.Exists(c.Key("bad1")) || mr.Exists(c.Key("bad2")))

	// The batch prediction write reports input hashes.
	err = c.CacheModelPredictions(ctx, "lstm", map[string]any{"h1": 0.1, "hbad": 0.2}, time.Minute)
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "cache predictions", be.Op)
	assert.Equal(t, []string{"h1"}, be.Done)
	assert.Equal(t, map[string]error{"hbad": lost}, be.Failed)

	// Every key failing for one reason is the call's plain error, as for
	// the batch reads.
	err = c.MSet(ctx, map[string]any{"bad3": 1, "bad4": 2}, time.Minute)
	assert.False(t, errors.As(err, &be))
	assert.ErrorIs(t, err, lost)
	assert.Contains(t, err.Error(), "mset "+c.Key("bad3"))

	// Invalid input fails the whole call before anything is sent.
	err = c.MSet(ctx, map[string]any{"ok": 1, "": 2}, time.Minute)
	assert.ErrorIs(t, err, ErrInvalidKey)
	assert.False(t, errors.As(err, &be))
	assert.False(t, mr.Exists(c.Key("ok")))
}

func TestMSetWhileBreakerOpenWrapsUnavailable(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Hour}, Retry: RetryPolicy{Attempts: 1}})
	ctx := testCtx(t)
	mr.Close()
	require.Error(t, c.Set(ctx, "k", "v", 0))
	require.Eventually(t, func() bool { return c.BreakerState() == BreakerOpen }, 5*time.Second, 10*time.Millisecond)
	err := c.MSet(ctx, map[string]any{"a": 1, "b": 2}, 0)
	assert.ErrorIs(t, err, ErrUnavailable)
}

func TestMSetAtomic(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		require.NoError(t, c.MSetAtomic(ctx, map[string]any{"a": "1", "b": 2, "c": map[string]int{"x": 1}}, time.Minute))
		got, err := MGet[string](ctx, c, "a", "b")
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"a": "1", "b": "2"}, got)
		ttl, err := c.TTL(ctx, "c")
		require.NoError(t, err)
		assert.Greater(t, ttl, 50*time.Second)
		require.NoError(t, c.MSetAtomic(ctx, nil, 0))
		assert.ErrorIs(t, c.MSetAtomic(ctx, map[string]any{"": 1}, 0), ErrInvalidKey)
		assert.Error(t, c.MSetAtomic(ctx, map[string]any{"k": 1}, -5))
	})
}

// On a cluster one transaction cannot span slots: MSetAtomic says so before
// sending anything, and works on keys of one hash tag.
func TestClusterMSetAtomic(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	values := map[string]any{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		values[k] = k
	}
	err := c.MSetAtomic(ctx, values, time.Minute)
	require.ErrorIs(t, err, ErrCrossSlot)
	assert.Contains(t, err.Error(), "HashTag")
	n, err := c.Exists(ctx, "a", "b", "c", "d", "e", "f")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing written")

	user := c.HashTag("user42")
	require.NoError(t, user.MSetAtomic(ctx, values, time.Minute))
	got, err := MGet[string](ctx, user, "a", "f")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "a", "f": "f"}, got)
}

// TestBatchReadAllocationsPerKey: MGet and GetModelPredictions of strings
// allocate per key no more than a raw MGET that builds the same map (the
// full key, the argument, the reply); they used to add the decode target and
// the Done list entry of every key. Per-call constants are spread over 2000
// keys.
func TestBatchReadAllocationsPerKey(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	const n = 2000
	keys := make([]string, n)
	values := make(map[string]any, n)
	preds := make(map[string]any, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		values[keys[i]] = strings.Repeat("v", 64)
		preds[keys[i]] = "p"
	}
	require.NoError(t, c.MSet(ctx, values, time.Hour))
	require.NoError(t, c.CacheModelPredictions(ctx, "m", preds, time.Hour))
	prefix := c.Key("")
	raw := testing.AllocsPerRun(5, func() {
		full := make([]string, len(keys))
		for i, k := range keys {
			full[i] = prefix + k
		}
		vals, err := c.Redis().MGet(ctx, full...).Result()
		require.NoError(t, err)
		out := make(map[string]string, len(vals))
		for i, v := range vals {
			if s, ok := v.(string); ok {
				out[keys[i]] = s
			}
		}
		require.Len(t, out, n)
	})
	lib := testing.AllocsPerRun(5, func() {
		out, err := MGet[string](ctx, c, keys...)
		require.NoError(t, err)
		require.Len(t, out, n)
	})
	pred := testing.AllocsPerRun(5, func() {
		found, missing, err := GetModelPredictions[string](ctx, c, "m", keys)
		require.NoError(t, err)
		require.Len(t, found, n)
		require.Empty(t, missing)
	})
	t.Logf("allocs per key: raw %.2f, MGet %.2f, GetModelPredictions %.2f", raw/n, lib/n, pred/n)
	assert.LessOrEqual(t, (lib-raw)/n, 0.05, "MGet[string] allocates more per key than a raw MGET")
	assert.LessOrEqual(t, (pred-raw)/n, 0.05, "GetModelPredictions[string] allocates more per key than a raw MGET")
}

// The Done list of a batch read is built only on failure, from the keys that
// did not fail, in input order, duplicates kept; misses count as done.
func TestBatchReadDoneOnDecodeFailure(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	require.NoError(t, c.MSet(ctx, map[string]any{"a": 1, "b": 2, "bad": "x1"}, time.Hour))
	got, err := MGet[int](ctx, c, "a", "bad", "missing", "b", "a")
	var be *BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []string{"a", "missing", "b", "a"}, be.Done)
	require.Contains(t, be.Failed, "bad")
	assert.ErrorContains(t, be.Failed["bad"], "mget "+c.Key("bad"))
	assert.Equal(t, map[string]int{"a": 1, "b": 2}, got)

	_, err = MGet[int](ctx, c, "bad")
	var plain *Error
	require.ErrorAs(t, err, &plain, "every key failing for one reason is the call's error")
	assert.NotErrorAs(t, err, &be)

	require.NoError(t, c.CacheModelPredictions(ctx, "m", map[string]any{"h1": 1, "h2": "x"}, time.Hour))
	found, missing, err := GetModelPredictions[int](ctx, c, "m", []string{"h1", "h2", "h3"})
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []string{"h1", "h3"}, be.Done)
	assert.Contains(t, be.Failed, "h2")
	assert.Equal(t, map[string]int{"h1": 1}, found)
	assert.Equal(t, []string{"h3"}, missing)

	bs, err := MGet[[]byte](ctx, c, "a", "b")
	require.NoError(t, err)
	bs["a"][0] = 'X' // the caller owns the slices
	again, err := MGet[[]byte](ctx, c, "a")
	require.NoError(t, err)
	assert.Equal(t, []byte("1"), again["a"])
}
