package redisclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of ConsumeOptions, applied to zero fields.
const (
	// DefaultMinIdle is how long a message may stay pending (delivered, not
	// acknowledged) before another consumer of the group takes it over.
	DefaultMinIdle = 30 * time.Second
	// DefaultMaxDeliveries is how many times a message is tried before it
	// goes to the dead-letter stream.
	DefaultMaxDeliveries = 10
	// DefaultConsumeBatchSize is how many messages one read takes from Redis.
	DefaultConsumeBatchSize = 10
	// DefaultConsumeBlock is how long one read waits on Redis for new
	// messages before it checks for work to reclaim and for Close.
	DefaultConsumeBlock = time.Second
	// DefaultRetryDelay is the pause before the first retry of a message
	// whose handler failed; it doubles with every further failure.
	DefaultRetryDelay = 100 * time.Millisecond
	// DefaultMaxRetryDelay caps the pause between retries.
	DefaultMaxRetryDelay = 10 * time.Second
)

// DeadLetterSuffix is appended to a stream's name to name its dead-letter
// stream unless ConsumeOptions.DeadLetter names another.
const DeadLetterSuffix = ":dead"

// ErrDeadLettered is wrapped by the error passed to ConsumeOptions.OnError
// when a message was moved to the dead-letter stream.
var ErrDeadLettered = errors.New("redisclient: message dead-lettered")

// ConsumeOptions tunes a consumer. The zero value is valid: every zero
// field takes its default.
type ConsumeOptions struct {
	// MinIdle is how long a message may stay pending with one consumer
	// (delivered, not acknowledged) before the other consumers of the
	// group take it over (XAUTOCLAIM): the message of a crashed or stuck
	// consumer is redelivered between MinIdle and 1.5 × MinIdle after its
	// last delivery. Choose it above the longest handler run, or slow
	// messages are handled twice. (Messages waiting for a busy handler are
	// not at risk: their consumer renews them every MinIdle/2.) 0 means
	// DefaultMinIdle (30 s); it must be at least 1 ms.
	MinIdle time.Duration
	// MaxDeliveries is how many times a message is delivered before it is
	// given up: after a handler failure on the MaxDeliveries-th delivery,
	// or when a message comes back for a later delivery (its consumers
	// crashed or outlasted MinIdle every time), it is copied to the
	// dead-letter stream with the last error and acknowledged. 0 means
	// DefaultMaxDeliveries (10); -1 retries forever.
	MaxDeliveries int
	// DeadLetter names the dead-letter stream, under the same namespace as
	// the stream. Default: the stream's name + DeadLetterSuffix
	// ("orders:dead"). A dead letter is the original entry's fields plus
	// "error" (the last error), "deliveries", "origin_id", "origin_stream"
	// (the full key), "group" and "consumer"; it is trimmed like the
	// stream.
	DeadLetter string
	// NewOnly makes a group created by this call start after the stream's
	// last entry, so it skips what was added before. By default a new group
	// reads the stream from its first entry. It does not change a group
	// that exists.
	NewOnly bool
	// Concurrency is how many handler calls run at the same time. 0 and 1
	// mean one at a time, in stream order (a retried message holds up the
	// ones after it). With N > 1 messages are handled in parallel, out of
	// order.
	Concurrency int
	// BatchSize is how many messages one read takes from Redis (XREADGROUP
	// COUNT). The next batch is read once a handler has taken the last
	// message of the current one, so at most BatchSize + Concurrency
	// messages are in the consumer's hands at any time. 0 means
	// DefaultConsumeBatchSize (10).
	BatchSize int
	// Block is how long one read waits for new messages on Redis. Close
	// waits for the read in progress, so it takes up to Block. 0 means
	// DefaultConsumeBlock (1 s); it must be at least 1 ms.
	Block time.Duration
	// RetryDelay is the pause before a message whose handler failed is
	// tried again; it doubles after each further failure, up to
	// MaxRetryDelay and at most MinIdle/2 (a longer pause would let
	// another consumer take the message over). The retry runs in the
	// same consumer, holding its handler slot. 0 means DefaultRetryDelay
	// (100 ms); -1 means no pause.
	RetryDelay time.Duration
	// MaxRetryDelay caps one pause between retries. 0 means
	// DefaultMaxRetryDelay (10 s).
	MaxRetryDelay time.Duration
	// OnError receives every error a handler returns and every panic
	// (wrapping ErrHandlerPanic), and a notice wrapping ErrDeadLettered for
	// each dead-lettered message, as an *Error naming the stream and
	// message. It may be called from several goroutines at once and should
	// return quickly. nil logs them to Options.Logger.
	OnError func(error)
	// CloseTimeout bounds how long Close waits for running handlers, whose
	// context stays live meanwhile; then their context is cancelled and
	// Close waits as long again before it gives up on them. 0 means
	// DefaultCloseTimeout (5 s).
	CloseTimeout time.Duration
}

func (o ConsumeOptions) validate() error {
	neg := func(name string, d time.Duration) error {
		return optionsError("ConsumeOptions.%s %v: must not be negative", name, d)
	}
	switch {
	case o.MinIdle < 0:
		return neg("MinIdle", o.MinIdle)
	case o.MinIdle > 0 && o.MinIdle < time.Millisecond:
		return optionsError("ConsumeOptions.MinIdle %v: must be at least 1ms", o.MinIdle)
	case o.MaxDeliveries < -1:
		return optionsError("ConsumeOptions.MaxDeliveries %d: want a positive count, 0 for the default or -1 for no limit", o.MaxDeliveries)
	case o.Concurrency < 0:
		return optionsError("ConsumeOptions.Concurrency %d: must not be negative", o.Concurrency)
	case o.BatchSize < 0:
		return optionsError("ConsumeOptions.BatchSize %d: must not be negative", o.BatchSize)
	case o.Block < 0:
		return neg("Block", o.Block)
	case o.Block > 0 && o.Block < time.Millisecond:
		return optionsError("ConsumeOptions.Block %v: must be at least 1ms", o.Block)
	case o.RetryDelay < -1:
		return optionsError("ConsumeOptions.RetryDelay %v: must not be negative (-1 for no pause)", o.RetryDelay)
	case o.MaxRetryDelay < 0:
		return neg("MaxRetryDelay", o.MaxRetryDelay)
	case o.CloseTimeout < 0:
		return neg("CloseTimeout", o.CloseTimeout)
	}
	return nil
}

func (o ConsumeOptions) withDefaults() ConsumeOptions {
	o.MinIdle = orDefault(o.MinIdle, DefaultMinIdle)
	o.MaxDeliveries = orDefault(o.MaxDeliveries, DefaultMaxDeliveries)
	o.Concurrency = orDefault(o.Concurrency, 1)
	o.BatchSize = orDefault(o.BatchSize, DefaultConsumeBatchSize)
	o.Block = orDefault(o.Block, DefaultConsumeBlock)
	o.RetryDelay = orDefault(o.RetryDelay, DefaultRetryDelay)
	o.MaxRetryDelay = orDefault(o.MaxRetryDelay, DefaultMaxRetryDelay)
	o.CloseTimeout = orDefault(o.CloseTimeout, DefaultCloseTimeout)
	return o
}

// ConsumerStats are the counters of a consumer since it started. Once Close
// has returned nil, Delivered = Acked + DeadLettered + LeftPending.
type ConsumerStats struct {
	// Delivered counts messages this consumer took from Redis: new ones,
	// its own pending ones at start, and reclaimed ones.
	Delivered uint64 `json:"delivered"`
	// Acked counts messages acknowledged after their handler returned nil.
	Acked uint64 `json:"acked"`
	// Retried counts handler runs repeated after a failure.
	Retried uint64 `json:"retried"`
	// DeadLettered counts messages moved to the dead-letter stream.
	DeadLettered uint64 `json:"dead_lettered"`
	// Reclaimed counts the delivered messages that were taken over from
	// another consumer (or from this consumer's previous run) after
	// MinIdle.
	Reclaimed uint64 `json:"reclaimed"`
	// LeftPending counts messages given up without an acknowledgement,
	// for a consumer of the group to reclaim after MinIdle: unhandled or
	// failed at Close, taken over by another consumer during a retry
	// pause, or whose acknowledgement failed.
	LeftPending uint64 `json:"left_pending"`
	// HandlerErrors counts handler runs that returned an error.
	HandlerErrors uint64 `json:"handler_errors"`
	// Panics counts handler runs that panicked.
	Panics uint64 `json:"panics"`
	// Pending is the number of messages in this consumer's hands now:
	// delivered and not yet acknowledged, dead-lettered or left pending.
	Pending int64 `json:"pending"`
}

// ConsumerHealth is one running consumer in the health report.
type ConsumerHealth struct {
	Stream   string `json:"stream"` // the full Redis key
	Group    string `json:"group"`
	Consumer string `json:"consumer"`
	ConsumerStats
}

// Consumer is one member of a consumer group on a stream, delivering its
// messages to a handler until Close. It runs one goroutine reading from
// Redis, Concurrency goroutines calling the handler and one acknowledging
// messages in batches. Its methods are safe for concurrent use.
type Consumer struct {
	s        *Stream
	key      string // full stream key
	deadKey  string // full dead-letter stream key
	group    string
	name     string
	handler  func(context.Context, StreamMessage) error
	opts     ConsumeOptions
	maxDeliv int64 // 0: no limit
	readCtx  context.Context
	ctx      context.Context // handlers'
	cancel   context.CancelFunc

	work    chan *delivery // holds one batch; the next is read once it is empty
	queued  atomic.Int64   // messages in work, not yet taken by a worker
	drained chan struct{}  // signalled when a worker takes the last queued one
	acks    chan *delivery
	done    chan struct{} // closed by Close
	closing atomic.Bool
	loops   sync.WaitGroup // reader and workers
	acker   sync.WaitGroup

	mu       sync.Mutex
	inFlight map[string]struct{} // IDs in this consumer's hands
	ownAfter string              // last ID takeOwn took; the reader's only

	closeOnce sync.Once
	closeErr  error

	delivered    atomic.Uint64
	acked        atomic.Uint64
	retried      atomic.Uint64
	deadLettered atomic.Uint64
	reclaimed    atomic.Uint64
	leftPending  atomic.Uint64
	handlerErr   atomic.Uint64
	panics       atomic.Uint64
	pending      atomic.Int64
	readFailures atomic.Uint64 // failed Redis calls of the reader, for tests
}

// delivery is one message in a consumer's hands.
type delivery struct {
	id         string
	values     map[string]any
	deliveries int64
	got        time.Time    // when the reply that delivered it arrived; later only the worker writes it
	taken      atomic.Bool  // a worker has it
	renewed    atomic.Int64 // when the reader last renewed it (UnixNano), 0: never
	lost       atomic.Bool  // another consumer took it over while it waited
}

// since returns when d last became ours in Redis: delivered, renewed while
// it waited, or claimed again for a retry.
func (d *delivery) since() time.Time {
	if r := d.renewed.Load(); r > d.got.UnixNano() {
		return time.Unix(0, r)
	}
	return d.got
}

// Consume joins the consumer group group of the stream as consumer and
// delivers the stream's messages to h, at least once each, until Close or
// Client.Close. The group is created if it does not exist (the stream too),
// from the first entry or, with NewOnly, after the last one.
//
// A message is acknowledged (XACK) only after h returned nil for it. When h
// returns an error or panics, the error is counted and passed to OnError and
// the message is tried again after a pause (RetryDelay, doubling); after
// MaxDeliveries deliveries it goes to the dead-letter stream with the last
// error and is acknowledged. Messages left pending by a consumer that
// crashed or got stuck are taken over by the group's live consumers after
// MinIdle. A consumer that starts with the name of one that stopped takes
// that one's pending messages at once, so a restarted process should reuse
// its name; names must be unique among the group's running consumers.
//
// ctx bounds only the setup (creating the group); handlers get a context
// carrying ctx's values that lives until Close. group, consumer and the
// stream's name must be non-empty (ErrInvalidKey), h non-nil. Invalid
// options give an error wrapping ErrInvalidOptions. After Client.Close it
// returns ErrClosed.
func (s *Stream) Consume(ctx context.Context, group, consumer string,
	h func(context.Context, StreamMessage) error, opts ConsumeOptions) (*Consumer, error) {
	key, err := s.fullKey("consume")
	if err != nil {
		return nil, err
	}
	switch {
	case group == "":
		return nil, opErr("consume", key, fmt.Errorf("%w: empty group name", ErrInvalidKey))
	case consumer == "":
		return nil, opErr("consume", key, fmt.Errorf("%w: empty consumer name", ErrInvalidKey))
	case h == nil:
		return nil, opErr("consume", key, errors.New("handler is nil"))
	}
	if err := opts.validate(); err != nil {
		return nil, opErr("consume", key, err)
	}
	opts = opts.withDefaults()
	dead := opts.DeadLetter
	if dead == "" {
		dead = s.name + DeadLetterSuffix
	}
	deadKey, err := s.c.key("consume", dead)
	if err != nil {
		return nil, err
	}
	if deadKey == key {
		return nil, opErr("consume", key, optionsError("ConsumeOptions.DeadLetter %q: must differ from the stream", dead))
	}

	start := "0"
	if opts.NewOnly {
		start = "$"
	}
	if err := s.c.shared.rdb.XGroupCreateMkStream(ctx, key, group, start).Err(); err != nil && !isBusyGroup(err) {
		return nil, opErr("consume", key, fmt.Errorf("create group %q: %w", group, err))
	}

	cs := &Consumer{
		s:        s,
		key:      key,
		deadKey:  deadKey,
		group:    group,
		name:     consumer,
		handler:  h,
		opts:     opts,
		readCtx:  context.WithoutCancel(ctx),
		work:     make(chan *delivery, opts.BatchSize),
		drained:  make(chan struct{}, 1),
		acks:     make(chan *delivery, opts.BatchSize+opts.Concurrency),
		done:     make(chan struct{}),
		inFlight: make(map[string]struct{}),
	}
	if opts.MaxDeliveries > 0 {
		cs.maxDeliv = int64(opts.MaxDeliveries)
	}
	cs.ctx, cs.cancel = context.WithCancel(cs.readCtx)
	if err := s.c.shared.consumers.add(cs); err != nil {
		cs.cancel()
		return nil, opErr("consume", key, err)
	}
	s.c.shared.tel.consumers.add(cs)
	cs.loops.Add(1 + opts.Concurrency)
	go cs.read()
	for range opts.Concurrency {
		go cs.workLoop()
	}
	cs.acker.Add(1)
	go cs.ackLoop()
	return cs, nil
}

func isBusyGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP")
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// read takes messages from Redis and hands them to the workers until Close:
// first this consumer's own pending messages (left by its previous run),
// then, in turn, messages idle longer than MinIdle anywhere in the group
// and new messages. It closes the work channel when it ends.
func (c *Consumer) read() {
	defer c.loops.Done()
	defer close(c.work)
	var (
		failures    int
		own         = true  // still taking over our own pending messages
		cursor      = "0-0" // XAUTOCLAIM position
		nextReclaim time.Time
		every       = max(c.opts.MinIdle/2, time.Millisecond)
	)
	for !c.closing.Load() {
		var err error
		switch {
		case own:
			own, err = c.takeOwn()
		case !time.Now().Before(nextReclaim):
			cursor, err = c.reclaim(cursor)
			if err == nil && cursor == "0-0" {
				nextReclaim = time.Now().Add(every)
			}
		default:
			err = c.readNew(min(c.opts.Block, max(time.Until(nextReclaim), time.Millisecond)))
		}
		if err == nil {
			failures = 0
			continue
		}
		if c.closing.Load() {
			return
		}
		if isNoGroup(err) {
			// The group or the stream was deleted, or Redis restarted
			// without persistence: recreate the group from the start, so
			// messages added meanwhile are not skipped.
			err = c.s.c.shared.rdb.XGroupCreateMkStream(c.readCtx, c.key, c.group, "0").Err()
			if err == nil || isBusyGroup(err) {
				c.s.c.shared.log.Warn("redisclient: stream consumer group was missing; recreated it from the first entry",
					"stream", c.key, "group", c.group)
				continue
			}
		}
		failures++
		c.readFailures.Add(1)
		if failures == 1 {
			c.s.c.shared.log.Warn("redisclient: stream read failed, retrying",
				"stream", c.key, "group", c.group, "consumer", c.name, "error", err)
		}
		pause := max(backoff(failures), 10*time.Millisecond)
		if errors.Is(err, ErrUnavailable) {
			pause = min(pause, 100*time.Millisecond)
		}
		if !c.pause(pause) {
			return
		}
	}
}

// callCtx bounds one Redis call of the consumer's own loops, so a stalled
// server cannot hold Close beyond the read timeout.
func (c *Consumer) callCtx(extra time.Duration) (context.Context, context.CancelFunc) {
	rt := c.s.c.shared.opts.ReadTimeout
	if rt <= 0 {
		rt = DefaultReadTimeout
	}
	return context.WithTimeout(c.readCtx, extra+rt+c.s.c.shared.opts.WriteTimeout)
}

// readNew reads up to BatchSize new messages, waiting up to block, and
// hands them to the workers.
func (c *Consumer) readNew(block time.Duration) error {
	ctx, cancel := c.callCtx(block)
	defer cancel()
	streams, err := c.s.c.shared.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    c.group,
		Consumer: c.name,
		Streams:  []string{c.key, ">"},
		Count:    int64(c.opts.BatchSize),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now()
	for _, st := range streams {
		c.handOver(st.Messages, now, nil, false)
	}
	return nil
}

// takeOwn takes over this consumer name's pending messages, left by a
// previous run, one batch per call; it reports whether more may remain.
func (c *Consumer) takeOwn() (more bool, err error) {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	start := "-"
	if c.ownAfter != "" {
		start = nextStreamID(c.ownAfter)
	}
	pend, err := c.s.c.shared.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: c.key, Group: c.group, Start: start, End: "+",
		Count: int64(c.opts.BatchSize), Consumer: c.name,
	}).Result()
	if err != nil {
		return true, err // try again after the pause
	}
	if len(pend) == 0 {
		return false, nil
	}
	counts := make(map[string]int64, len(pend))
	ids := make([]string, len(pend))
	for i, p := range pend {
		counts[p.ID] = p.RetryCount + 1 // the claim below is a delivery
		ids[i] = p.ID
	}
	c.ownAfter = ids[len(ids)-1]
	msgs, err := c.s.c.shared.rdb.XClaim(ctx, &redis.XClaimArgs{
		Stream: c.key, Group: c.group, Consumer: c.name, Messages: ids,
	}).Result()
	if err != nil {
		return true, err
	}
	c.handOver(msgs, time.Now(), counts, true)
	return len(pend) == c.opts.BatchSize, nil
}

// nextStreamID returns the smallest stream ID above id ("5-3" -> "5-4").
func nextStreamID(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return id
	}
	if n == ^uint64(0) {
		m, err := strconv.ParseUint(ms, 10, 64)
		if err != nil {
			return id
		}
		return strconv.FormatUint(m+1, 10) + "-0"
	}
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

// reclaim takes over one batch of messages that stayed pending longer than
// MinIdle with any consumer of the group (XAUTOCLAIM from cursor), and
// returns the cursor of the next batch, "0-0" after the last.
func (c *Consumer) reclaim(cursor string) (string, error) {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	rdb := c.s.c.shared.rdb
	msgs, next, err := rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: c.key, Group: c.group, Consumer: c.name,
		MinIdle: c.opts.MinIdle, Start: cursor, Count: int64(c.opts.BatchSize),
	}).Result()
	if err != nil {
		// Keep the position: a failed call has no cursor ("" is not a
		// stream ID, and every later call would fail on it).
		return cursor, err
	}
	if len(msgs) == 0 {
		return next, nil
	}
	got := time.Now()
	// XAUTOCLAIM does not say how often a message was delivered; the
	// pending list does.
	pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: c.key, Group: c.group, Start: msgs[0].ID, End: msgs[len(msgs)-1].ID,
		// Our messages in hand may lie in the range too.
		Count: int64(len(msgs) + 3*(c.opts.BatchSize+c.opts.Concurrency)), Consumer: c.name,
	}).Result()
	if err != nil {
		// The messages are ours now; they come back at the next reclaim.
		return next, err
	}
	counts := make(map[string]int64, len(pend))
	for _, p := range pend {
		counts[p.ID] = p.RetryCount
	}
	c.handOver(msgs, got, counts, true)
	return next, nil
}

// handOver gives messages to the workers, in order. counts holds delivery
// counts (nil: first deliveries); a message missing from it is no longer
// ours. Messages already in our hands (reclaimed from ourselves because a
// handler runs longer than MinIdle) are skipped. When Close interrupts, the
// rest stay pending.
func (c *Consumer) handOver(msgs []redis.XMessage, got time.Time, counts map[string]int64, reclaimed bool) {
	ds := make([]*delivery, 0, len(msgs))
	for _, m := range msgs {
		n := int64(1)
		if counts != nil {
			var ok bool
			if n, ok = counts[m.ID]; !ok {
				continue
			}
		}
		if m.Values == nil {
			// Trimmed or deleted while pending: nothing left to handle.
			c.ackDeleted(m.ID)
			continue
		}
		c.mu.Lock()
		_, busy := c.inFlight[m.ID]
		c.inFlight[m.ID] = struct{}{}
		c.mu.Unlock()
		if busy && reclaimed {
			continue
		}
		c.delivered.Add(1)
		c.pending.Add(1)
		if reclaimed {
			c.reclaimed.Add(1)
		}
		ds = append(ds, &delivery{id: m.ID, values: m.Values, deliveries: n, got: got})
	}
	// The queue holds a whole batch, so handing over costs no goroutine
	// switch per message; the next read waits until it is empty.
	c.queued.Add(int64(len(ds)))
	for _, d := range ds {
		c.work <- d
	}
	var renew *time.Timer
	since := got // when the waiting messages last became ours
	for c.queued.Load() > 0 {
		if renew == nil {
			// The handlers are busy (slow, or retrying with Concurrency
			// 1): keep the waiting messages ours while they wait.
			renew = time.NewTimer(c.opts.MinIdle / 2)
			defer renew.Stop()
		}
		select {
		case <-c.drained:
		case <-renew.C:
			var waiting []*delivery
			for _, d := range ds {
				if !d.taken.Load() {
					waiting = append(waiting, d)
				}
			}
			since = c.renew(waiting, since)
			renew.Reset(c.opts.MinIdle / 2)
		case <-c.done:
			return // the workers release what is left in the queue
		}
	}
}

// renew restarts the idle time of messages that wait for a handler, so the
// group does not take them over from a live consumer (XCLAIM JUSTID, which
// does not count a delivery). A message another consumer took over
// meanwhile is marked lost; the worker that takes it releases it unhandled.
func (c *Consumer) renew(ds []*delivery, since time.Time) time.Time {
	if len(ds) == 0 {
		return since
	}
	ctx, cancel := c.callCtx(0)
	defer cancel()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.id
	}
	// Claim only what nobody took since we got it, as claimAgain does.
	claimed, err := c.s.c.shared.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: c.key, Group: c.group, Consumer: c.name,
		MinIdle: time.Since(since).Truncate(time.Millisecond), Messages: ids,
	}).Result()
	if err != nil {
		c.s.c.shared.log.Warn("redisclient: stream consumer could not renew waiting messages",
			"stream", c.key, "group", c.group, "count", len(ids), "error", err)
		return since
	}
	ours := make(map[string]bool, len(claimed))
	for _, id := range claimed {
		ours[id] = true
	}
	now := time.Now()
	for _, d := range ds {
		if ours[d.id] {
			d.renewed.Store(now.UnixNano())
		} else {
			d.lost.Store(true)
		}
	}
	return now
}

// ackDeleted acknowledges a pending ID whose entry no longer exists.
func (c *Consumer) ackDeleted(id string) {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	_ = c.s.c.shared.rdb.XAck(ctx, c.key, c.group, id).Err()
}

// release gives up a message without acknowledging it: it stays pending in
// Redis for a consumer of the group to reclaim.
func (c *Consumer) release(d *delivery) {
	c.leftPending.Add(1)
	c.done1(d)
}

// done1 removes d from this consumer's hands.
func (c *Consumer) done1(d *delivery) {
	c.mu.Lock()
	delete(c.inFlight, d.id)
	c.mu.Unlock()
	c.pending.Add(-1)
}

// workLoop runs the handler on delivered messages until the reader stops.
func (c *Consumer) workLoop() {
	defer c.loops.Done()
	for d := range c.work {
		d.taken.Store(true)
		if c.queued.Add(-1) == 0 {
			select {
			case c.drained <- struct{}{}:
			default:
			}
		}
		if c.closing.Load() || d.lost.Load() {
			c.release(d) // stays pending for the group
			continue
		}
		c.process(d)
	}
}

// process runs the handler on d until it succeeds, is given up, or the
// consumer closes.
func (c *Consumer) process(d *delivery) {
	if c.maxDeliv > 0 && d.deliveries > c.maxDeliv {
		c.deadLetter(d, fmt.Errorf("delivered %d times without an acknowledgement: its consumers crashed or held it longer than MinIdle", d.deliveries-1))
		return
	}
	for attempt := 1; ; attempt++ {
		err := c.call(d)
		if err == nil {
			c.acks <- d
			return
		}
		c.report(err)
		if c.maxDeliv > 0 && d.deliveries >= c.maxDeliv {
			c.deadLetter(d, err)
			return
		}
		if c.closing.Load() || !c.pause(c.retryDelay(attempt)) {
			c.release(d)
			return
		}
		if !c.claimAgain(d) {
			c.release(d)
			return
		}
		c.retried.Add(1)
	}
}

// retryDelay is the pause after the attempt-th failure of one message.
func (c *Consumer) retryDelay(attempt int) time.Duration {
	if c.opts.RetryDelay < 0 {
		return 0
	}
	d := c.opts.RetryDelay << min(attempt-1, 30)
	if d <= 0 { // overflow
		d = c.opts.MaxRetryDelay
	}
	return min(d, c.opts.MaxRetryDelay, c.opts.MinIdle/2)
}

// claimAgain makes the retry of d a new delivery in Redis (XCLAIM to
// ourselves), which counts it and restarts its idle time. It claims only
// when nobody else has taken d over since we got it: XCLAIM's min-idle is
// the time since then, which another consumer's later claim would have
// reset.
func (c *Consumer) claimAgain(d *delivery) bool {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	msgs, err := c.s.c.shared.rdb.XClaim(ctx, &redis.XClaimArgs{
		Stream: c.key, Group: c.group, Consumer: c.name,
		MinIdle: time.Since(d.since()).Truncate(time.Millisecond), Messages: []string{d.id},
	}).Result()
	if err != nil {
		c.s.c.shared.log.Warn("redisclient: stream retry could not claim the message; it stays pending",
			"stream", c.key, "group", c.group, "id", d.id, "error", err)
		return false
	}
	if len(msgs) == 0 || msgs[0].Values == nil {
		return false // taken over, acknowledged or deleted meanwhile
	}
	d.values = msgs[0].Values
	d.deliveries++
	d.got = time.Now()
	return true
}

// call runs the handler once, turning a panic into an error.
func (c *Consumer) call(d *delivery) (err error) {
	m := newStreamMessage(c.s, d.id, d.values, d.deliveries)
	where := c.key + " " + d.id
	defer func() {
		if r := recover(); r != nil {
			c.panics.Add(1)
			err = opErr("handle stream message", where,
				fmt.Errorf("delivery %d: %w: %v\n%s", d.deliveries, ErrHandlerPanic, r, debug.Stack()))
		}
	}()
	if err := c.handler(c.ctx, m); err != nil {
		c.handlerErr.Add(1)
		return opErr("handle stream message", where, fmt.Errorf("delivery %d: %w", d.deliveries, err))
	}
	return nil
}

// deadLetter copies d with the last error to the dead-letter stream, then
// acknowledges it. The two steps are separate commands (the streams may
// live on different cluster nodes), so a crash between them leaves d
// pending and it is dead-lettered again: a dead letter may be duplicated,
// never lost.
func (c *Consumer) deadLetter(d *delivery, cause error) {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	rdb := c.s.c.shared.rdb
	fields := make([]any, 0, 2*len(d.values)+12)
	for f, v := range d.values {
		fields = append(fields, f, v)
	}
	fields = append(fields,
		"error", cause.Error(),
		"deliveries", d.deliveries,
		"origin_id", d.id,
		"origin_stream", c.key,
		"group", c.group,
		"consumer", c.name)
	err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: c.deadKey, MaxLen: c.s.maxLen, Approx: true, Values: fields}).Err()
	if err == nil {
		err = rdb.XAck(ctx, c.key, c.group, d.id).Err()
	}
	if err != nil {
		c.s.c.shared.log.Warn("redisclient: dead-lettering failed; the message stays pending",
			"stream", c.key, "group", c.group, "id", d.id, "dead_letter", c.deadKey, "error", err)
		c.release(d)
		return
	}
	c.deadLettered.Add(1)
	c.done1(d)
	c.report(opErr("dead-letter", c.key+" "+d.id,
		fmt.Errorf("%w to %s after %d deliveries: %w", ErrDeadLettered, c.deadKey, d.deliveries, cause)))
}

// ackLoop acknowledges handled messages, all that have queued up in one
// XACK, until the workers have stopped.
func (c *Consumer) ackLoop() {
	defer c.acker.Done()
	batch := make([]*delivery, 0, cap(c.acks))
	ids := make([]string, 0, cap(c.acks))
	for d := range c.acks {
		batch = append(batch[:0], d)
	drain:
		for len(batch) < cap(batch) {
			select {
			case d, ok := <-c.acks:
				if !ok {
					break drain
				}
				batch = append(batch, d)
			default:
				break drain
			}
		}
		ids = ids[:0]
		for _, d := range batch {
			ids = append(ids, d.id)
		}
		ctx, cancel := c.callCtx(0)
		err := c.s.c.shared.rdb.XAck(ctx, c.key, c.group, ids...).Err()
		cancel()
		if err != nil {
			c.s.c.shared.log.Warn("redisclient: stream acknowledgement failed; the messages stay pending and will be delivered again",
				"stream", c.key, "group", c.group, "count", len(ids), "error", err)
		}
		for _, d := range batch {
			if err != nil {
				c.release(d)
			} else {
				c.acked.Add(1)
				c.done1(d)
			}
		}
	}
}

// pause sleeps for d and reports false when the consumer closed meanwhile.
func (c *Consumer) pause(d time.Duration) bool {
	if d <= 0 {
		return !c.closing.Load()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// report passes err to OnError, or logs it when there is none or OnError
// panics.
func (c *Consumer) report(err error) {
	if c.opts.OnError == nil {
		c.s.c.shared.log.Warn("redisclient: stream handler failed", "error", err)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			c.s.c.shared.log.Error("redisclient: stream OnError panicked", "panic", r, "error", err)
		}
	}()
	c.opts.OnError(err)
}

// Stats returns a snapshot of the consumer's counters.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{
		Delivered:     c.delivered.Load(),
		Acked:         c.acked.Load(),
		Retried:       c.retried.Load(),
		DeadLettered:  c.deadLettered.Load(),
		Reclaimed:     c.reclaimed.Load(),
		LeftPending:   c.leftPending.Load(),
		HandlerErrors: c.handlerErr.Load(),
		Panics:        c.panics.Load(),
		Pending:       c.pending.Load(),
	}
}

// Group returns the consumer group's name.
func (c *Consumer) Group() string { return c.group }

// Name returns the consumer's name within its group.
func (c *Consumer) Name() string { return c.name }

// Close stops the consumer: it stops reading (a read in progress ends
// within Block), hands no further message to the handlers and stops
// retrying, waits up to CloseTimeout for running handlers (their context
// stays live meanwhile), acknowledges every message whose handler returned
// nil, and leaves the others pending for the group to reclaim after
// MinIdle. When handlers are still running after CloseTimeout, it cancels
// their context and waits up to CloseTimeout more. When it returns nil,
// none of the consumer's goroutines is left. When a handler ignores its
// cancelled context too, Close returns an error wrapping
// context.DeadlineExceeded; that handler's goroutine ends when the handler
// returns, and its message is acknowledged then if it succeeded.
//
// Close is idempotent: later calls wait for the first and return its result.
// It must not be called from the consumer's own handler or OnError (it would
// wait for itself until CloseTimeout); use go consumer.Close() there.
func (c *Consumer) Close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		close(c.done)
		c.s.c.shared.consumers.remove(c)
		finished := make(chan struct{})
		go func() {
			c.loops.Wait()
			close(c.acks)
			c.acker.Wait()
			c.s.c.shared.tel.consumers.retire(c)
			c.cancel()
			close(finished)
		}()
		// The read in progress ends within Block; handlers get CloseTimeout
		// with a live context, then as long again once it is cancelled.
		t := time.NewTimer(c.opts.CloseTimeout + c.opts.Block)
		defer t.Stop()
		select {
		case <-finished:
			return
		case <-t.C:
		}
		c.cancel()
		t.Reset(c.opts.CloseTimeout)
		select {
		case <-finished:
		case <-t.C:
			c.closeErr = opErr("close consumer", c.key,
				fmt.Errorf("%w: handler of group %q still running %v after its context was cancelled", context.DeadlineExceeded, c.group, c.opts.CloseTimeout))
		}
	})
	return c.closeErr
}

// consumers tracks the running consumers of one pool so Client.Close can
// close them and Health can report them. The zero value is ready to use.
type consumers struct {
	mu     sync.Mutex
	closed bool
	live   map[*Consumer]struct{}
}

// add registers c; it fails when the pool is closing or another running
// consumer of this pool has the same stream, group and name.
func (r *consumers) add(c *Consumer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	for o := range r.live {
		if o.key == c.key && o.group == c.group && o.name == c.name {
			return fmt.Errorf("%w: consumer %q of group %q is already running in this process", ErrInvalidOptions, c.name, c.group)
		}
	}
	if r.live == nil {
		r.live = make(map[*Consumer]struct{})
	}
	r.live[c] = struct{}{}
	return nil
}

func (r *consumers) remove(c *Consumer) {
	r.mu.Lock()
	delete(r.live, c)
	r.mu.Unlock()
}

// closeAll closes every running consumer in parallel and waits for them;
// consumers started later are refused.
func (r *consumers) closeAll() {
	r.mu.Lock()
	r.closed = true
	live := make([]*Consumer, 0, len(r.live))
	for c := range r.live {
		live = append(live, c)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range live {
		wg.Go(func() { _ = c.Close() })
	}
	wg.Wait()
}

// health reports every running consumer, ordered by stream, group and name.
func (r *consumers) health() []ConsumerHealth {
	r.mu.Lock()
	out := make([]ConsumerHealth, 0, len(r.live))
	for c := range r.live {
		out = append(out, ConsumerHealth{Stream: c.key, Group: c.group, Consumer: c.name, ConsumerStats: c.Stats()})
	}
	r.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b ConsumerHealth) int {
		return cmp.Or(strings.Compare(a.Stream, b.Stream), strings.Compare(a.Group, b.Group), strings.Compare(a.Consumer, b.Consumer))
	})
	return out
}
