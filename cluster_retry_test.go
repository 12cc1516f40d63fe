package redisclient

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClusterNoDoubleIncrement makes the node that owns a counter stall
// writes past the client's read timeout (CLIENT PAUSE WRITE): the INCR
// reaches the server but its reply does not come back in time. go-redis's
// cluster client would send it again; the client must not, so the counter
// goes up once. GET, which is safe to repeat, is still retried.
func TestClusterNoDoubleIncrement(t *testing.T) {
	c := newClusterClient(t, Options{ReadTimeout: 100 * time.Millisecond, Breaker: BreakerOptions{Threshold: -1}})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	key := c.Key("ctr")
	_, err := c.Incr(ctx, "ctr", 1)
	require.NoError(t, err)
	node, err := cc.MasterForKey(ctx, key)
	require.NoError(t, err)

	// A script on a separate connection keeps that node busy for 400 ms:
	// the INCR waits in its socket buffer, runs when the script ends, and
	// its reply comes too late. On a loaded machine the INCR may reach the
	// server before the script starts; then it simply succeeds and the
	// round is repeated.
	admin := redis.NewClient(&redis.Options{Addr: node.Options().Addr, ReadTimeout: 5 * time.Second})
	defer admin.Close()
	want := 1
	for round := 1; ; round++ {
		busy := make(chan error, 1)
		go func() {
			busy <- admin.Eval(ctx, `local t = redis.call('TIME'); local s = t[1]*1000000 + t[2]
				repeat t = redis.call('TIME') until t[1]*1000000 + t[2] - s > 400000
				return 1`, nil).Err()
		}()
		time.Sleep(50 * time.Millisecond)
		_, err = c.Incr(ctx, "ctr", 1)
		require.NoError(t, <-busy)
		want++ // this INCR runs once, whether or not its reply came in time
		if err != nil {
			assert.True(t, IsRetryable(err), "the cause is kept: %v", err)
			break
		}
		require.Less(t, round, 5, "the INCR never met the busy script")
	}

	time.Sleep(200 * time.Millisecond)
	var n int
	require.NoError(t, c.Get(ctx, "ctr", &n))
	assert.Equal(t, want, n, "INCR ran once after the lost reply")

	// An idempotent read still rides out a short stall.
	require.NoError(t, admin.Do(ctx, "CLIENT", "PAUSE", "150", "ALL").Err())
	require.NoError(t, c.Get(context.Background(), "ctr", &n))
	assert.Equal(t, 2, n)
}

// TestNodeHookHidesFailuresFromGoRedisLoop: inside an attempt of the retry
// hook a node's failures reach go-redis's cluster loop hidden, so it does not
// send the command again by itself; replies (MOVED, misses) and calls made
// outside an attempt see the cause.
func TestNodeHookHidesFailuresFromGoRedisLoop(t *testing.T) {
	ctx := context.Background()
	node := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer node.Close()
	reg := newNodeBreakers(BreakerOptions{Threshold: 1, Cooldown: time.Hour})
	defer reg.close()
	h := newNodeHook(node, reg, nil)
	eof := h.ProcessHook(func(context.Context, redis.Cmder) error { return io.EOF })
	inAttempt := withAttempt(ctx, singleAttempt)

	incr := redis.NewIntCmd(ctx, "incrby", "k", 1)
	err := eof(inAttempt, incr)
	assert.False(t, errors.Is(err, io.EOF), "go-redis's cluster loop must not see a network error")
	var he *hiddenError
	require.ErrorAs(t, err, &he)
	assert.ErrorIs(t, he.cause, io.EOF)
	assert.Equal(t, BreakerOpen, reg.stateOf(node.Options().Addr), "the node's breaker counted it")

	// Open breaker: its fail-fast error (which wraps the cause) is hidden too.
	err = eof(inAttempt, redis.NewStringCmd(ctx, "get", "k"))
	require.ErrorAs(t, err, &he)
	assert.ErrorIs(t, he.cause, ErrUnavailable)
	assert.Contains(t, err.Error(), "redis node 127.0.0.1:1 unavailable")
	// Outside an attempt (a call on the node client itself) the cause shows.
	assert.ErrorIs(t, eof(ctx, redis.NewStringCmd(ctx, "get", "k")), ErrUnavailable)

	reply := func(err error) redis.ProcessHook {
		return newNodeHook(node, newNodeBreakers(BreakerOptions{}), nil).ProcessHook(
			func(context.Context, redis.Cmder) error { return err })
	}
	moved := replyErr("MOVED 3999 127.0.0.1:6381")
	assert.Equal(t, error(moved), reply(moved)(inAttempt, incr), "replies pass through")
	assert.Equal(t, redis.Nil, reply(redis.Nil)(inAttempt, incr))
	assert.Equal(t, redis.ErrClosed, reply(redis.ErrClosed)(inAttempt, incr))
}
