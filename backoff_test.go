package redisclient

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestExpBackoff(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		first, limit time.Duration
		n            int
		want         time.Duration
	}{
		{10 * ms, 100 * ms, 0, 0},
		{10 * ms, 100 * ms, 1, 10 * ms},
		{10 * ms, 100 * ms, 2, 20 * ms},
		{10 * ms, 100 * ms, 4, 80 * ms},
		{10 * ms, 100 * ms, 5, 100 * ms},
		{10 * ms, 100 * ms, 1000, 100 * ms},
		{0, 100 * ms, 3, 0},
		{-1, 100 * ms, 3, 0},
		{time.Second, ms, 1, ms}, // a cap below the first pause wins
		{time.Hour, math.MaxInt64, 100, math.MaxInt64},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, expBackoff(c.first, c.limit, c.n), "expBackoff(%v, %v, %d)", c.first, c.limit, c.n)
	}
}

// The reconnect schedule of subscriptions and stream consumers: none after
// the first error, then 50 ms doubling up to 1 s.
func TestReconnectPause(t *testing.T) {
	ms := time.Millisecond
	want := []time.Duration{0, 0, 50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	for n, w := range want {
		assert.Equal(t, w, reconnectPause(n), "reconnectPause(%d)", n)
	}
	assert.Equal(t, time.Second, reconnectPause(1<<20))
}

func TestSleepUnless(t *testing.T) {
	stop := make(chan struct{})
	assert.True(t, sleepUnless(0, stop))
	assert.True(t, sleepUnless(time.Millisecond, stop))
	close(stop)
	assert.False(t, sleepUnless(0, stop))
	start := time.Now()
	assert.False(t, sleepUnless(time.Hour, stop))
	assert.Less(t, time.Since(start), time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	assert.NoError(t, sleepCtx(ctx, time.Millisecond))
	cancel()
	assert.ErrorIs(t, sleepCtx(ctx, time.Hour), context.Canceled)
	assert.ErrorIs(t, sleepCtx(ctx, 0), context.Canceled)
}
