package redisclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

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
	if err := s.c.shared.consumers.add(cs, sameConsumer(cs)); err != nil {
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

// isBusyGroup reports whether err is Redis refusing to create a consumer
// group that exists.
func isBusyGroup(err error) bool { return replyCode(err) == "BUSYGROUP" }

// isNoGroup reports whether err is Redis saying the consumer group (or its
// stream) does not exist.
func isNoGroup(err error) bool { return replyCode(err) == "NOGROUP" }

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

// sameConsumer refuses a second running consumer of this pool with c's
// stream, group and name.
func sameConsumer(c *Consumer) func(*Consumer) error {
	return func(o *Consumer) error {
		if o.key == c.key && o.group == c.group && o.name == c.name {
			return fmt.Errorf("%w: consumer %q of group %q is already running in this process", ErrInvalidOptions, c.name, c.group)
		}
		return nil
	}
}

// consumerHealth reports every running consumer of r, ordered by stream,
// group and name.
func consumerHealth(r *registry[*Consumer]) []ConsumerHealth {
	var out []ConsumerHealth
	r.each(func(c *Consumer) {
		out = append(out, ConsumerHealth{Stream: c.key, Group: c.group, Consumer: c.name, ConsumerStats: c.Stats()})
	})
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b ConsumerHealth) int {
		return cmp.Or(strings.Compare(a.Stream, b.Stream), strings.Compare(a.Group, b.Group), strings.Compare(a.Consumer, b.Consumer))
	})
	return out
}
