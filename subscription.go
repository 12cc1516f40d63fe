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
// handler until Close. It reconnects and resubscribes by itself when the
// connection breaks. It holds one connection outside the pool and runs one
// goroutine reading it, Concurrency goroutines calling the handler and,
// unless the health check is off, one checking the connection. Its methods
// are safe for concurrent use.
type Subscription struct {
	c       *Client
	kind    string   // "subscribe" or "psubscribe"
	names   []string // full channels or patterns, deduplicated
	trim    string   // prefix of a full pattern that Message.Pattern leaves out
	handler Handler
	opts    SubscribeOptions
	readCtx context.Context

	mu       sync.Mutex
	ps       *redis.PubSub
	psClosed bool

	queue   chan queued
	done    chan struct{}
	closing atomic.Bool
	idle    atomic.Bool     // the reader is not waiting on Redis
	ctx     context.Context // handler context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	// Counters, grouped by the goroutine that writes them so the reader
	// and the dispatchers do not fight over a cache line for every message.
	_          [64]byte
	received   atomic.Uint64 // reader
	seen       atomic.Uint64 // reader: confirmations and PONGs, for watch
	reconnects atomic.Uint64 // reader
	_          [64]byte
	delivered  atomic.Uint64 // dispatchers
	handlerErr atomic.Uint64 // dispatchers
	lagTotal   atomic.Uint64 // dispatchers: nanoseconds in the buffer, when measured
	lagMax     atomic.Int64  // dispatchers; the metrics callback resets it
	panics     atomic.Uint64 // dispatchers, reader (OnReconnect)
	_          [64]byte
	dropped    atomic.Uint64 // reader (DropOldest), dispatchers after Close
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
		readCtx: context.WithoutCancel(ctx),
		queue:   make(chan queued, opts.BufferSize),
		done:    make(chan struct{}),
	}
	if kind == "psubscribe" {
		s.trim = escapeGlob(c.prefix)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))

	ps, backlog, err := s.confirm(ctx)
	if err != nil {
		s.cancel()
		if c.shared.closed.Load() {
			err = ErrClosed
		}
		return nil, opErr(kind, where, err)
	}
	s.ps = ps

	c.shared.tel.subs.add(s)
	s.wg.Add(1 + opts.Concurrency)
	go s.read(backlog)
	for range opts.Concurrency {
		go s.dispatch()
	}
	if opts.HealthCheckInterval > 0 {
		s.wg.Add(1)
		go s.watch()
	}
	if !c.shared.subs.add(s) {
		_ = s.Close()
		return nil, opErr(kind, where, ErrClosed)
	}
	return s, nil
}

// newPubSub returns a PubSub subscribed to s's channels. Its error is the
// subscribing's; the PubSub remembers the channels either way and
// subscribes again when it next connects.
func (s *Subscription) newPubSub(ctx context.Context) (*redis.PubSub, error) {
	rdb := s.c.shared.rdb
	if s.kind == "psubscribe" {
		ps := rdb.PSubscribe(ctx)
		return ps, ps.PSubscribe(ctx, s.names...)
	}
	ps := rdb.Subscribe(ctx)
	return ps, ps.Subscribe(ctx, s.names...)
}

// confirm subscribes and waits until Redis has confirmed every channel. It
// returns the messages that arrived in between.
func (s *Subscription) confirm(ctx context.Context) (*redis.PubSub, []*redis.Message, error) {
	ps, err := s.newPubSub(ctx)
	if err != nil {
		_ = ps.Close()
		return nil, nil, err
	}
	timeout := max(s.c.shared.opts.ReadTimeout, 0)
	var backlog []*redis.Message
	for need := len(s.names); need > 0; {
		msg, err := ps.ReceiveTimeout(ctx, timeout)
		if err != nil {
			_ = ps.Close()
			return nil, nil, err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == s.kind {
				need--
			}
		case *redis.Message:
			s.received.Add(1)
			backlog = append(backlog, m)
		}
	}
	return ps, backlog, nil
}

// read receives from Redis into the buffer until Close, reconnecting after
// errors and reporting each completed reconnect. It closes the buffer when
// it ends, which stops the dispatchers once they have drained it.
//
// Reads carry no deadline, so a message costs no timer update; watch finds
// connections that went silent.
func (s *Subscription) read(backlog []*redis.Message) {
	defer s.wg.Done()
	defer close(s.queue)
	for _, m := range backlog {
		if !s.enqueue(m) {
			return
		}
	}
	ctx := s.readCtx
	ps := s.current()
	var (
		lost      bool // the connection broke and is not confirmed again yet
		confirmed int  // confirmations seen since it broke
		failures  int  // consecutive errors
	)
	for {
		msg, err := ps.Receive(ctx)
		if s.closing.Load() {
			if _, ok := msg.(*redis.Message); ok && err == nil {
				s.received.Add(1)
				s.dropped.Add(1)
			}
			return
		}
		if err != nil {
			confirmed = 0
			// On a cluster the channel's node may have failed over: the
			// reconnect goes to the slot's master in the slot map, so have it
			// re-read.
			s.c.shared.topo.nodeFailed()
			if !lost {
				lost = true
				s.c.shared.log.Warn("redisclient: pubsub connection lost, reconnecting",
					"op", s.kind, "channels", keyList(s.names), "error", err)
			}
			failures++
			pause := reconnectPause(failures)
			if errors.Is(err, ErrUnavailable) {
				// The circuit breaker fails calls without touching the
				// network; ask often so the subscription returns soon
				// after its probe closes it.
				pause = min(pause, 100*time.Millisecond)
			}
			if !s.sleep(pause) {
				return
			}
			if isReply(err) {
				// An error reply, such as a refused SUBSCRIBE after a
				// restart: go-redis keeps that connection, unsubscribed.
				s.renew(ctx)
			}
			// watch may have replaced the connection.
			ps = s.current()
			continue
		}
		failures = 0
		switch m := msg.(type) {
		case *redis.Message:
			s.received.Add(1)
			if !s.enqueue(m) {
				return
			}
		case *redis.Pong:
			s.seen.Add(1)
		case *redis.Subscription:
			s.seen.Add(1)
			if lost && m.Kind == s.kind {
				if confirmed++; confirmed >= len(s.names) {
					lost = false
					s.reconnects.Add(1)
					s.c.shared.log.Info("redisclient: pubsub resubscribed; messages published meanwhile are lost",
						"op", s.kind, "channels", keyList(s.names))
					s.notifyReconnect()
				}
			}
		}
	}
}

// watch checks the connection every HealthCheckInterval: when the reader
// waited on Redis for a whole interval without a reply, it sends a PING;
// when the next interval brings no reply either, the connection is silently
// dead (a vanished peer, a stalled proxy) and watch replaces it, which makes
// the reader reconnect.
func (s *Subscription) watch() {
	defer s.wg.Done()
	hc := s.opts.HealthCheckInterval
	t := time.NewTimer(hc)
	defer t.Stop()
	var (
		last     uint64
		pingSent bool
	)
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		switch seen := s.received.Load() + s.seen.Load(); {
		case seen != last || s.idle.Load():
			last, pingSent = seen, false
		case !pingSent:
			pingSent = true
			ctx, cancel := context.WithTimeout(s.readCtx, hc)
			// The reply reaches the reader. A failed write makes go-redis
			// drop the connection, which the reader sees and reports.
			_ = s.current().Ping(ctx)
			cancel()
		default:
			pingSent = false
			s.c.shared.log.Warn("redisclient: pubsub connection silent, replacing it",
				"op", s.kind, "channels", keyList(s.names), "silence", 2*hc)
			s.renew(s.readCtx)
		}
		t.Reset(hc)
	}
}

// current returns the PubSub in use.
func (s *Subscription) current() *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps
}

// renew replaces the connection with a new one, subscribed to the same
// channels. Closing the old one ends a Receive waiting on it with an error,
// after which the reader moves to the new one.
func (s *Subscription) renew(ctx context.Context) {
	nps, _ := s.newPubSub(ctx)
	s.mu.Lock()
	if s.psClosed {
		s.mu.Unlock()
		_ = nps.Close()
		return
	}
	old := s.ps
	s.ps = nps
	s.mu.Unlock()
	_ = old.Close()
}

// sleep pauses for d and reports false when the subscription closed meanwhile.
func (s *Subscription) sleep(d time.Duration) bool {
	if d <= 0 {
		return !s.closing.Load()
	}
	s.idle.Store(true)
	defer s.idle.Store(false)
	return sleepUnless(d, s.done)
}

// enqueue puts m in the buffer, applying the overflow policy. It reports
// false when the subscription closed first.
func (s *Subscription) enqueue(m *redis.Message) bool {
	q := s.c.shared.tel.stamp(m)
	if s.opts.Overflow == DropOldest {
		for {
			select {
			case s.queue <- q:
				return true
			default:
			}
			select {
			case <-s.queue:
				s.dropped.Add(1)
			default:
			}
		}
	}
	select {
	case s.queue <- q:
		return true
	default:
	}
	s.idle.Store(true) // not reading: silence says nothing about the connection
	defer s.idle.Store(false)
	select {
	case s.queue <- q:
		return true
	case <-s.done:
		s.dropped.Add(1)
		return false
	}
}

// dispatch hands buffered messages to the handler until the reader closes
// the buffer; after Close it counts what is left as dropped.
func (s *Subscription) dispatch() {
	defer s.wg.Done()
	for q := range s.queue {
		if s.closing.Load() {
			s.dropped.Add(1)
			continue
		}
		s.noteLag(q)
		s.deliver(q.m)
	}
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
			err = opErr("handle message", msg.full, fmt.Errorf("%w: %v\n%s", ErrHandlerPanic, r, debug.Stack()))
		}
	}()
	if err := s.handler(s.ctx, msg); err != nil {
		s.handlerErr.Add(1)
		return opErr("handle message", msg.full, err)
	}
	return nil
}

func (s *Subscription) notifyReconnect() {
	if s.opts.OnReconnect == nil {
		return
	}
	s.idle.Store(true)
	defer s.idle.Store(false)
	defer func() {
		if r := recover(); r != nil {
			s.panics.Add(1)
			s.report(opErr("reconnect callback", keyList(s.names), fmt.Errorf("%w: %v\n%s", ErrHandlerPanic, r, debug.Stack())))
		}
	}()
	s.opts.OnReconnect()
}

// report passes err to OnError, or logs it when there is none or OnError
// panics.
func (s *Subscription) report(err error) {
	if s.opts.OnError == nil {
		s.c.shared.log.Warn("redisclient: pubsub handler failed", "error", err)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.c.shared.log.Error("redisclient: pubsub OnError panicked", "panic", r, "error", err)
		}
	}()
	s.opts.OnError(err)
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
		Pending:       len(s.queue),
	}
}

// Close unsubscribes and stops the subscription: it closes its connection,
// cancels the handlers' context, waits up to CloseTimeout for running
// handlers (and a running OnReconnect) to return, and counts messages still
// buffered as dropped. When it returns nil, none of the subscription's
// goroutines is left. When a handler ignores its context and outlasts
// CloseTimeout, Close returns an error wrapping context.DeadlineExceeded;
// that handler's goroutine ends when the handler returns.
//
// Close is idempotent: later calls wait for the first and return its result.
// It must not be called from the subscription's own handler or OnReconnect
// (it would wait for itself until CloseTimeout); use go sub.Close() there.
func (s *Subscription) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		close(s.done)
		s.cancel()
		s.mu.Lock()
		s.psClosed = true
		ps := s.ps
		s.mu.Unlock()
		if ps != nil {
			_ = ps.Close()
		}
		s.c.shared.subs.remove(s)

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
		case <-t.C:
			s.closeErr = opErr("close subscription", keyList(s.names),
				fmt.Errorf("%w: handler still running after %v", context.DeadlineExceeded, s.opts.CloseTimeout))
		}
	})
	return s.closeErr
}

// subscriptions tracks the live subscriptions of one pool so Client.Close
// can close them. The zero value is ready to use.
type subscriptions struct {
	mu     sync.Mutex
	closed bool
	live   map[*Subscription]struct{}
}

// add registers s and reports false when the pool is closing.
func (r *subscriptions) add(s *Subscription) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.live == nil {
		r.live = make(map[*Subscription]struct{})
	}
	r.live[s] = struct{}{}
	return true
}

func (r *subscriptions) remove(s *Subscription) {
	r.mu.Lock()
	delete(r.live, s)
	r.mu.Unlock()
}

// closeAll closes every live subscription in parallel and waits for them;
// subscriptions registered later are refused.
func (r *subscriptions) closeAll() {
	r.mu.Lock()
	r.closed = true
	live := make([]*Subscription, 0, len(r.live))
	for s := range r.live {
		live = append(live, s)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range live {
		wg.Go(func() { _ = s.Close() })
	}
	wg.Wait()
}
