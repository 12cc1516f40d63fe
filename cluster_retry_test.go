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
	// its reply comes too late.
	admin := redis.NewClient(&redis.Options{Addr: node.Options().Addr, ReadTimeout: 5 * time.Second})
	defer admin.Close()
	busy := make(chan error, 1)
	go func() {
		busy <- admin.Eval(ctx, `local t = redis.call('TIME'); local s = t[1]*1000000 + t[2]
			repeat t = redis.call('TIME') until t[1]*1000000 + t[2] - s > 400000
			return 1`, nil).Err()
	}()
	time.Sleep(50 * time.Millisecond)
	_, err = c.Incr(ctx, "ctr", 1)
	require.NoError(t, <-busy)
	require.Error(t, err, "the reply came too late and the INCR is not sent again")
	assert.True(t, IsRetryable(err), "the cause is kept: %v", err)

	time.Sleep(200 * time.Millisecond)
	var n int
	require.NoError(t, c.Get(ctx, "ctr", &n))
	assert.Equal(t, 2, n, "INCR ran once after the lost reply")

	// An idempotent read still rides out a short stall.
	require.NoError(t, admin.Do(ctx, "CLIENT", "PAUSE", "150", "ALL").Err())
	require.NoError(t, c.Get(context.Background(), "ctr", &n))
	assert.Equal(t, 2, n)
}

func TestSentGuardHidesNetworkErrorsOfNonIdempotentCommands(t *testing.T) {
	ctx := context.Background()
	eof := func(context.Context, redis.Cmder) error { return io.EOF }
	guard := sentGuardHook{}.ProcessHook(eof)

	incr := redis.NewIntCmd(ctx, "incrby", "k", 1)
	err := guard(ctx, incr)
	assert.False(t, errors.Is(err, io.EOF), "go-redis's cluster loop must not see a network error")
	var se *sentError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, err, incr.Err())

	get := redis.NewStringCmd(ctx, "get", "k")
	assert.ErrorIs(t, guard(ctx, get), io.EOF, "idempotent commands are left to go-redis")
	wrongType := func(context.Context, redis.Cmder) error { return redis.Nil }
	assert.ErrorIs(t, sentGuardHook{}.ProcessHook(wrongType)(ctx, incr), redis.Nil, "replies pass through")
}
