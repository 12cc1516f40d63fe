package redisclient

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// streamWait bounds every wait on a stream consumer in these tests; it is
// generous because a loaded 2-core machine may stall for seconds.
const streamWait = 20 * time.Second

// fastConsume are options that keep the tests quick: short reads, so Close
// returns soon, and a short retry pause.
func fastConsume(o ConsumeOptions) ConsumeOptions {
	if o.Block == 0 {
		o.Block = 50 * time.Millisecond
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 5 * time.Millisecond
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = streamWait
	}
	return o
}

// errSink collects what OnError receives.
type errSink struct {
	mu   sync.Mutex
	errs []error
}

func (s *errSink) add(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *errSink) all() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// consume starts a consumer that closes when the test ends.
func consume(t *testing.T, s *Stream, group, name string, opts ConsumeOptions, h func(context.Context, StreamMessage) error) *Consumer {
	t.Helper()
	cs, err := s.Consume(testCtx(t), group, name, h, fastConsume(opts))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// groupPending returns the number of pending entries of group.
func groupPending(t *testing.T, c *Client, s *Stream, group string) int64 {
	t.Helper()
	p, err := c.Redis().XPending(testCtx(t), s.Key(), group).Result()
	require.NoError(t, err)
	return p.Count
}

func TestStreamAddEncodesLikeSet(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		assert.Equal(t, c.Key("orders"), s.Key())
		assert.Equal(t, "orders", s.Name())
		values := []any{"text", []byte{0, 1, 2}, 42, 3.0, -1.5, streamQuote{Symbol: "AAPL", Bid: 1.5}, map[string]any{"a": 1}}
		for i, v := range values {
			id, err := s.Add(ctx, v)
			require.NoError(t, err)
			require.NotEmpty(t, id)
			require.NoError(t, c.Set(ctx, "same:"+strconv.Itoa(i), v, time.Minute))
		}
		n, err := s.Len(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, len(values), n)

		entries, err := c.Redis().XRange(ctx, s.Key(), "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, entries, len(values))
		for i, e := range entries {
			raw, err := c.Redis().Get(ctx, c.Key("same:"+strconv.Itoa(i))).Result()
			require.NoError(t, err)
			assert.Equal(t, map[string]any{StreamDataField: raw}, e.Values, "entry %d holds what Set stores", i)
		}

		n, err = c.Stream("missing").Len(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
	})
}

type streamQuote struct {
	Symbol string  `json:"symbol"`
	Bid    float64 `json:"bid"`
	Ask    float64 `json:"ask"`
}

func TestStreamMaxLen(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		trimmed := c.Stream("ticks").WithMaxLen(10)
		unbounded := c.Stream("all").WithMaxLen(NoMaxLen)
		for i := range 1000 {
			_, err := trimmed.Add(ctx, i)
			require.NoError(t, err)
			_, err = unbounded.Add(ctx, i)
			require.NoError(t, err)
		}
		n, err := trimmed.Len(ctx)
		require.NoError(t, err)
		// MAXLEN ~ removes whole nodes (100 entries by default).
		assert.GreaterOrEqual(t, n, int64(10))
		assert.LessOrEqual(t, n, int64(10+200))
		n, err = unbounded.Len(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 1000, n)

		// The default bound is sent too.
		args := c.Redis().XAdd(ctx, &redis.XAddArgs{Stream: "x", MaxLen: DefaultStreamMaxLen, Approx: true, Values: []any{"a", 1}}).Args()
		assert.Contains(t, fmt.Sprint(args), "maxlen ~ 1000000")
		for _, bad := range []int64{0, -2} {
			_, err = c.Stream("bad").WithMaxLen(bad).Add(ctx, 1)
			assert.ErrorIs(t, err, ErrInvalidOptions)
			assert.ErrorContains(t, err, "WithMaxLen")
		}
	})
}

func TestStreamInvalidInput(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	ok := func(context.Context, StreamMessage) error { return nil }

	_, err := c.Stream("").Add(ctx, 1)
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.Stream("").Len(ctx)
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.Stream("").Consume(ctx, "g", "c", ok, ConsumeOptions{})
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.Stream("s").Add(ctx, nil)
	assert.ErrorIs(t, err, ErrUnsupportedType)
	assert.ErrorContains(t, err, "xadd trading:s: unsupported type: cannot store a nil value")
	_, err = c.Stream("s").Consume(ctx, "", "c", ok, ConsumeOptions{})
	assert.ErrorIs(t, err, ErrInvalidKey)
	assert.ErrorContains(t, err, "empty group")
	_, err = c.Stream("s").Consume(ctx, "g", "", ok, ConsumeOptions{})
	assert.ErrorIs(t, err, ErrInvalidKey)
	assert.ErrorContains(t, err, "empty consumer")
	_, err = c.Stream("s").Consume(ctx, "g", "c", nil, ConsumeOptions{})
	assert.ErrorContains(t, err, "consume trading:s: handler is nil")
	_, err = c.Stream("s").Consume(ctx, "g", "c", ok, ConsumeOptions{DeadLetter: "s"})
	assert.ErrorIs(t, err, ErrInvalidOptions)

	for _, bad := range []struct {
		opts ConsumeOptions
		name string
	}{
		{ConsumeOptions{MinIdle: -time.Second}, "MinIdle"},
		{ConsumeOptions{MinIdle: time.Microsecond}, "MinIdle"},
		{ConsumeOptions{MaxDeliveries: -2}, "MaxDeliveries"},
		{ConsumeOptions{Concurrency: -1}, "Concurrency"},
		{ConsumeOptions{BatchSize: -1}, "BatchSize"},
		{ConsumeOptions{Block: -1}, "Block"},
		{ConsumeOptions{Block: time.Microsecond}, "Block"},
		{ConsumeOptions{RetryDelay: -2}, "RetryDelay"},
		{ConsumeOptions{MaxRetryDelay: -1}, "MaxRetryDelay"},
		{ConsumeOptions{CloseTimeout: -1}, "CloseTimeout"},
	} {
		_, err := c.Stream("s").Consume(ctx, "g", "c", ok, bad.opts)
		assert.ErrorIs(t, err, ErrInvalidOptions, bad.name)
		assert.ErrorContains(t, err, "ConsumeOptions."+bad.name)
	}

	// The key exists with another type.
	require.NoError(t, c.Set(ctx, "str", "x", time.Minute))
	_, err = c.Stream("str").Consume(ctx, "g", "c", ok, ConsumeOptions{})
	assert.ErrorContains(t, err, "WRONGTYPE")

	// Two running consumers of one name in one process would steal each
	// other's messages.
	cs := consume(t, c.Stream("s"), "g", "c", ConsumeOptions{}, ok)
	_, err = c.Stream("s").Consume(ctx, "g", "c", ok, ConsumeOptions{})
	assert.ErrorIs(t, err, ErrInvalidOptions)
	assert.ErrorContains(t, err, `consumer "c" of group "g" is already running`)
	require.NoError(t, cs.Close())
	cs2 := consume(t, c.Stream("s"), "g", "c", ConsumeOptions{}, ok)
	require.NoError(t, cs2.Close())

	require.NoError(t, c.Close())
	_, err = c.Stream("s").Add(ctx, 1)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = c.Stream("s").Consume(ctx, "g", "c", ok, ConsumeOptions{})
	assert.ErrorIs(t, err, ErrClosed)
}

func TestConsumeDeliversAndAcks(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("signals")
		id, err := s.Add(ctx, streamQuote{Symbol: "AAPL", Bid: 187.2, Ask: 187.25})
		require.NoError(t, err)

		got := make(chan StreamMessage, 1)
		cs := consume(t, s, "g", "w1", ConsumeOptions{}, func(_ context.Context, m StreamMessage) error {
			got <- m
			return nil
		})
		assert.Equal(t, "g", cs.Group())
		assert.Equal(t, "w1", cs.Name())
		var m StreamMessage
		select {
		case m = <-got:
		case <-time.After(streamWait):
			t.Fatal("message not delivered")
		}
		assert.Equal(t, id, m.ID)
		assert.Equal(t, "signals", m.Stream)
		assert.EqualValues(t, 1, m.Deliveries)
		assert.Nil(t, m.Fields)
		var q streamQuote
		require.NoError(t, m.Decode(&q))
		assert.Equal(t, streamQuote{"AAPL", 187.2, 187.25}, q)

		require.Eventually(t, func() bool { return cs.Stats().Acked == 1 }, streamWait, 5*time.Millisecond)
		assert.Zero(t, groupPending(t, c, s, "g"), "acknowledged in Redis")
		require.NoError(t, cs.Close())
		st := cs.Stats()
		assert.Equal(t, ConsumerStats{Delivered: 1, Acked: 1}, st)
	})
}

func TestConsumeGroupStart(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("events")
		_, err := s.Add(ctx, "before")
		require.NoError(t, err)

		seen := func(group string, newOnly bool) chan string {
			ch := make(chan string, 10)
			consume(t, s, group, "w", ConsumeOptions{NewOnly: newOnly}, func(_ context.Context, m StreamMessage) error {
				ch <- string(m.Payload)
				return nil
			})
			return ch
		}
		all := seen("all", false)
		onlyNew := seen("new", true)
		_, err = s.Add(ctx, "after")
		require.NoError(t, err)
		for _, want := range []string{"before", "after"} {
			select {
			case got := <-all:
				assert.Equal(t, want, got)
			case <-time.After(streamWait):
				t.Fatalf("group all: %q not delivered", want)
			}
		}
		select {
		case got := <-onlyNew:
			assert.Equal(t, "after", got, "NewOnly skips what was there before")
		case <-time.After(streamWait):
			t.Fatal("group new: nothing delivered")
		}
	})
}

// TestConsumeSharedNoLoss: two consumers of one group share 1000 messages;
// every message is handled and acknowledged, none twice.
func TestConsumeSharedNoLoss(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		sharedNoLoss(t, c, 1000)
	})
}

func sharedNoLoss(t *testing.T, c *Client, n int) {
	ctx := testCtx(t)
	s := c.Stream("orders")
	var mu sync.Mutex
	seen := make(map[int]string)
	var dup []int
	handler := func(name string) func(context.Context, StreamMessage) error {
		return func(_ context.Context, m StreamMessage) error {
			var v int
			if err := m.Decode(&v); err != nil {
				return err
			}
			mu.Lock()
			if _, ok := seen[v]; ok {
				dup = append(dup, v)
			}
			seen[v] = name
			mu.Unlock()
			return nil
		}
	}
	a := consume(t, s, "g", "a", ConsumeOptions{BatchSize: 7}, handler("a"))
	b := consume(t, s, "g", "b", ConsumeOptions{BatchSize: 7, Concurrency: 3}, handler("b"))
	for i := range n {
		_, err := s.Add(ctx, i)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		return a.Stats().Acked+b.Stats().Acked == uint64(n)
	}, streamWait, 10*time.Millisecond, "acked: a %+v b %+v", a.Stats(), b.Stats())
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, seen, n)
	assert.Empty(t, dup)
	counts := map[string]int{}
	for _, who := range seen {
		counts[who]++
	}
	t.Logf("a handled %d, b handled %d", counts["a"], counts["b"])
	assert.Zero(t, groupPending(t, c, s, "g"))
	for _, cs := range []*Consumer{a, b} {
		st := cs.Stats()
		assert.Equal(t, st.Delivered, st.Acked, "%+v", st)
		assert.Zero(t, st.Pending)
	}
}

// TestConsumeOrderedWithRetry: with Concurrency 1 messages are handled in
// stream order, and a message being retried holds up the ones after it.
func TestConsumeOrderedWithRetry(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("ordered")
		for i := range 50 {
			_, err := s.Add(ctx, i)
			require.NoError(t, err)
		}
		var mu sync.Mutex
		var order []int
		failures := 0
		var sink errSink
		cs := consume(t, s, "g", "w", ConsumeOptions{BatchSize: 4, OnError: sink.add}, func(_ context.Context, m StreamMessage) error {
			var v int
			require.NoError(t, m.Decode(&v))
			mu.Lock()
			defer mu.Unlock()
			if v == 10 && failures < 2 {
				failures++
				assert.EqualValues(t, failures, m.Deliveries)
				return fmt.Errorf("transient %d", failures)
			}
			if v == 10 {
				assert.EqualValues(t, 3, m.Deliveries, "each retry is a delivery")
			}
			order = append(order, v)
			return nil
		})
		require.Eventually(t, func() bool { return cs.Stats().Acked == 50 }, streamWait, 5*time.Millisecond)
		require.NoError(t, cs.Close())
		want := make([]int, 50)
		for i := range want {
			want[i] = i
		}
		mu.Lock()
		assert.Equal(t, want, order)
		mu.Unlock()
		st := cs.Stats()
		assert.EqualValues(t, 2, st.Retried)
		assert.EqualValues(t, 2, st.HandlerErrors)
		errs := sink.all()
		require.Len(t, errs, 2)
		assert.ErrorContains(t, errs[0], "handle stream message "+s.Key()+" ")
		assert.ErrorContains(t, errs[0], "delivery 1: transient 1")
		assert.ErrorContains(t, errs[1], "delivery 2: transient 2")
		var e *Error
		assert.ErrorAs(t, errs[0], &e)
	})
}

func TestConsumePanicIsRetried(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("p")
		_, err := s.Add(ctx, "boom")
		require.NoError(t, err)
		var sink errSink
		calls := 0
		cs := consume(t, s, "g", "w", ConsumeOptions{OnError: sink.add}, func(_ context.Context, m StreamMessage) error {
			calls++
			if calls == 1 {
				panic("handler bug")
			}
			return nil
		})
		require.Eventually(t, func() bool { return cs.Stats().Acked == 1 }, streamWait, 5*time.Millisecond)
		require.NoError(t, cs.Close())
		st := cs.Stats()
		assert.EqualValues(t, 1, st.Panics)
		assert.EqualValues(t, 1, st.Retried)
		errs := sink.all()
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], ErrHandlerPanic)
		assert.ErrorContains(t, errs[0], "handler bug")
	})
}

// TestConsumeDeadLetter: a poison message is tried MaxDeliveries times,
// then lands in the dead-letter stream with the last error and is
// acknowledged; the messages around it are handled.
func TestConsumeDeadLetter(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		var ids []string
		for _, v := range []string{"ok1", "poison", "ok2"} {
			id, err := s.Add(ctx, v)
			require.NoError(t, err)
			ids = append(ids, id)
		}
		var sink errSink
		var mu sync.Mutex
		var handled []string
		cs := consume(t, s, "g", "w", ConsumeOptions{MaxDeliveries: 3, OnError: sink.add}, func(_ context.Context, m StreamMessage) error {
			if string(m.Payload) == "poison" {
				return fmt.Errorf("cannot parse order (try %d)", m.Deliveries)
			}
			mu.Lock()
			handled = append(handled, string(m.Payload))
			mu.Unlock()
			return nil
		})
		require.Eventually(t, func() bool {
			st := cs.Stats()
			return st.Acked == 2 && st.DeadLettered == 1
		}, streamWait, 5*time.Millisecond)
		require.NoError(t, cs.Close())
		assert.Equal(t, []string{"ok1", "ok2"}, handled)
		assert.Zero(t, groupPending(t, c, s, "g"), "the poison message is acknowledged")
		st := cs.Stats()
		assert.EqualValues(t, 2, st.Retried)
		assert.EqualValues(t, 3, st.HandlerErrors)
		assert.EqualValues(t, 3, st.Delivered)

		dead, err := c.Redis().XRange(ctx, c.Key("orders:dead"), "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, dead, 1)
		v := dead[0].Values
		assert.Equal(t, "poison", v[StreamDataField])
		assert.Contains(t, v["error"], "cannot parse order (try 3)")
		assert.Equal(t, "3", v["deliveries"])
		assert.Equal(t, ids[1], v["origin_id"])
		assert.Equal(t, s.Key(), v["origin_stream"])
		assert.Equal(t, "g", v["group"])
		assert.Equal(t, "w", v["consumer"])

		errs := sink.all()
		require.Len(t, errs, 4)
		assert.ErrorIs(t, errs[3], ErrDeadLettered)
		assert.ErrorContains(t, errs[3], "to "+c.Key("orders:dead")+" after 3 deliveries")

		// The dead letters are a stream like any other.
		got := make(chan StreamMessage, 1)
		consume(t, c.Stream("orders:dead"), "ops", "w", ConsumeOptions{}, func(_ context.Context, m StreamMessage) error {
			got <- m
			return nil
		})
		select {
		case m := <-got:
			var payload string
			require.NoError(t, m.Decode(&payload))
			assert.Equal(t, "poison", payload)
			assert.Contains(t, m.Fields["error"], "cannot parse order")
		case <-time.After(streamWait):
			t.Fatal("dead letter not consumed")
		}
	})
}

func TestConsumeDeadLetterNamed(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	s := c.Stream("orders")
	_, err := s.Add(ctx, "poison")
	require.NoError(t, err)
	cs := consume(t, s, "g", "w", ConsumeOptions{MaxDeliveries: 1, DeadLetter: "failed:orders"}, func(context.Context, StreamMessage) error {
		return errors.New("no")
	})
	require.Eventually(t, func() bool { return cs.Stats().DeadLettered == 1 }, streamWait, 5*time.Millisecond)
	n, err := c.Stream("failed:orders").Len(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	assert.Zero(t, cs.Stats().Retried, "MaxDeliveries 1: no retry")
}

// TestConsumeReclaimsAfterCrash: a consumer that took a message and died
// without acknowledging it (here a raw XREADGROUP that is never followed
// up) leaves it pending; a live consumer takes it over after MinIdle.
func TestConsumeReclaimsAfterCrash(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		id, err := s.Add(ctx, "order-1")
		require.NoError(t, err)
		require.NoError(t, c.Redis().XGroupCreate(ctx, s.Key(), "g", "0").Err())
		took := time.Now()
		res, err := c.Redis().XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "crashed", Streams: []string{s.Key(), ">"}, Count: 1}).Result()
		require.NoError(t, err)
		require.Len(t, res[0].Messages, 1)

		const minIdle = 300 * time.Millisecond
		got := make(chan StreamMessage, 1)
		cs := consume(t, s, "g", "alive", ConsumeOptions{MinIdle: minIdle}, func(_ context.Context, m StreamMessage) error {
			got <- m
			return nil
		})
		select {
		case m := <-got:
			// Redis counts idle time in whole milliseconds.
			assert.GreaterOrEqual(t, time.Since(took), minIdle-2*time.Millisecond, "not before MinIdle")
			assert.Equal(t, id, m.ID)
			assert.EqualValues(t, 2, m.Deliveries)
		case <-time.After(streamWait):
			t.Fatal("pending message not reclaimed")
		}
		require.Eventually(t, func() bool { return cs.Stats().Acked == 1 }, streamWait, 5*time.Millisecond)
		assert.EqualValues(t, 1, cs.Stats().Reclaimed)
		assert.Zero(t, groupPending(t, c, s, "g"))
	})
}

// TestConsumeKilledMidHandlerRedelivered: consumer A is stopped in the
// middle of a handler (its context is cancelled, it returns without
// success); the message stays pending and consumer B gets it after MinIdle.
func TestConsumeKilledMidHandlerRedelivered(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		const minIdle = 300 * time.Millisecond
		started := make(chan struct{})
		a := consume(t, s, "g", "a", ConsumeOptions{MinIdle: minIdle, CloseTimeout: 50 * time.Millisecond}, func(ctx context.Context, m StreamMessage) error {
			close(started)
			<-ctx.Done() // killed mid-handler
			return ctx.Err()
		})
		t0 := time.Now() // before Redis delivered it to a
		id, err := s.Add(ctx, "order-1")
		require.NoError(t, err)
		select {
		case <-started:
		case <-time.After(streamWait):
			t.Fatal("a got nothing")
		}
		require.NoError(t, a.Close())
		st := a.Stats()
		assert.EqualValues(t, 1, st.LeftPending, "%+v", st)
		assert.Zero(t, st.Acked)
		assert.EqualValues(t, 1, groupPending(t, c, s, "g"))

		got := make(chan StreamMessage, 1)
		b := consume(t, s, "g", "b", ConsumeOptions{MinIdle: minIdle}, func(_ context.Context, m StreamMessage) error {
			got <- m
			return nil
		})
		select {
		case m := <-got:
			assert.GreaterOrEqual(t, time.Since(t0), minIdle-2*time.Millisecond)
			assert.Equal(t, id, m.ID)
			assert.EqualValues(t, 2, m.Deliveries)
		case <-time.After(streamWait):
			t.Fatal("b did not get a's message")
		}
		require.Eventually(t, func() bool { return b.Stats().Acked == 1 }, streamWait, 5*time.Millisecond)
		assert.Zero(t, groupPending(t, c, s, "g"))
	})
}

// TestConsumeOwnPendingAtStart: a consumer restarted under its old name
// takes its pending messages at once, without waiting for MinIdle.
func TestConsumeOwnPendingAtStart(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		for i := range 25 {
			_, err := s.Add(ctx, i)
			require.NoError(t, err)
		}
		require.NoError(t, c.Redis().XGroupCreate(ctx, s.Key(), "g", "0").Err())
		_, err := c.Redis().XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "w1", Streams: []string{s.Key(), ">"}, Count: 23}).Result()
		require.NoError(t, err)

		var mu sync.Mutex
		var order []int
		var deliveries []int64
		cs := consume(t, s, "g", "w1", ConsumeOptions{MinIdle: time.Hour, BatchSize: 5}, func(_ context.Context, m StreamMessage) error {
			var v int
			require.NoError(t, m.Decode(&v))
			mu.Lock()
			order = append(order, v)
			deliveries = append(deliveries, m.Deliveries)
			mu.Unlock()
			return nil
		})
		require.Eventually(t, func() bool { return cs.Stats().Acked == 25 }, streamWait, 5*time.Millisecond)
		require.NoError(t, cs.Close())
		mu.Lock()
		defer mu.Unlock()
		for i := range 25 {
			assert.Equal(t, i, order[i])
			want := int64(1)
			if i < 23 {
				want = 2
			}
			assert.Equal(t, want, deliveries[i], "message %d", i)
		}
		assert.EqualValues(t, 23, cs.Stats().Reclaimed)
	})
}

// TestConsumeDeadLettersAfterCrashes: a message whose consumers kept dying
// (it was delivered MaxDeliveries times, never acknowledged) is
// dead-lettered without calling the handler again.
func TestConsumeDeadLettersAfterCrashes(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		id, err := s.Add(ctx, "kills-the-process")
		require.NoError(t, err)
		rdb := c.Redis()
		require.NoError(t, rdb.XGroupCreate(ctx, s.Key(), "g", "0").Err())
		_, err = rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "x", Streams: []string{s.Key(), ">"}}).Result()
		require.NoError(t, err)
		require.NoError(t, rdb.XClaim(ctx, &redis.XClaimArgs{Stream: s.Key(), Group: "g", Consumer: "y", Messages: []string{id}}).Err())

		var calls int
		var mu sync.Mutex
		// MinIdle well above the time dead-lettering takes: with a shorter
		// one the consumer reclaims the message from itself meanwhile and,
		// as documented, may dead-letter it twice.
		cs := consume(t, s, "g", "z", ConsumeOptions{MinIdle: 300 * time.Millisecond, MaxDeliveries: 2}, func(context.Context, StreamMessage) error {
			mu.Lock()
			calls++
			mu.Unlock()
			return nil
		})
		require.Eventually(t, func() bool { return cs.Stats().DeadLettered == 1 }, streamWait, 5*time.Millisecond)
		mu.Lock()
		assert.Zero(t, calls)
		mu.Unlock()
		dead, err := rdb.XRange(ctx, s.Key()+":dead", "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, dead, 1)
		assert.Contains(t, dead[0].Values["error"], "delivered 2 times without an acknowledgement")
		assert.Equal(t, "3", dead[0].Values["deliveries"])
		assert.Zero(t, groupPending(t, c, s, "g"))
	})
}

// TestConsumeCloseAcksFinishedLeavesRest: Close lets the running handler
// finish and acknowledges it; the messages read but not started stay
// pending for the group.
func TestConsumeCloseAcksFinishedLeavesRest(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		for i := range 10 {
			_, err := s.Add(ctx, i)
			require.NoError(t, err)
		}
		inHandler := make(chan struct{})
		release := make(chan struct{})
		var handled []int
		cs := consume(t, s, "g", "w", ConsumeOptions{BatchSize: 5}, func(ctx context.Context, m StreamMessage) error {
			var v int
			require.NoError(t, m.Decode(&v))
			handled = append(handled, v)
			if v == 2 {
				close(inHandler)
				<-release
				require.NoError(t, ctx.Err(), "the context stays live while Close waits")
			}
			return nil
		})
		<-inHandler
		closed := make(chan error)
		go func() { closed <- cs.Close() }()
		require.Eventually(t, func() bool { return cs.closing.Load() }, streamWait, time.Millisecond)
		close(release)
		require.NoError(t, <-closed)

		assert.Equal(t, []int{0, 1, 2}, handled)
		st := cs.Stats()
		assert.EqualValues(t, 3, st.Acked, "%+v", st)
		assert.EqualValues(t, 2, st.LeftPending, "the rest of the batch")
		assert.EqualValues(t, 5, st.Delivered)
		assert.Zero(t, st.Pending)
		assert.EqualValues(t, 2, groupPending(t, c, s, "g"))
	})
}

func TestConsumeCloseTimeout(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	s := c.Stream("orders")
	_, err := s.Add(ctx, 1)
	require.NoError(t, err)
	inHandler := make(chan struct{})
	release := make(chan struct{})
	cancelled := make(chan struct{})
	cs := consume(t, s, "g", "w", ConsumeOptions{CloseTimeout: 50 * time.Millisecond}, func(ctx context.Context, m StreamMessage) error {
		close(inHandler)
		<-ctx.Done()
		close(cancelled)
		<-release // ignores its context for a while
		return nil
	})
	<-inHandler
	err = cs.Close()
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "close consumer trading:orders")
	<-cancelled
	assert.ErrorIs(t, cs.Close(), context.DeadlineExceeded, "later calls return the first result")
	close(release)
	// It succeeded after all, so it is acknowledged when it returns.
	require.Eventually(t, func() bool { return cs.Stats().Acked == 1 }, streamWait, 5*time.Millisecond)
}

func TestClientCloseClosesConsumers(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	s := c.Namespace("child").Stream("orders")
	_, err := s.Add(ctx, 1)
	require.NoError(t, err)
	running := make(chan struct{})
	release := make(chan struct{})
	cs, err := s.Consume(ctx, "g", "w", func(ctx context.Context, m StreamMessage) error {
		close(running)
		<-release
		return nil
	}, fastConsume(ConsumeOptions{}))
	require.NoError(t, err)
	<-running
	done := make(chan error)
	go func() { done <- c.Close() }()
	require.Eventually(t, func() bool { return cs.closing.Load() }, streamWait, time.Millisecond)
	close(release)
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, cs.Stats().Acked, "Client.Close acks what finished before closing the pool")
	require.NoError(t, cs.Close())
	_, err = s.Consume(ctx, "g", "w2", func(context.Context, StreamMessage) error { return nil }, ConsumeOptions{})
	assert.ErrorIs(t, err, ErrClosed)
}

// TestConsumeCloseRace closes consumers and the client from several
// goroutines while messages flow and stats and health are read (run with
// -race), and checks that no goroutine is left.
func TestConsumeCloseRace(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("race")
		warm := consume(t, s, "warm", "w", ConsumeOptions{}, func(context.Context, StreamMessage) error { return nil })
		_, err := s.Add(ctx, "x")
		require.NoError(t, err)
		require.Eventually(t, func() bool { return warm.Stats().Acked == 1 }, streamWait, 5*time.Millisecond)
		require.NoError(t, warm.Close())

		for round := range 5 {
			var consumers []*Consumer
			for i := range 4 {
				cs, err := s.Consume(ctx, "g", fmt.Sprintf("w%d-%d", round, i), func(ctx context.Context, m StreamMessage) error {
					if m.ID[len(m.ID)-1]%3 == 0 {
						return errors.New("retry me")
					}
					return nil
				}, fastConsume(ConsumeOptions{Concurrency: 1 + i%3, BatchSize: 1 + i, CloseTimeout: 5 * time.Second, OnError: func(error) {}}))
				require.NoError(t, err)
				consumers = append(consumers, cs)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := range 100 {
					if _, err := s.Add(ctx, i); err != nil {
						return
					}
				}
			})
			for _, cs := range consumers {
				wg.Go(func() { _ = cs.Stats(); _ = c.Health(ctx) })
				wg.Go(func() { assert.NoError(t, cs.Close()) })
				wg.Go(func() { assert.NoError(t, cs.Close()) })
			}
			wg.Wait()
			for _, cs := range consumers {
				st := cs.Stats()
				assert.Zero(t, st.Pending, "%+v", st)
				assert.Equal(t, st.Delivered, st.Acked+st.DeadLettered+st.LeftPending, "%+v", st)
			}
		}
		assertNoConsumerGoroutines(t)
	})
}

func TestConsumeClientCloseRace(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	var consumers []*Consumer
	for i := range 6 {
		cs, err := c.Stream("s").Consume(ctx, "g", strconv.Itoa(i), func(context.Context, StreamMessage) error { return nil }, fastConsume(ConsumeOptions{}))
		require.NoError(t, err)
		consumers = append(consumers, cs)
	}
	var wg sync.WaitGroup
	for _, cs := range consumers {
		wg.Go(func() { _ = cs.Close() })
	}
	wg.Go(func() { _ = c.Close() })
	wg.Go(func() {
		for i := range 50 {
			if _, err := c.Stream("s").Add(ctx, i); err != nil {
				return
			}
		}
	})
	wg.Wait()
	for _, cs := range consumers {
		require.NoError(t, cs.Close())
	}
	assertNoConsumerGoroutines(t)
}

// TestConsumeCloseLeavesNoGoroutines starts and closes consumers 100 times,
// with messages in flight in some cycles.
func TestConsumeCloseLeavesNoGoroutines(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	s := c.Stream("cycle")
	_, err := s.Add(ctx, "warm")
	require.NoError(t, err)
	for i := range 100 {
		cs, err := s.Consume(ctx, "g", "w", func(context.Context, StreamMessage) error { return nil },
			fastConsume(ConsumeOptions{Concurrency: 1 + i%4, Block: time.Millisecond}))
		require.NoError(t, err)
		if i%3 == 0 {
			_, err = s.Add(ctx, i)
			require.NoError(t, err)
		}
		require.NoError(t, cs.Close())
	}
	assertNoConsumerGoroutines(t)
}

// assertNoConsumerGoroutines fails when a goroutine of a consumer is still
// running once Close has returned. Other goroutines come and go with the
// pool's connections (miniredis serves each on a goroutine of its own), so
// it looks for the consumer's own frames. Consumers of other tests running
// in parallel would count too; these tests do not run in parallel.
func assertNoConsumerGoroutines(t *testing.T) {
	t.Helper()
	var left []string
	for range 100 { // Close returns before its helper goroutine has exited
		left = left[:0]
		buf := make([]byte, 1<<22)
		for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "redisclient.(*Consumer)") || strings.Contains(g, "redisclient.(*consumers)") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d consumer goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
}

func TestConsumeHealthReport(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		_, err := s.Add(ctx, "poison")
		require.NoError(t, err)
		cs := consume(t, s, "g", "w", ConsumeOptions{MaxDeliveries: 2, OnError: func(error) {}}, func(context.Context, StreamMessage) error {
			return errors.New("bad")
		})
		require.Eventually(t, func() bool { return cs.Stats().DeadLettered == 1 }, streamWait, 5*time.Millisecond)
		rep := c.Health(ctx)
		require.Len(t, rep.Consumers, 1)
		h := rep.Consumers[0]
		assert.Equal(t, s.Key(), h.Stream)
		assert.Equal(t, "g", h.Group)
		assert.Equal(t, "w", h.Consumer)
		assert.EqualValues(t, 1, h.DeadLettered)
		assert.EqualValues(t, 1, h.Retried)
		require.NoError(t, cs.Close())
		assert.Empty(t, c.Health(ctx).Consumers, "a closed consumer leaves the report")
	})
}

// TestConsumeRecreatesLostGroup: when the stream and its group vanish (Redis
// restarted without persistence, or someone deleted the key), the consumer
// recreates the group and receives what is added afterwards.
func TestConsumeRecreatesLostGroup(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		got := make(chan string, 10)
		consume(t, s, "g", "w", ConsumeOptions{}, func(_ context.Context, m StreamMessage) error {
			got <- string(m.Payload)
			return nil
		})
		_, err := s.Add(ctx, "one")
		require.NoError(t, err)
		assert.Equal(t, "one", recvString(t, got))
		_, err = c.Delete(ctx, "orders")
		require.NoError(t, err)
		_, err = s.Add(ctx, "two") // a new stream, without the group
		require.NoError(t, err)
		assert.Equal(t, "two", recvString(t, got))
	})
}

func recvString(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(streamWait):
		t.Fatal("nothing received")
		return ""
	}
}

func TestStreamMessageForeignEntries(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("foreign")
		rdb := c.Redis()
		require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.Key(), Values: []any{"symbol", "AAPL", "px", "187.5"}}).Err())
		require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.Key(), Values: []any{"data", "\x80\x04K\x01.", "source", "py"}}).Err())
		got := make(chan StreamMessage, 2)
		consume(t, s, "g", "w", ConsumeOptions{}, func(_ context.Context, m StreamMessage) error {
			got <- m
			return nil
		})
		var ms []StreamMessage
		for range 2 {
			select {
			case m := <-got:
				ms = append(ms, m)
			case <-time.After(streamWait):
				t.Fatal("not delivered")
			}
		}
		assert.Equal(t, map[string]string{"symbol": "AAPL", "px": "187.5"}, ms[0].Fields)
		assert.Nil(t, ms[0].Payload)
		var v any
		err := ms[0].Decode(&v)
		assert.ErrorIs(t, err, ErrUnsupportedFormat)
		assert.ErrorContains(t, err, `entry has no "data" field`)
		assert.ErrorContains(t, err, s.Key()+" "+ms[0].ID)

		assert.Equal(t, map[string]string{"source": "py"}, ms[1].Fields)
		assert.ErrorIs(t, ms[1].Decode(&v), ErrUnsupportedFormat, "a pickle")
	})
}

func TestStreamMessageZeroDecode(t *testing.T) {
	var n int
	require.NoError(t, StreamMessage{Payload: []byte("42")}.Decode(&n))
	assert.Equal(t, 42, n)
	b, _ := MsgpackSerializer{}.Marshal(streamQuote{Symbol: "X"})
	var q streamQuote
	require.NoError(t, StreamMessage{Payload: b}.Decode(&q))
	assert.Equal(t, "X", q.Symbol)
}

func TestNextStreamID(t *testing.T) {
	assert.Equal(t, "5-4", nextStreamID("5-3"))
	assert.Equal(t, "6-0", nextStreamID("5-18446744073709551615"))
	assert.Equal(t, "bad", nextStreamID("bad"))
}

// TestConsumeHealthOrder: the health report lists consumers by stream,
// group and name.
func TestConsumeHealthOrder(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ok := func(context.Context, StreamMessage) error { return nil }
	for _, name := range []string{"b", "a", "c"} {
		consume(t, c.Stream("s"), "g", name, ConsumeOptions{}, ok)
	}
	consume(t, c.Stream("r"), "g", "z", ConsumeOptions{}, ok)
	var got []string
	for _, h := range c.Health(testCtx(t)).Consumers {
		got = append(got, h.Stream+"/"+h.Consumer)
	}
	assert.True(t, sort.StringsAreSorted(got), "%v", got)
	assert.Len(t, got, 4)
}

// TestConsumeKeepsWaitingMessages: messages of a batch that wait behind a
// slow handler stay with their consumer (it renews them), while the message
// whose handler outlasts MinIdle is taken over by the group.
func TestConsumeKeepsWaitingMessages(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		for i := range 5 {
			_, err := s.Add(ctx, i)
			require.NoError(t, err)
		}
		const minIdle = 600 * time.Millisecond
		var mu sync.Mutex
		handled := map[string][]int{}
		handler := func(name string) func(context.Context, StreamMessage) error {
			return func(_ context.Context, m StreamMessage) error {
				var v int
				require.NoError(t, m.Decode(&v))
				if name == "a" && v == 0 {
					time.Sleep(3 * minIdle) // stuck long enough to be taken over
				}
				mu.Lock()
				handled[name] = append(handled[name], v)
				mu.Unlock()
				return nil
			}
		}
		a := consume(t, s, "g", "a", ConsumeOptions{MinIdle: minIdle, BatchSize: 5}, handler("a"))
		require.Eventually(t, func() bool { return a.Stats().Delivered == 5 }, streamWait, time.Millisecond)
		b := consume(t, s, "g", "b", ConsumeOptions{MinIdle: minIdle}, handler("b"))
		require.Eventually(t, func() bool { return a.Stats().Acked == 5 }, streamWait, 5*time.Millisecond)
		require.NoError(t, b.Close())
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []int{0, 1, 2, 3, 4}, handled["a"])
		assert.Equal(t, []int{0}, handled["b"], "only the stuck message is taken over")
		assert.EqualValues(t, 1, b.Stats().Reclaimed)
	})
}

// TestConsumeBoundsInFlight: with slow handlers a consumer holds at most
// BatchSize + Concurrency messages, and runs Concurrency handlers at once.
func TestConsumeBoundsInFlight(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		s := c.Stream("orders")
		for i := range 100 {
			_, err := s.Add(ctx, i)
			require.NoError(t, err)
		}
		const batch, conc = 4, 3
		release := make(chan struct{})
		var running, maxRunning atomic.Int64
		cs := consume(t, s, "g", "w", ConsumeOptions{BatchSize: batch, Concurrency: conc}, func(ctx context.Context, m StreamMessage) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			<-release
			return nil
		})
		require.Eventually(t, func() bool { return running.Load() == conc }, streamWait, time.Millisecond)
		// Give the reader time to read more than it may.
		require.Never(t, func() bool {
			return cs.Stats().Pending > batch+conc || groupPending(t, c, s, "g") > batch+conc
		}, 300*time.Millisecond, 10*time.Millisecond)
		// 3 running, 1 queued: the next read waits until the queue is empty.
		assert.EqualValues(t, batch, cs.Stats().Pending)
		close(release)
		require.Eventually(t, func() bool { return cs.Stats().Acked == 100 }, streamWait, 5*time.Millisecond)
		assert.EqualValues(t, conc, maxRunning.Load())
	})
}

// TestConsumeRetryBackoff: retries wait RetryDelay, doubling, capped by
// MaxRetryDelay and by MinIdle/2.
func TestConsumeRetryBackoff(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	s := c.Stream("orders")
	_, err := s.Add(ctx, "x")
	require.NoError(t, err)
	var mu sync.Mutex
	var at []time.Time
	cs := consume(t, s, "g", "w", ConsumeOptions{RetryDelay: 40 * time.Millisecond, OnError: func(error) {}}, func(context.Context, StreamMessage) error {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) < 4 {
			return errors.New("not yet")
		}
		return nil
	})
	require.Eventually(t, func() bool { return cs.Stats().Acked == 1 }, streamWait, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i, want := range []time.Duration{40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond} {
		assert.GreaterOrEqual(t, at[i+1].Sub(at[i]), want, "pause %d", i+1)
	}

	o := ConsumeOptions{RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second, MinIdle: time.Minute}.withDefaults()
	cons := &Consumer{opts: o}
	assert.Equal(t, 100*time.Millisecond, cons.retryDelay(1))
	assert.Equal(t, 800*time.Millisecond, cons.retryDelay(4))
	assert.Equal(t, time.Second, cons.retryDelay(5), "MaxRetryDelay")
	assert.Equal(t, time.Second, cons.retryDelay(100), "no overflow")
	cons.opts.MinIdle = 500 * time.Millisecond
	assert.Equal(t, 250*time.Millisecond, cons.retryDelay(5), "at most MinIdle/2")
	cons.opts.RetryDelay = -1
	assert.Zero(t, cons.retryDelay(3))
}

// TestConsumeRecoversFromFailedReclaim: a reclaim (XAUTOCLAIM) that fails,
// as every command does while Redis restarts, keeps its cursor; the
// consumer goes on reclaiming and reading once Redis answers again.
func TestConsumeRecoversFromFailedReclaim(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	s := c.Stream("orders")
	var mu sync.Mutex
	var got []int
	cs := consume(t, s, "g", "w", ConsumeOptions{MinIdle: 10 * time.Millisecond}, func(_ context.Context, m StreamMessage) error {
		var v int
		if err := m.Decode(&v); err != nil {
			return err
		}
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
		return nil
	})
	// Every command fails for a while; the reader reclaims every 5 ms, so
	// some of its reclaims fail.
	mr.SetError("LOADING Redis is loading the dataset in memory")
	require.Eventually(t, func() bool { return cs.readFailures.Load() >= 3 }, streamWait, time.Millisecond)
	// The failed call hands back the cursor it was given (miniredis takes
	// an empty one for the start; Redis refuses it, forever).
	next, err := cs.reclaim("5-0")
	require.Error(t, err)
	assert.Equal(t, "5-0", next)
	mr.SetError("")
	// A message left pending by a crashed consumer, and a new one.
	_, err = s.Add(ctx, 1)
	require.NoError(t, err)
	_, err = c.Redis().XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "crashed", Streams: []string{s.Key(), ">"}}).Result()
	require.NoError(t, err)
	_, err = s.Add(ctx, 2)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return cs.Stats().Acked == 2 }, streamWait, 5*time.Millisecond, "%+v", cs.Stats())
	mu.Lock()
	defer mu.Unlock()
	assert.ElementsMatch(t, []int{1, 2}, got)
	assert.EqualValues(t, 1, cs.Stats().Reclaimed)
}
