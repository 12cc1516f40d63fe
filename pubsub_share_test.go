package redisclient

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counter returns a handler that counts messages by payload.
type counter struct {
	mu  sync.Mutex
	got map[string]int
}

func newCounter() *counter { return &counter{got: map[string]int{}} }

func (c *counter) handle(_ context.Context, m Message) error {
	c.mu.Lock()
	c.got[m.Channel+"="+string(m.Payload)]++
	c.mu.Unlock()
	return nil
}

func (c *counter) count(channel, payload string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[channel+"="+payload]
}

// TestSubscriptionsShareOneConnection: the subscriptions of a client and of
// its views, plain and pattern, travel over one connection, and an idle
// subscription runs no goroutine (they used to hold a connection and three
// goroutines each).
func TestSubscriptionsShareOneConnection(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	_, err := c.Publish(ctx, "warm", "x") // opens the pool's connection
	require.NoError(t, err)
	conns := mr.CurrentConnectionCount()
	goroutines := stableGoroutines()

	const n = 300
	h := newCounter()
	views := []*Client{c, c.Namespace("a"), c.WithSerializer(JSONSerializer{})}
	subs := make([]*Subscription, 0, n)
	var firstTen int
	for i := range n {
		if i == 10 {
			firstTen = stableGoroutines()
		}
		v := views[i%len(views)]
		var s *Subscription
		if i%10 == 9 {
			s, err = v.PSubscribe(ctx, h.handle, "pat"+strconv.Itoa(i)+":*")
		} else {
			s, err = v.Subscribe(ctx, h.handle, "ch"+strconv.Itoa(i))
		}
		require.NoError(t, err)
		subs = append(subs, s)
	}
	assert.Equal(t, conns+1, mr.CurrentConnectionCount(), "every subscription on one connection")
	after := stableGoroutines()
	// The connection's reader and health check, and miniredis's goroutines
	// for the connection; nothing per subscription.
	assert.LessOrEqual(t, after, firstTen, "goroutines after 10 and after %d subscriptions", n)
	assert.LessOrEqual(t, after-goroutines, 8)

	for i := range n {
		v := views[i%len(views)]
		ch := "ch" + strconv.Itoa(i)
		if i%10 == 9 {
			ch = "pat" + strconv.Itoa(i) + ":x"
		}
		_, err := v.Publish(ctx, ch, "hi")
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		for i := range n {
			ch := "ch" + strconv.Itoa(i)
			if i%10 == 9 {
				ch = "pat" + strconv.Itoa(i) + ":x"
			}
			if h.count(ch, "hi") != 1 {
				return false
			}
		}
		return true
	}, waitFor, 5*time.Millisecond, "every subscription got its message")

	for _, s := range subs {
		require.NoError(t, s.Close())
	}
	require.Eventually(t, func() bool { return mr.CurrentConnectionCount() == conns }, waitFor, 5*time.Millisecond,
		"the connection closes with its last subscription")
	assert.LessOrEqual(t, settleGoroutines(goroutines), goroutines)
}

// TestSubscriptionMemory: an idle subscription with the default 1024-message
// buffer costs at most 16 KiB of heap (it used to cost 77 KiB: a
// connection, its buffers and three goroutines).
func TestSubscriptionMemory(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	h, _ := collect(0)
	warm, err := c.Subscribe(ctx, h, "warm")
	require.NoError(t, err)
	closeSub(t, warm)
	const n = 500
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	subs := make([]*Subscription, n)
	for i := range subs {
		subs[i], err = c.Subscribe(ctx, h, "mem"+strconv.Itoa(i))
		require.NoError(t, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("heap per subscription: %d B (miniredis's side included)", per)
	assert.LessOrEqual(t, per, int64(16<<10))
	for _, s := range subs {
		require.NoError(t, s.Close())
	}
}

// TestRefcountedUnsubscribe: a channel or pattern that several subscriptions
// share stays subscribed until the last of them closes; closing one never
// disturbs the others.
func TestRefcountedUnsubscribe(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	ha, hb := newCounter(), newCounter()
	a, err := c.Subscribe(ctx, ha.handle, "x", "y")
	require.NoError(t, err)
	b, err := c.Subscribe(ctx, hb.handle, "x")
	require.NoError(t, err)
	closeSub(t, b)
	pa, err := c.PSubscribe(ctx, ha.handle, "p:*")
	require.NoError(t, err)
	pb, err := c.PSubscribe(ctx, hb.handle, "p:*")
	require.NoError(t, err)
	closeSub(t, pb)
	assert.Equal(t, map[string]int{"trading:x": 1, "trading:y": 1}, mr.PubSubNumSub("trading:x", "trading:y"))
	assert.Equal(t, 1, mr.PubSubNumPat())

	require.NoError(t, a.Close())
	require.NoError(t, pa.Close())
	require.Eventually(t, func() bool {
		return mr.PubSubNumSub("trading:y")["trading:y"] == 0
	}, waitFor, time.Millisecond, "y had no other subscription: unsubscribed")
	assert.Equal(t, 1, mr.PubSubNumSub("trading:x")["trading:x"], "x is still b's")
	assert.Equal(t, 1, mr.PubSubNumPat(), "p:* is still pb's")

	for _, ch := range []string{"x", "y", "p:1"} {
		_, err := c.Publish(ctx, ch, "after")
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return hb.count("x", "after") == 1 && hb.count("p:1", "after") == 1 },
		waitFor, time.Millisecond)
	assert.Zero(t, ha.count("x", "after")+ha.count("y", "after")+ha.count("p:1", "after"), "closed subscriptions get nothing")

	// Subscribing y again, and x a second time, works as the first time.
	hc := newCounter()
	s, err := c.Subscribe(ctx, hc.handle, "y", "x")
	require.NoError(t, err)
	closeSub(t, s)
	_, err = c.Publish(ctx, "y", "again")
	require.NoError(t, err)
	_, err = c.Publish(ctx, "x", "again")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return hc.count("y", "again") == 1 && hc.count("x", "again") == 1 && hb.count("x", "again") == 1
	}, waitFor, time.Millisecond)
}

// TestSlowSubscriptionDoesNotStallOthers: a Block subscription whose handler
// is stuck holds the shared reader up for at most BlockTimeout, then its own
// messages are dropped and counted while a fast subscription on the same
// connection gets every one of its messages, in order; once the stuck
// handler returns, it catches up and receives again. Handler panics stay
// with their subscription too.
func TestSlowSubscriptionDoesNotStallOthers(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	g := newGate()
	slow, err := c.SubscribeWith(ctx, SubscribeOptions{BufferSize: 4, BlockTimeout: 50 * time.Millisecond}, g.handle, "slow")
	require.NoError(t, err)
	closeSub(t, slow)
	dropping, err := c.SubscribeWith(ctx, SubscribeOptions{BufferSize: 2, Overflow: DropOldest},
		func(ctx context.Context, _ Message) error { <-ctx.Done(); return nil }, "slow")
	require.NoError(t, err)
	closeSub(t, dropping)
	panicky, err := c.SubscribeWith(ctx, SubscribeOptions{OnError: func(error) {}},
		func(context.Context, Message) error { panic("handler bug") }, "fast")
	require.NoError(t, err)
	closeSub(t, panicky)
	const total = 300
	fastCh := make(chan string, total)
	fast, err := c.Subscribe(ctx, func(_ context.Context, m Message) error {
		fastCh <- string(m.Payload)
		return nil
	}, "fast")
	require.NoError(t, err)
	closeSub(t, fast)

	for i := range total {
		_, err := c.Publish(ctx, "slow", i)
		require.NoError(t, err)
		_, err = c.Publish(ctx, "fast", i)
		require.NoError(t, err)
	}
	for i := range total {
		select {
		case p := <-fastCh:
			require.Equal(t, strconv.Itoa(i), p)
		case <-time.After(waitFor):
			t.Fatalf("fast subscription got %d of %d messages", i, total)
		}
	}
	require.Eventually(t, func() bool { return slow.Stats().Received == total }, waitFor, time.Millisecond)
	st := slow.Stats()
	// The handler holds one message, the buffer four; the rest were
	// dropped after the reader had waited 50 ms for room.
	assert.EqualValues(t, total-5, st.Dropped, "%+v", st)
	assert.Equal(t, 4, st.Pending)
	require.Eventually(t, func() bool { return panicky.Stats().Panics == total }, waitFor, time.Millisecond)

	close(g.release)
	require.Eventually(t, func() bool { return slow.Stats().Delivered == 5 }, waitFor, time.Millisecond)
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, g.delivered(), "the oldest messages were kept")
	_, err = c.Publish(ctx, "slow", "back")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return slow.Stats().Delivered == 6 }, waitFor, time.Millisecond,
		"a subscription that caught up receives again")
	st = slow.Stats()
	assert.Equal(t, st.Received, st.Delivered+st.Dropped)
}

// TestBlockWaitIsBoundedPerEpisode: a Block subscription whose handler stays
// slow costs the shared reader at most BlockTimeout until its handler has
// worked the buffer down to half, however many messages find it full.
func TestBlockWaitIsBoundedPerEpisode(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	g := newGate()
	const blockFor = 200 * time.Millisecond
	slow, err := c.SubscribeWith(ctx, SubscribeOptions{BufferSize: 1, BlockTimeout: blockFor}, g.handle, "slow")
	require.NoError(t, err)
	closeSub(t, slow)
	_, err = c.Publish(ctx, "slow", "held")
	require.NoError(t, err)
	waitStarted(t, g)
	start := time.Now()
	for i := range 20 {
		_, err := c.Publish(ctx, "slow", i)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return slow.Stats().Received == 21 }, waitFor, time.Millisecond)
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, blockFor, "the reader waited for room first")
	st := slow.Stats()
	assert.EqualValues(t, 19, st.Dropped, "one message buffered, the rest dropped after one wait")
	close(g.release)
}

// TestSharedReconnectResubscribesOnce: when the shared connection breaks,
// every subscription on it is confirmed again and gets its OnReconnect once,
// after the messages it received before the loss.
func TestSharedReconnectResubscribesOnce(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	type sub struct {
		s           *Subscription
		reconnected chan struct{}
		h           *counter
	}
	var subs []sub
	for i := range 5 {
		rc := make(chan struct{}, 10)
		h := newCounter()
		opts := SubscribeOptions{OnReconnect: func() { rc <- struct{}{} }}
		var s *Subscription
		var err error
		if i == 4 {
			s, err = c.PSubscribeWith(ctx, opts, h.handle, "feed:*")
		} else {
			s, err = c.SubscribeWith(ctx, opts, h.handle, "feed:"+strconv.Itoa(i%2)) // two share each channel
		}
		require.NoError(t, err)
		closeSub(t, s)
		subs = append(subs, sub{s, rc, h})
	}
	mr.Close()
	require.NoError(t, mr.Restart())
	for i, s := range subs {
		select {
		case <-s.reconnected:
		case <-time.After(waitFor):
			t.Fatalf("subscription %d: OnReconnect not called", i)
		}
	}
	assert.Equal(t, map[string]int{"trading:feed:0": 1, "trading:feed:1": 1}, mr.PubSubNumSub("trading:feed:0", "trading:feed:1"),
		"each channel subscribed once on the new connection")
	for i := range 2 {
		_, err := c.Publish(ctx, "feed:"+strconv.Itoa(i), "after")
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		for i, s := range subs {
			want := "feed:" + strconv.Itoa(i%2)
			if i == 4 {
				if s.h.count("feed:0", "after")+s.h.count("feed:1", "after") != 2 {
					return false
				}
			} else if s.h.count(want, "after") != 1 {
				return false
			}
		}
		return true
	}, waitFor, time.Millisecond)
	for _, s := range subs {
		assert.EqualValues(t, 1, s.s.Stats().Reconnects)
		select {
		case <-s.reconnected:
			t.Fatal("a second OnReconnect for one loss")
		default:
		}
	}
}

// TestOnReconnectRunsAfterEarlierMessages: OnReconnect is queued behind the
// messages received before the loss, so a resync in it sees them handled,
// and a slow OnReconnect holds up only its own subscription.
func TestOnReconnectRunsAfterEarlierMessages(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	g := newGate()
	var order []string
	var mu sync.Mutex
	reconnected := make(chan struct{})
	s, err := c.SubscribeWith(ctx, SubscribeOptions{OnReconnect: func() {
		mu.Lock()
		order = append(order, "reconnect")
		mu.Unlock()
		close(reconnected)
	}}, func(ctx context.Context, m Message) error {
		err := g.handle(ctx, m)
		mu.Lock()
		order = append(order, string(m.Payload))
		mu.Unlock()
		return err
	}, "a")
	require.NoError(t, err)
	closeSub(t, s)
	unstick := make(chan struct{})
	stuck, err := c.SubscribeWith(ctx, SubscribeOptions{OnReconnect: func() { <-unstick }}, func(context.Context, Message) error { return nil }, "b")
	require.NoError(t, err)
	closeSub(t, stuck)
	defer close(unstick)
	for i := range 3 {
		_, err := c.Publish(ctx, "a", i)
		require.NoError(t, err)
	}
	waitStarted(t, g)
	mr.Close()
	require.NoError(t, mr.Restart())
	require.Eventually(t, func() bool { return s.Stats().Reconnects == 1 && stuck.Stats().Reconnects == 1 }, waitFor, time.Millisecond)
	close(g.release)
	select {
	case <-reconnected:
	case <-time.After(waitFor):
		t.Fatal("OnReconnect not called")
	}
	_, err = c.Publish(ctx, "a", "after")
	require.NoError(t, err)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 5 }, waitFor, time.Millisecond)
	assert.Equal(t, []string{"0", "1", "2", "reconnect", "after"}, order)
}

// TestCloseRacesSubscribe: subscriptions made and closed at once from many
// goroutines, on overlapping channels, with messages flowing, leave the
// shared state consistent: every Subscribe that returned was confirmed and
// receives, every Close leaves no goroutine, and the connection closes with
// the last subscription.
func TestCloseRacesSubscribe(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	_, err := c.Publish(ctx, "warm", "x")
	require.NoError(t, err)
	conns := mr.CurrentConnectionCount()
	before := stableGoroutines()
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	pubs.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = c.Publish(ctx, "race:"+strconv.Itoa(i%4), i)
		}
	})
	var wg sync.WaitGroup
	var failures atomic.Int32
	for w := range 8 {
		wg.Go(func() {
			for i := range 30 {
				got := make(chan struct{}, 1)
				h := func(context.Context, Message) error {
					select {
					case got <- struct{}{}:
					default:
					}
					return nil
				}
				ch := "race:" + strconv.Itoa((w+i)%4)
				var s *Subscription
				var err error
				if i%3 == 2 {
					s, err = c.PSubscribe(ctx, h, "race:*")
				} else {
					s, err = c.Subscribe(ctx, h, ch, "race:"+strconv.Itoa((w+i+1)%4))
				}
				if err != nil {
					failures.Add(1)
					continue
				}
				if i%2 == 0 {
					select {
					case <-got:
					case <-time.After(waitFor):
						failures.Add(1)
					}
				}
				if err := s.Close(); err != nil {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	pubs.Wait()
	assert.Zero(t, failures.Load(), "subscribes, deliveries or closes that failed")
	require.Eventually(t, func() bool { return mr.CurrentConnectionCount() == conns }, waitFor, 5*time.Millisecond)
	assert.LessOrEqual(t, settleGoroutines(before), before)
	assert.Empty(t, mr.PubSubChannels("*"))
	assert.Zero(t, mr.PubSubNumPat())
}

// TestClientCloseRacesSubscribe: Subscribe calls racing Client.Close either
// return a subscription that Client.Close closed, or ErrClosed; nothing is
// left running.
func TestClientCloseRacesSubscribe(t *testing.T) {
	_, mr := newMiniredisClient(t, Options{})
	before := stableGoroutines()
	c, err := New(Options{Addr: mr.Addr()})
	require.NoError(t, err)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	var made, refused atomic.Int32
	var subs sync.Map
	start := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				s, err := c.Subscribe(ctx, func(context.Context, Message) error { return nil }, fmt.Sprintf("cc:%d:%d", w, i%3))
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Subscribe: %v, want ErrClosed", err)
					}
					refused.Add(1)
					return
				}
				made.Add(1)
				subs.Store(s, true)
			}
		})
	}
	close(start)
	require.Eventually(t, func() bool { return made.Load() > 20 }, waitFor, time.Millisecond)
	require.NoError(t, c.Close())
	wg.Wait()
	assert.EqualValues(t, 8, refused.Load())
	subs.Range(func(k, _ any) bool {
		assert.NoError(t, k.(*Subscription).Close(), "closed by Client.Close")
		return true
	})
	assert.LessOrEqual(t, settleGoroutines(before), before)
}
