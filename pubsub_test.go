package redisclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitFor bounds every wait on a message or a state change in these tests.
const waitFor = 5 * time.Second

// collect returns a handler that forwards every message to the returned
// channel (which holds up to n before the handler blocks).
func collect(n int) (Handler, chan Message) {
	ch := make(chan Message, n)
	return func(ctx context.Context, msg Message) error {
		select {
		case ch <- msg:
		case <-ctx.Done():
		}
		return nil
	}, ch
}

func recvMsg(t testing.TB, ch <-chan Message) Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitFor):
		t.Fatal("no message within", waitFor)
		return Message{}
	}
}

func expectNoMsg(t testing.TB, ch <-chan Message, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message on %q: %q", m.Channel, m.Payload)
	case <-time.After(d):
	}
}

// closeSub closes s at the end of the test and requires a clean close.
func closeSub(t testing.TB, s *Subscription) {
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
}

type signal struct {
	Symbol string  `json:"symbol"`
	Side   string  `json:"side"`
	Price  float64 `json:"price"`
	Qty    int     `json:"qty"`
}

func TestPublishSubscribeRoundtrip(t *testing.T) {
	for _, ser := range []Serializer{MsgpackSerializer{}, JSONSerializer{}} {
		t.Run(fmt.Sprintf("%T", ser), func(t *testing.T) {
			c, _ := newMiniredisClient(t, Options{Serializer: ser})
			ctx := testCtx(t)
			h, ch := collect(10)
			s, err := c.Subscribe(ctx, h, "signals")
			require.NoError(t, err)
			closeSub(t, s)

			want := signal{Symbol: "BTC-USD", Side: "buy", Price: 64123.5, Qty: 3}
			n, err := c.Publish(ctx, "signals", want)
			require.NoError(t, err)
			assert.EqualValues(t, 1, n)
			m := recvMsg(t, ch)
			assert.Equal(t, "signals", m.Channel)
			assert.Empty(t, m.Pattern)
			var got signal
			require.NoError(t, m.Decode(&got))
			assert.Equal(t, want, got)

			_, err = c.Publish(ctx, "signals", "plain text")
			require.NoError(t, err)
			m = recvMsg(t, ch)
			assert.Equal(t, "plain text", string(m.Payload), "strings are sent raw")

			_, err = c.Publish(ctx, "signals", 42.5)
			require.NoError(t, err)
			m = recvMsg(t, ch)
			assert.Equal(t, "42.5", string(m.Payload), "numbers are sent as text")
			var f float64
			require.NoError(t, m.Decode(&f))
			assert.Equal(t, 42.5, f)

			_, err = c.Publish(ctx, "signals", []byte{0, 1, 2})
			require.NoError(t, err)
			assert.Equal(t, []byte{0, 1, 2}, recvMsg(t, ch).Payload)
		})
	}
}

func TestPublishUsesNamespacedChannel(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Namespace: "desk"})
	ctx := testCtx(t)
	h, ch := collect(1)
	s, err := c.Namespace("fx").Subscribe(ctx, h, "quotes")
	require.NoError(t, err)
	closeSub(t, s)
	assert.Equal(t, map[string]int{"desk:fx:quotes": 1}, mr.PubSubNumSub("desk:fx:quotes"))

	mr.Publish("desk:fx:quotes", "from outside")
	m := recvMsg(t, ch)
	assert.Equal(t, "quotes", m.Channel)
	assert.Equal(t, "from outside", string(m.Payload))
}

func TestPSubscribePatternAndChannel(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	h, ch := collect(10)
	s, err := c.PSubscribe(ctx, h, "prices:*", "orders:?")
	require.NoError(t, err)
	closeSub(t, s)

	_, err = c.Publish(ctx, "prices:BTC", "1")
	require.NoError(t, err)
	m := recvMsg(t, ch)
	assert.Equal(t, "prices:BTC", m.Channel)
	assert.Equal(t, "prices:*", m.Pattern)

	_, err = c.Publish(ctx, "orders:7", "2")
	require.NoError(t, err)
	m = recvMsg(t, ch)
	assert.Equal(t, "orders:7", m.Channel)
	assert.Equal(t, "orders:?", m.Pattern)

	_, err = c.Publish(ctx, "orders:77", "no match")
	require.NoError(t, err)
	expectNoMsg(t, ch, 100*time.Millisecond)
}

func TestPubSubNamespaceIsolation(t *testing.T) {
	mrClient, mr := newMiniredisClient(t, Options{Namespace: "team*"})
	other, err := New(Options{Addr: mr.Addr(), Namespace: "teamB"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	ctx := testCtx(t)

	// "team*" is a namespace with a glob character: unescaped, its pattern
	// "team*:*" would match "teamB:signals".
	a := mrClient
	h, ch := collect(10)
	sub, err := a.Subscribe(ctx, h, "signals")
	require.NoError(t, err)
	closeSub(t, sub)
	psub, err := a.PSubscribe(ctx, h, "*")
	require.NoError(t, err)
	closeSub(t, psub)

	n, err := other.Publish(ctx, "signals", "B's news")
	require.NoError(t, err)
	assert.Zero(t, n, "no subscriber of namespace team* may receive teamB's message")
	_, err = a.Namespace("x").Publish(ctx, "signals", "child")
	require.NoError(t, err)
	m := recvMsg(t, ch)
	assert.Equal(t, "x:signals", m.Channel, "a pattern of the parent sees its children's channels")
	expectNoMsg(t, ch, 100*time.Millisecond)

	n, err = a.Publish(ctx, "signals", "A's news")
	require.NoError(t, err)
	assert.EqualValues(t, 2, n)
	for range 2 {
		m := recvMsg(t, ch)
		assert.Equal(t, "signals", m.Channel)
		assert.Equal(t, "A's news", string(m.Payload))
	}
}

// TestPublishReceiverCount: Publish returns Redis's count of receiving
// connections. The subscriptions of one client share a connection, so three
// of them on one channel count once (and all three get the message); another
// client's subscription counts on its own.
func TestPublishReceiverCount(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	n, err := c.Publish(ctx, "nobody", "x")
	require.NoError(t, err)
	assert.Zero(t, n)

	var got atomic.Int32
	h := func(context.Context, Message) error { got.Add(1); return nil }
	for range 3 {
		s, err := c.Subscribe(ctx, h, "crowd")
		require.NoError(t, err)
		closeSub(t, s)
	}
	n, err = c.Publish(ctx, "crowd", "x")
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "one shared connection")
	require.Eventually(t, func() bool { return got.Load() == 3 }, waitFor, time.Millisecond)

	other, err := New(Options{Addr: mr.Addr()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	s, err := other.Subscribe(ctx, h, "crowd")
	require.NoError(t, err)
	closeSub(t, s)
	n, err = c.Publish(ctx, "crowd", "x")
	require.NoError(t, err)
	assert.EqualValues(t, 2, n, "another client has its own connection")
}

func TestSubscribeDeliversInOrder(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	const total = 2000
	h, ch := collect(total)
	s, err := c.SubscribeWith(ctx, SubscribeOptions{BufferSize: 16}, h, "seq", "seq2")
	require.NoError(t, err)
	closeSub(t, s)
	for i := range total {
		_, err := c.Publish(ctx, []string{"seq", "seq2"}[i%2], i)
		require.NoError(t, err)
	}
	for i := range total {
		m := recvMsg(t, ch)
		require.Equal(t, strconv.Itoa(i), string(m.Payload))
	}
	require.Eventually(t, func() bool { return s.Stats().Delivered == total }, waitFor, time.Millisecond)
	st := s.Stats()
	assert.EqualValues(t, total, st.Received)
	assert.Zero(t, st.Dropped)
}

// gate is a handler that reports each message as it starts and then waits
// until released.
type gate struct {
	started chan string
	release chan struct{}
	mu      sync.Mutex
	seen    []string
}

func newGate() *gate {
	return &gate{started: make(chan string, 1000), release: make(chan struct{})}
}

func (g *gate) handle(ctx context.Context, m Message) error {
	g.started <- string(m.Payload)
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	g.mu.Lock()
	g.seen = append(g.seen, string(m.Payload))
	g.mu.Unlock()
	return nil
}

func (g *gate) delivered() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.seen...)
}

func waitStarted(t testing.TB, g *gate) string {
	t.Helper()
	select {
	case p := <-g.started:
		return p
	case <-time.After(waitFor):
		t.Fatal("handler not called within", waitFor)
		return ""
	}
}

// dropOldestExactly publishes 1 + extra messages while the handler holds the
// first, and checks that exactly extra-buffer were dropped: the handler gets
// the first message and the newest `buffer` ones.
func dropOldestExactly(t *testing.T, c *Client, buffer, extra int) {
	ctx := testCtx(t)
	g := newGate()
	s, err := c.SubscribeWith(ctx, SubscribeOptions{BufferSize: buffer, Overflow: DropOldest}, g.handle, "ticks")
	require.NoError(t, err)
	closeSub(t, s)

	_, err = c.Publish(ctx, "ticks", 0)
	require.NoError(t, err)
	require.Equal(t, "0", waitStarted(t, g))
	for i := 1; i <= extra; i++ {
		_, err := c.Publish(ctx, "ticks", i)
		require.NoError(t, err)
	}
	published := uint64(1 + extra)
	require.Eventually(t, func() bool { return s.Stats().Received == published }, waitFor, time.Millisecond)
	st := s.Stats()
	assert.EqualValues(t, extra-buffer, st.Dropped, "messages beyond the buffer push out the oldest")
	assert.Equal(t, buffer, st.Pending)

	close(g.release)
	require.Eventually(t, func() bool { return s.Stats().Delivered == uint64(1+buffer) }, waitFor, time.Millisecond)
	st = s.Stats()
	assert.Equal(t, published, st.Delivered+st.Dropped)
	assert.EqualValues(t, extra-buffer, st.Dropped)
	want := []string{"0"}
	for i := extra - buffer + 1; i <= extra; i++ {
		want = append(want, strconv.Itoa(i))
	}
	assert.Equal(t, want, g.delivered(), "the newest messages survive, in order")
}

func TestDropOldestCountsDropsExactly(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	dropOldestExactly(t, c, 8, 100)
}

func TestBlockPolicyLosesNothing(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{PubSub: SubscribeOptions{BufferSize: 2}})
	ctx := testCtx(t)
	g := newGate()
	s, err := c.Subscribe(ctx, g.handle, "ticks")
	require.NoError(t, err)
	closeSub(t, s)
	const total = 50
	for i := range total {
		_, err := c.Publish(ctx, "ticks", i)
		require.NoError(t, err)
	}
	waitStarted(t, g)
	// Handler holds 1, the buffer 2, the reader 1: the rest waits in Redis.
	require.Eventually(t, func() bool { return s.Stats().Received == 4 }, waitFor, time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	assert.EqualValues(t, 4, s.Stats().Received, "a full buffer stops reading")

	close(g.release)
	require.Eventually(t, func() bool { return s.Stats().Delivered == total }, waitFor, time.Millisecond)
	st := s.Stats()
	assert.Zero(t, st.Dropped)
	want := make([]string, total)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	assert.Equal(t, want, g.delivered())
}

func TestSubscribeConcurrency(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	g := newGate()
	s, err := c.SubscribeWith(ctx, SubscribeOptions{Concurrency: 4}, g.handle, "jobs")
	require.NoError(t, err)
	closeSub(t, s)
	for i := range 6 {
		_, err := c.Publish(ctx, "jobs", i)
		require.NoError(t, err)
	}
	for range 4 {
		waitStarted(t, g)
	}
	select {
	case p := <-g.started:
		t.Fatalf("a fifth handler (%s) ran while four were busy", p)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.release)
	require.Eventually(t, func() bool { return s.Stats().Delivered == 6 }, waitFor, time.Millisecond)
	assert.ElementsMatch(t, []string{"0", "1", "2", "3", "4", "5"}, g.delivered())
}

func TestHandlerErrorsAndPanicsAreCounted(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	var mu sync.Mutex
	var reported []error
	onError := func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}
	errBoom := errors.New("boom")
	got := make(chan string, 10)
	handler := func(_ context.Context, m Message) error {
		switch string(m.Payload) {
		case "fail":
			return errBoom
		case "panic":
			panic("handler bug")
		}
		got <- string(m.Payload)
		return nil
	}
	s, err := c.SubscribeWith(ctx, SubscribeOptions{OnError: onError}, handler, "work")
	require.NoError(t, err)
	closeSub(t, s)
	for _, p := range []string{"fail", "panic", "after"} {
		_, err := c.Publish(ctx, "work", p)
		require.NoError(t, err)
	}
	select {
	case p := <-got:
		assert.Equal(t, "after", p, "the subscription keeps running")
	case <-time.After(waitFor):
		t.Fatal("no message after the error and the panic")
	}
	require.Eventually(t, func() bool { return s.Stats().Delivered == 3 }, waitFor, time.Millisecond)
	st := s.Stats()
	assert.EqualValues(t, 1, st.HandlerErrors)
	assert.EqualValues(t, 1, st.Panics)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reported, 2)
	assert.ErrorIs(t, reported[0], errBoom)
	var e *Error
	require.ErrorAs(t, reported[0], &e)
	assert.Equal(t, "trading:work", e.Key)
	assert.ErrorIs(t, reported[1], ErrHandlerPanic)
	assert.Contains(t, reported[1].Error(), "handler bug")
}

func TestSubscriptionCloseWaitsForHandler(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	started := make(chan struct{})
	var finished atomic.Bool
	handler := func(ctx context.Context, _ Message) error {
		close(started)
		<-ctx.Done() // Close cancels the handler's context
		time.Sleep(50 * time.Millisecond)
		finished.Store(true)
		return nil
	}
	s, err := c.Subscribe(ctx, handler, "slow")
	require.NoError(t, err)
	_, err = c.Publish(ctx, "slow", "x")
	require.NoError(t, err)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("handler not called")
	}
	require.NoError(t, s.Close())
	assert.True(t, finished.Load(), "Close returns after the in-flight handler")
	require.NoError(t, s.Close(), "Close is idempotent")
	st := s.Stats()
	assert.EqualValues(t, 1, st.Delivered)

	// A closed subscription is gone from Redis.
	n, err := c.Publish(ctx, "slow", "y")
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestSubscriptionCloseTimeout(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	g := newGate()
	stubborn := func(_ context.Context, m Message) error {
		g.started <- string(m.Payload)
		<-g.release // ignores its context
		return nil
	}
	s, err := c.SubscribeWith(ctx, SubscribeOptions{CloseTimeout: 50 * time.Millisecond}, stubborn, "stuck")
	require.NoError(t, err)
	for i := range 3 {
		_, err = c.Publish(ctx, "stuck", i)
		require.NoError(t, err)
	}
	waitStarted(t, g)
	require.Eventually(t, func() bool { return s.Stats().Received == 3 }, waitFor, time.Millisecond)

	start := time.Now()
	err = s.Close()
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, err, s.Close(), "a second Close returns the first result")
	close(g.release)
	require.Eventually(t, func() bool {
		st := s.Stats()
		return st.Delivered == 1 && st.Dropped == 2
	}, waitFor, time.Millisecond, "buffered messages are counted as dropped at Close")
}

func TestClientCloseClosesSubscriptions(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	var started, cancelled atomic.Int32
	handler := func(ctx context.Context, _ Message) error {
		started.Add(1)
		<-ctx.Done()
		cancelled.Add(1)
		return nil
	}
	s1, err := c.Subscribe(ctx, handler, "a")
	require.NoError(t, err)
	s2, err := c.Namespace("child").PSubscribe(ctx, handler, "*")
	require.NoError(t, err)
	_, err = c.Publish(ctx, "a", "x")
	require.NoError(t, err)
	_, err = c.Namespace("child").Publish(ctx, "b", "x")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return started.Load() == 2 }, waitFor, time.Millisecond)

	require.NoError(t, c.Close())
	assert.EqualValues(t, 2, cancelled.Load(), "Client.Close waits for the handlers of every view")
	assert.NoError(t, s1.Close())
	assert.NoError(t, s2.Close())

	_, err = c.Subscribe(ctx, handler, "a")
	assert.ErrorIs(t, err, ErrClosed)
	_, err = c.PSubscribe(ctx, handler, "*")
	assert.ErrorIs(t, err, ErrClosed)
	_, err = c.Publish(ctx, "a", "x")
	assert.ErrorIs(t, err, ErrClosed)
}

// stableGoroutines returns the goroutine count once it stops falling.
func stableGoroutines() int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return n
		}
		n = m
	}
	return n
}

// settleGoroutines waits until the goroutine count drops to at most want and
// returns the last count.
func settleGoroutines(want int) int {
	deadline := time.Now().Add(waitFor)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// subscribeCloseCycles subscribes and closes 200 times, with messages in
// flight in some cycles, and checks that no goroutine is left behind.
func subscribeCloseCycles(t *testing.T, c *Client) {
	ctx := testCtx(t)
	h, _ := collect(0)
	warm, err := c.Subscribe(ctx, h, "warmup")
	require.NoError(t, err)
	_, err = c.Publish(ctx, "warmup", "x") // opens the pool's connection
	require.NoError(t, err)
	require.NoError(t, warm.Close())
	before := stableGoroutines()
	for i := range 200 {
		opts := SubscribeOptions{Concurrency: 1 + i%3, CloseTimeout: time.Second}
		if i%2 == 1 {
			opts.Overflow = DropOldest
		}
		var s *Subscription
		if i%4 == 3 {
			s, err = c.PSubscribeWith(ctx, opts, h, "cycle:*")
		} else {
			s, err = c.SubscribeWith(ctx, opts, h, "cycle:x", "cycle:y")
		}
		require.NoError(t, err)
		if i%5 == 0 {
			_, err = c.Publish(ctx, "cycle:x", i)
			require.NoError(t, err)
		}
		require.NoError(t, s.Close())
	}
	after := settleGoroutines(before)
	if after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after 200 cycles\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestSubscribeCloseLeavesNoGoroutines(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	subscribeCloseCycles(t, c)
}

func TestSubscribeInvalidInput(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	h, _ := collect(1)

	_, err := c.Subscribe(ctx, h)
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.PSubscribe(ctx, h)
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.Subscribe(ctx, h, "ok", "")
	assert.ErrorIs(t, err, ErrInvalidKey)
	assert.Contains(t, err.Error(), "empty channel")
	_, err = c.PSubscribe(ctx, h, "")
	assert.ErrorIs(t, err, ErrInvalidKey)
	assert.Contains(t, err.Error(), "empty pattern")
	_, err = c.Subscribe(ctx, nil, "x")
	assert.ErrorContains(t, err, "subscribe trading:x: handler is nil")
	_, err = c.Publish(ctx, "", "x")
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.Publish(ctx, "x", nil)
	assert.ErrorContains(t, err, "publish trading:x")
	_, err = c.Publish(ctx, "x", func() {})
	assert.ErrorContains(t, err, "publish trading:x")

	for _, bad := range []SubscribeOptions{
		{BufferSize: -1}, {Concurrency: -2}, {CloseTimeout: -time.Second}, {Overflow: 9}, {BlockTimeout: -time.Second},
	} {
		_, err = c.SubscribeWith(ctx, bad, h, "x")
		assert.ErrorIs(t, err, ErrInvalidOptions, "%+v", bad)
		_, err = New(Options{PubSub: bad})
		assert.ErrorIs(t, err, ErrInvalidOptions, "%+v", bad)
	}

	bad := c.Namespace("")
	_, err = bad.Subscribe(ctx, h, "x")
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = bad.Publish(ctx, "x", "y")
	assert.ErrorIs(t, err, ErrInvalidKey)
}

func TestSubscribeFailsWhenServerIsDown(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	mr.Close()
	h, _ := collect(1)
	_, err := c.Subscribe(testCtx(t), h, "x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "subscribe trading:x")
}

func TestSubscribeOptionsDefaults(t *testing.T) {
	def := SubscribeOptions{BufferSize: 3, Overflow: DropOldest, CloseTimeout: time.Second}
	got := SubscribeOptions{Concurrency: 2}.withDefaults(def)
	assert.Equal(t, 3, got.BufferSize)
	assert.Equal(t, DropOldest, got.Overflow)
	assert.Equal(t, 2, got.Concurrency)
	assert.Equal(t, time.Second, got.CloseTimeout)
	assert.Equal(t, DefaultHealthCheckInterval, got.HealthCheckInterval)

	got = SubscribeOptions{Overflow: Block}.withDefaults(def)
	assert.Equal(t, Block, got.Overflow, "explicit Block overrides the client's DropOldest")

	got = SubscribeOptions{}.withDefaults(SubscribeOptions{})
	assert.Equal(t, SubscribeOptions{
		BufferSize: DefaultSubscribeBuffer, Overflow: Block, Concurrency: 1,
		CloseTimeout: DefaultCloseTimeout, HealthCheckInterval: DefaultHealthCheckInterval,
		BlockTimeout: DefaultBlockTimeout,
	}, got)

	assert.Equal(t, "block", Block.String())
	assert.Equal(t, "drop-oldest", DropOldest.String())
	assert.Equal(t, "default", OverflowPolicy(0).String())

	c, _ := newMiniredisClient(t, Options{PubSub: def})
	h, _ := collect(1)
	s, err := c.Subscribe(testCtx(t), h, "x")
	require.NoError(t, err)
	closeSub(t, s)
	assert.Equal(t, 3, s.opts.BufferSize)
	assert.Equal(t, DropOldest, s.opts.Overflow)
}

func TestMessageDecode(t *testing.T) {
	var n int
	require.NoError(t, Message{Channel: "c", Payload: []byte("12")}.Decode(&n))
	assert.Equal(t, 12, n)
	var s signal
	err := Message{Channel: "c", Payload: []byte("not msgpack")}.Decode(&s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode message c")
	err = Message{Payload: []byte{0x80, 0x04, 0x95}}.Decode(&s)
	assert.ErrorIs(t, err, ErrUnsupportedFormat)
}

func TestSubscriptionReconnectsAfterServerRestart(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	reconnected := make(chan struct{}, 10)
	h, ch := collect(100)
	s, err := c.SubscribeWith(ctx, SubscribeOptions{OnReconnect: func() { reconnected <- struct{}{} }}, h, "feed")
	require.NoError(t, err)
	closeSub(t, s)
	_, err = c.Publish(ctx, "feed", "before")
	require.NoError(t, err)
	assert.Equal(t, "before", string(recvMsg(t, ch).Payload))

	mr.Close()
	require.NoError(t, mr.Restart())
	select {
	case <-reconnected:
	case <-time.After(waitFor):
		t.Fatal("OnReconnect not called after the restart")
	}
	n, err := c.Publish(ctx, "feed", "after")
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "resubscribed before OnReconnect")
	assert.Equal(t, "after", string(recvMsg(t, ch).Payload))
	assert.EqualValues(t, 1, s.Stats().Reconnects)
}

func TestOnReconnectPanicIsReported(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	errs := make(chan error, 10)
	h, ch := collect(10)
	s, err := c.SubscribeWith(ctx, SubscribeOptions{
		OnReconnect: func() { panic("resync failed") },
		OnError:     func(err error) { errs <- err },
	}, h, "feed")
	require.NoError(t, err)
	closeSub(t, s)
	mr.Close()
	require.NoError(t, mr.Restart())
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, ErrHandlerPanic)
	case <-time.After(waitFor):
		t.Fatal("the OnReconnect panic was not reported")
	}
	_, err = c.Publish(ctx, "feed", "still running")
	require.NoError(t, err)
	assert.Equal(t, "still running", string(recvMsg(t, ch).Payload))
	assert.EqualValues(t, 1, s.Stats().Panics)
}

// stallProxy forwards TCP connections to a backend until Stall, after which
// the connections open at that moment stop carrying data in either
// direction without being closed, like a peer that vanished. Connections
// made later work normally.
type stallProxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	stalls  []chan struct{}
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T, backend string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{ln: ln, backend: backend}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.Stall()
		p.wg.Wait()
	})
	return p
}

func (p *stallProxy) Addr() string { return p.ln.Addr().String() }

func (p *stallProxy) serve() {
	defer p.wg.Done()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = client.Close()
			continue
		}
		conns = append(conns, client, server)
		stall := make(chan struct{})
		p.mu.Lock()
		p.stalls = append(p.stalls, stall)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				select {
				case <-stall:
					// Swallow everything from now on.
				default:
					if n > 0 {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							return
						}
					}
				}
				if err != nil {
					_ = dst.Close()
					return
				}
			}
		}
		p.wg.Add(2)
		go pipe(server, client)
		go pipe(client, server)
	}
}

// Stall silences every connection open now.
func (p *stallProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.stalls {
		select {
		case <-s:
		default:
			close(s)
		}
	}
	p.stalls = nil
}

func TestHealthCheckReplacesSilentConnection(t *testing.T) {
	_, mr := newMiniredisClient(t, Options{})
	proxy := newStallProxy(t, mr.Addr())
	c, err := New(Options{Addr: proxy.Addr()})
	require.NoError(t, err)
	ctx := testCtx(t)
	reconnected := make(chan struct{}, 10)
	h, ch := collect(10)
	s, err := c.SubscribeWith(ctx, SubscribeOptions{
		HealthCheckInterval: 50 * time.Millisecond,
		OnReconnect:         func() { reconnected <- struct{}{} },
	}, h, "feed")
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	// Idle pings keep a healthy connection.
	time.Sleep(300 * time.Millisecond)
	assert.Zero(t, s.Stats().Reconnects, "answered PINGs must not cause reconnects")

	proxy.Stall()
	select {
	case <-reconnected:
	case <-time.After(waitFor):
		t.Fatal("a silent connection was not replaced")
	}
	mr.Publish("trading:feed", "through the new connection")
	assert.Equal(t, "through the new connection", string(recvMsg(t, ch).Payload))
	assert.EqualValues(t, 1, s.Stats().Reconnects)
	require.NoError(t, s.Close())
}

func TestHealthCheckIgnoresPausedReader(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	g := newGate()
	s, err := c.SubscribeWith(ctx, SubscribeOptions{BufferSize: 1, HealthCheckInterval: 20 * time.Millisecond}, g.handle, "slow")
	require.NoError(t, err)
	closeSub(t, s)
	for i := range 5 {
		_, err := c.Publish(ctx, "slow", i)
		require.NoError(t, err)
	}
	waitStarted(t, g)
	// The reader waits for buffer space: its silence is no sign of a dead
	// connection, so no PING round and no reconnect may happen.
	time.Sleep(200 * time.Millisecond)
	close(g.release)
	require.Eventually(t, func() bool { return s.Stats().Delivered == 5 }, waitFor, time.Millisecond)
	st := s.Stats()
	assert.Zero(t, st.Reconnects)
	assert.Zero(t, st.Dropped)
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, g.delivered())
}
