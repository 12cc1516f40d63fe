package redisclient

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

func TestIntegrationPubSubTenThousandInOrder(t *testing.T) {
	c := newRealClient(t, Options{})
	ctx := testCtx(t)
	const total = 10_000
	h, ch := collect(total)
	s, err := c.Subscribe(ctx, h, "stream")
	require.NoError(t, err)
	closeSub(t, s)

	published := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := c.Publish(ctx, "stream", i); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	for i := range total {
		m := recvMsg(t, ch)
		require.Equal(t, strconv.Itoa(i), string(m.Payload), "message %d", i)
		require.Equal(t, "stream", m.Channel)
	}
	require.NoError(t, <-published)
	require.Eventually(t, func() bool { return s.Stats().Delivered == total }, waitFor, time.Millisecond)
	st := s.Stats()
	assert.EqualValues(t, total, st.Received)
	assert.Zero(t, st.Dropped)
	assert.Zero(t, st.Reconnects)
}

func TestIntegrationPSubscribe(t *testing.T) {
	c := newRealClient(t, Options{})
	ctx := testCtx(t)
	h, ch := collect(10)
	s, err := c.PSubscribe(ctx, h, "md:*:trades")
	require.NoError(t, err)
	closeSub(t, s)

	want := signal{Symbol: "ETH-USD", Side: "sell", Price: 3012.25, Qty: 10}
	n, err := c.Publish(ctx, "md:ETH-USD:trades", want)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	m := recvMsg(t, ch)
	assert.Equal(t, "md:ETH-USD:trades", m.Channel)
	assert.Equal(t, "md:*:trades", m.Pattern)
	var got signal
	require.NoError(t, m.Decode(&got))
	assert.Equal(t, want, got)

	n, err = c.Publish(ctx, "md:ETH-USD:quotes", "x")
	require.NoError(t, err)
	assert.Zero(t, n)

	// A namespace that shares the prefix's first letters sees nothing.
	other, err := New(Options{URL: testkit.RequireEnv(t, testkit.EnvURL), Namespace: c.Name() + "x"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	n, err = other.Publish(ctx, "md:ETH-USD:trades", "x")
	require.NoError(t, err)
	assert.Zero(t, n)
	expectNoMsg(t, ch, 100*time.Millisecond)
}

func TestIntegrationDropOldestCountsDropsExactly(t *testing.T) {
	dropOldestExactly(t, newRealClient(t, Options{}), 16, 500)
}

func TestIntegrationSubscribeCloseLeavesNoGoroutines(t *testing.T) {
	subscribeCloseCycles(t, newRealClient(t, Options{}))
}

func TestIntegrationSubscriptionSurvivesServerRestart(t *testing.T) {
	srv := testkit.StartServer(t, testkit.Config{})
	c, err := New(Options{Addr: srv.Addr(), Namespace: uniqueNamespace(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx := testCtx(t)

	var mu sync.Mutex
	var got []string
	reconnected := make(chan struct{}, 10)
	handler := func(_ context.Context, m Message) error {
		mu.Lock()
		got = append(got, string(m.Payload))
		mu.Unlock()
		return nil
	}
	s, err := c.SubscribeWith(ctx, SubscribeOptions{OnReconnect: func() { reconnected <- struct{}{} }}, handler, "orders")
	require.NoError(t, err)
	closeSub(t, s)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}

	// Mid-stream: a publisher keeps going while the server dies and returns.
	for i := range 100 {
		_, err := c.Publish(ctx, "orders", "a"+strconv.Itoa(i))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return count() == 100 }, waitFor, time.Millisecond)

	t0 := time.Now()
	srv.Stop()
	_, err = c.Publish(ctx, "orders", "lost")
	require.Error(t, err, "publishing while the server is down fails")
	srv.Restart()

	select {
	case <-reconnected:
	case <-time.After(waitFor):
		t.Fatal("OnReconnect not called after the server restart")
	}
	t.Logf("subscription re-established %v after the server died", time.Since(t0))
	// OnReconnect comes after Redis confirmed the subscription again, so
	// every message from now on is delivered.
	for i := range 100 {
		n, err := c.Publish(ctx, "orders", "b"+strconv.Itoa(i))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	}
	require.Eventually(t, func() bool { return count() == 200 }, waitFor, time.Millisecond)
	mu.Lock()
	for i, p := range got {
		want := "a" + strconv.Itoa(i)
		if i >= 100 {
			want = "b" + strconv.Itoa(i-100)
		}
		require.Equal(t, want, p)
	}
	mu.Unlock()
	st := s.Stats()
	assert.EqualValues(t, 1, st.Reconnects)
	assert.EqualValues(t, 200, st.Received)
	assert.Zero(t, st.Dropped)
}
