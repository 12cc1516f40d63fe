package redisclient

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscription delivers the messages of a Subscribe or PSubscribe call to its
// handler until Close. The subscriptions of a client and of all its views
// share one pub/sub connection per node (one in all off a cluster), read by
// one goroutine and checked by another; a channel several subscriptions
// want is subscribed once. The connection reconnects and resubscribes by
// itself when it breaks. A subscription holds its buffer, which grows with
// the messages waiting in it, and runs goroutines only while it has messages
// to hand to its handler (up to Concurrency). Its methods are safe for
// concurrent use.
type Subscription struct {
	c       *Client
	kind    string   // "subscribe" or "psubscribe"
	names   []string // full channels or patterns, deduplicated
	trim    string   // prefix of a full pattern that Message.Pattern leaves out
	handler Handler
	opts    SubscribeOptions
	pc      *pubsubConn

	// Guarded by pc.mu.
	live bool // Redis confirmed every channel: Subscribe returned
	gap  bool // the connection broke since; OnReconnect is due

	mu       sync.Mutex // guards the buffer and the fields below
	queue    ring
	workers  int           // goroutines handing messages to the handler
	stopped  bool          // Close began: messages are dropped
	room     chan struct{} // closed when a handler frees room the reader waits for
	blocked  time.Duration // the reader's wait for room since the buffer was last half empty
	shedding bool          // blocked reached BlockTimeout: full means drop

	ctx    context.Context // handler context; cancelled when the subscription stops
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	// Counters, grouped by the goroutine that writes them so the reader
	// and the handlers do not fight over a cache line for every message.
	_          [64]byte
	received   atomic.Uint64 // reader
	reconnects atomic.Uint64 // reader
	_          [64]byte
	delivered  atomic.Uint64 // handlers
	handlerErr atomic.Uint64 // handlers
	lagTotal   atomic.Uint64 // handlers: nanoseconds in the buffer, when measured
	lagMax     atomic.Int64  // handlers; the metrics callback resets it
	panics     atomic.Uint64 // handlers (OnReconnect too)
	_          [64]byte
	dropped    atomic.Uint64 // reader, Close
}

func (c *Client) subscribe(ctx context.Context, kind string, opts SubscribeOptions, handler Handler, names []string) (*Subscription, error) {
	if c.err != nil {
		return nil, opErr(kind, "", c.err)
	}
	if len(names) == 0 {
		return nil, opErr(kind, c.ns, fmt.Errorf("%w: no channels given", ErrInvalidKey))
	}
	full := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		f, err := c.channel(kind, n, kind == "psubscribe")
		if err != nil {
			return nil, err
		}
		if !seen[f] {
			seen[f] = true
			full = append(full, f)
		}
	}
	where := keyList(full)
	if handler == nil {
		return nil, opErr(kind, where, errors.New("handler is nil"))
	}
	if err := opts.validate(); err != nil {
		return nil, opErr(kind, where, err)
	}
	opts = opts.withDefaults(c.shared.opts.PubSub)

	s := &Subscription{
		c:       c,
		kind:    kind,
		names:   full,
		trim:    c.prefix,
		handler: handler,
		opts:    opts,
	}
	if kind == "psubscribe" {
		s.trim = escapeGlob(c.prefix)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))

	pc, err := c.shared.pubsub.join(ctx, s)
	if err != nil {
		// Messages of channels other subscriptions had may have reached it.
		s.cancel()
		s.stop()
		_ = s.awaitHandlers()
		if c.shared.closed.Load() {
			err = ErrClosed
		}
		return nil, opErr(kind, where, err)
	}
	s.pc = pc
	c.shared.tel.subs.add(s)
	if c.shared.subs.add(s, nil) != nil {
		_ = s.Close()
		return nil, opErr(kind, where, ErrClosed)
	}
	return s, nil
}

func (s *Subscription) deliver(m *redis.Message) {
	msg := Message{
		Channel: strings.TrimPrefix(m.Channel, s.c.prefix),
		Payload: []byte(m.Payload),
		full:    m.Channel,
		ser:     s.c.ser,
	}
	if m.Pattern != "" {
		msg.Pattern = strings.TrimPrefix(m.Pattern, s.trim)
	}
	err := s.call(msg)
	s.delivered.Add(1)
	if err != nil {
		s.report(err)
	}
}

func (s *Subscription) call(msg Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.panics.Add(1)
			err = opErr("handle message", msg.full, handlerPanic(r, debug.Stack()))
		}
	}()
	if err := s.handler(s.ctx, msg); err != nil {
		s.handlerErr.Add(1)
		return opErr("handle message", msg.full, err)
	}
	return nil
}

func (s *Subscription) notifyReconnect() {
	defer func() {
		if r := recover(); r != nil {
			s.panics.Add(1)
			s.report(opErr("reconnect callback", keyList(s.names), handlerPanic(r, debug.Stack())))
		}
	}()
	s.opts.OnReconnect()
}

// report passes err to OnError, or logs it when there is none or OnError
// panics.
func (s *Subscription) report(err error) {
	reportHandlerError(s.c.shared.log, "pubsub", s.opts.OnError, err)
}

// Stats returns a snapshot of the subscription's counters.
func (s *Subscription) Stats() SubscriptionStats {
	return SubscriptionStats{
		Received:      s.received.Load(),
		Delivered:     s.delivered.Load(),
		Dropped:       s.dropped.Load(),
		HandlerErrors: s.handlerErr.Load(),
		Panics:        s.panics.Load(),
		Reconnects:    s.reconnects.Load(),
		Pending:       s.pending(),
	}
}

func (s *Subscription) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queue.messages()
}

// Close unsubscribes and stops the subscription: it stops routing messages
// to it, unsubscribes the channels no other subscription of the client has
// (the shared connection closes with its last subscription), cancels the
// handlers' context, waits up to CloseTimeout for running handlers (and a
// running OnReconnect) to return, and counts messages still buffered as
// dropped. When it returns nil, none of the subscription's goroutines is
// left. When a handler ignores its context and outlasts CloseTimeout, Close
// returns an error wrapping context.DeadlineExceeded; that handler's
// goroutine ends when the handler returns.
//
// Close is idempotent: later calls wait for the first and return its result.
// It must not be called from the subscription's own handler or OnReconnect
// (it would wait for itself until CloseTimeout); use go sub.Close() there.
func (s *Subscription) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.stop()
		s.c.shared.pubsub.leave(s.pc, s)
		s.c.shared.subs.remove(s)
		s.closeErr = s.awaitHandlers()
	})
	return s.closeErr
}

// awaitHandlers waits up to CloseTimeout for the handler goroutines.
func (s *Subscription) awaitHandlers() error {
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.c.shared.tel.subs.retire(s)
		close(finished)
	}()
	t := time.NewTimer(s.opts.CloseTimeout)
	defer t.Stop()
	select {
	case <-finished:
		return nil
	case <-t.C:
		return opErr("close subscription", keyList(s.names),
			fmt.Errorf("%w: handler still running after %v", context.DeadlineExceeded, s.opts.CloseTimeout))
	}
}
