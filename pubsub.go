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

// Defaults of SubscribeOptions, applied to zero fields.
const (
	// DefaultSubscribeBuffer is the number of messages a subscription holds
	// between reading them from Redis and handing them to the handler.
	DefaultSubscribeBuffer = 1024
	// DefaultCloseTimeout bounds how long Subscription.Close waits for
	// handlers that are still running.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultHealthCheckInterval is how long a subscription waits in silence
	// before it sends a PING to check that its connection is alive.
	DefaultHealthCheckInterval = 5 * time.Second
)

// ErrHandlerPanic is wrapped by the error passed to SubscribeOptions.OnError
// when a handler (or the OnReconnect callback) panicked. The error text
// holds the panic value and the stack.
var ErrHandlerPanic = errors.New("redisclient: handler panicked")

// OverflowPolicy says what a subscription does with a new message when its
// buffer is full because the handler falls behind. The zero value means the
// policy of Options.PubSub, and Block when that is zero too.
type OverflowPolicy int

const (
	// Block applies backpressure: the subscription stops reading from Redis
	// until the handler has made room, so no message is lost inside the
	// process. Messages then queue in Redis's output buffer for the
	// connection; when that exceeds the server's client-output-buffer-limit
	// for pubsub (32 MB, or 8 MB for a minute, by default), Redis closes the
	// connection and drops what it held. The subscription then delivers what
	// it had read, reconnects and calls OnReconnect to report the gap.
	Block OverflowPolicy = iota + 1
	// DropOldest keeps reading from Redis and, when the buffer is full,
	// discards the oldest buffered message to make room for the new one.
	// Every discarded message is counted in SubscriptionStats.Dropped.
	DropOldest
)

// String returns "block", "drop-oldest" or "default".
func (p OverflowPolicy) String() string {
	switch p {
	case Block:
		return "block"
	case DropOldest:
		return "drop-oldest"
	case 0:
		return "default"
	}
	return fmt.Sprintf("OverflowPolicy(%d)", int(p))
}

// SubscribeOptions tunes how a subscription buffers and delivers messages.
// Options.PubSub holds the defaults of a Client; SubscribeWith and
// PSubscribeWith take the zero fields of their options from there, and then
// from the package defaults. The zero value is valid.
type SubscribeOptions struct {
	// BufferSize is how many messages are held between reading them from
	// Redis and handing them to the handler. 0 means DefaultSubscribeBuffer
	// (1024); there is no unbuffered mode, 1 is the smallest buffer. A
	// negative value is an error.
	BufferSize int
	// Overflow is the policy for a full buffer: Block (the default) or
	// DropOldest.
	Overflow OverflowPolicy
	// Concurrency is how many messages are handled at the same time. 0 and 1
	// mean one at a time, in publish order. With N > 1, N handler calls run
	// in parallel and messages are no longer delivered in order, even from a
	// single channel. A negative value is an error.
	Concurrency int
	// OnError receives every error a handler returns and every panic of a
	// handler or of OnReconnect (wrapping ErrHandlerPanic), as an *Error
	// naming the full Redis channel. The subscription keeps running either
	// way. It may be called from several goroutines at once and should
	// return quickly: delivery waits for it. nil logs them to Options.Logger.
	OnError func(error)
	// OnReconnect is called after the connection was lost (server restart,
	// network failure, a connection that stopped answering PING, or Redis
	// closing a subscriber whose output buffer overflowed) and the
	// subscription is confirmed again. Messages published during the gap
	// are lost, so this is the place to resync state from Redis. It runs on
	// the goroutine that reads from Redis, before any message published
	// after the reconnect is read; handlers may still be busy with messages
	// received before the loss. Reading pauses while it runs, so hand long
	// work off to another goroutine. It must not call Close of its own
	// subscription.
	OnReconnect func()
	// CloseTimeout bounds how long Close waits for running handlers after
	// cancelling their context. 0 means DefaultCloseTimeout (5 s); a negative
	// value is an error.
	CloseTimeout time.Duration
	// HealthCheckInterval is how long the connection may stay silent before
	// the subscription sends a PING; when neither a message nor the reply
	// arrives within another interval, it replaces the connection and
	// reconnects, so a connection that died without being closed is noticed
	// within two to three intervals. 0 means DefaultHealthCheckInterval
	// (5 s); a negative value turns the check off, leaving such connections
	// to TCP keepalive.
	HealthCheckInterval time.Duration
}

func (o SubscribeOptions) validate() error {
	switch {
	case o.BufferSize < 0:
		return optionsError("PubSub.BufferSize %d: must not be negative", o.BufferSize)
	case o.Concurrency < 0:
		return optionsError("PubSub.Concurrency %d: must not be negative", o.Concurrency)
	case o.CloseTimeout < 0:
		return optionsError("PubSub.CloseTimeout %v: must not be negative", o.CloseTimeout)
	case o.Overflow != 0 && o.Overflow != Block && o.Overflow != DropOldest:
		return optionsError("PubSub.Overflow %v: want Block or DropOldest", o.Overflow)
	}
	return nil
}

// withDefaults fills the zero fields of o from def, then from the package
// defaults.
func (o SubscribeOptions) withDefaults(def SubscribeOptions) SubscribeOptions {
	if o.BufferSize == 0 {
		o.BufferSize = orDefault(def.BufferSize, DefaultSubscribeBuffer)
	}
	if o.Overflow == 0 {
		o.Overflow = def.Overflow
		if o.Overflow == 0 {
			o.Overflow = Block
		}
	}
	if o.Concurrency == 0 {
		o.Concurrency = orDefault(def.Concurrency, 1)
	}
	if o.OnError == nil {
		o.OnError = def.OnError
	}
	if o.OnReconnect == nil {
		o.OnReconnect = def.OnReconnect
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = orDefault(def.CloseTimeout, DefaultCloseTimeout)
	}
	if o.HealthCheckInterval == 0 {
		o.HealthCheckInterval = orDefault(def.HealthCheckInterval, DefaultHealthCheckInterval)
	}
	return o
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Handler processes one message of a subscription. ctx is cancelled when the
// subscription closes, so a handler that waits on it returns promptly. A
// returned error or a panic is counted and passed to OnError; it never stops
// the subscription.
//
// A slow handler holds up the messages behind it: they wait in the buffer,
// and once it is full the OverflowPolicy applies (by default reading from
// Redis pauses).
type Handler func(ctx context.Context, msg Message) error

// Message is a message received by a subscription.
type Message struct {
	// Channel is the channel the message was published to, without the
	// namespace prefix (Publish's channel argument).
	Channel string
	// Pattern is the pattern that matched, as given to PSubscribe (without
	// the namespace prefix), or "" for a Subscribe subscription.
	Pattern string
	// Payload is the message as published: the bytes of a string or []byte,
	// decimal text for numbers, the serializer's encoding for anything else.
	// Each message has its own slice; the handler may keep it.
	Payload []byte

	full string
	ser  Serializer
}

// Decode stores the payload in dest like Client.Get does: *string and
// *[]byte receive the raw bytes, numbers parse decimal text, anything else
// goes through the serializer of the view that subscribed (msgpack for a zero
// Message).
func (m Message) Decode(dest any) error {
	ser := m.ser
	if ser == nil {
		ser = MsgpackSerializer{}
	}
	key := m.full
	if key == "" {
		key = m.Channel
	}
	return opErr("decode message", key, decodeValue(ser, m.Payload, dest))
}

// SubscriptionStats are the counters of a subscription since it started.
// Once Close has returned and no handler is running, Received equals
// Delivered + Dropped.
type SubscriptionStats struct {
	// Received counts messages read from Redis.
	Received uint64
	// Delivered counts handler calls that have returned, including those
	// that returned an error or panicked.
	Delivered uint64
	// Dropped counts messages that were never handed to the handler: pushed
	// out of a full buffer under DropOldest, or still buffered at Close.
	Dropped uint64
	// HandlerErrors counts handler calls that returned an error.
	HandlerErrors uint64
	// Panics counts panics of the handler and of OnReconnect.
	Panics uint64
	// Reconnects counts how often the subscription was re-established after
	// losing its connection (and OnReconnect was called).
	Reconnects uint64
	// Pending is the number of messages waiting in the buffer now.
	Pending int
}

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

// Publish sends message to channel (namespaced like keys) and returns the
// number of subscribers that received it. Strings and byte slices are sent
// as they are, numbers as decimal text, other values through the
// serializer. On Redis Cluster it goes to the master of the channel's slot,
// so one publisher's messages to a channel arrive in publish order; the count
// only covers subscribers connected to that node, and while that master is
// down and not yet replaced, publishing to its channels fails (fast, once
// its breaker is open). Publish is never retried once it may have reached
// the server.
func (c *Client) Publish(ctx context.Context, channel string, message any) (int64, error) {
	ch, err := c.channel("publish", channel, false)
	if err != nil {
		return 0, err
	}
	v, err := encodeValue(c.ser, message)
	if err != nil {
		return 0, opErr("publish", ch, err)
	}
	n, err := c.publish(ctx, ch, v)
	return n, opErr("publish", ch, err)
}

// publish sends PUBLISH. On a cluster any node takes it and passes it on
// over the cluster bus, and go-redis sends each PUBLISH to the next master in
// turn, so one publisher's messages reached a subscriber through different
// nodes and overtook each other. Sent to the master of the channel's slot,
// as a command on a key of that name would be, they all take one path and
// arrive in order wherever the subscriber is connected.
func (c *Client) publish(ctx context.Context, ch string, v any) (int64, error) {
	cmd := redis.NewIntCmd(ctx, "publish", ch, v)
	if c.isCluster() {
		cmd.SetFirstKeyPos(1)
	}
	_ = c.shared.rdb.Process(ctx, cmd)
	return cmd.Result()
}

// Subscribe subscribes handler to channels (namespaced like keys) with the
// options of Options.PubSub. It returns once Redis has confirmed every
// channel, so a message published after it returns is delivered. ctx bounds
// only the subscribing; the subscription lives until Close or Client.Close,
// and handlers get a context carrying ctx's values that is cancelled at
// Close.
//
// At least one channel is required and none may be empty (ErrInvalidKey);
// duplicates are subscribed once. After Client.Close it returns ErrClosed.
func (c *Client) Subscribe(ctx context.Context, handler Handler, channels ...string) (*Subscription, error) {
	return c.subscribe(ctx, "subscribe", SubscribeOptions{}, handler, channels)
}

// PSubscribe is Subscribe for glob patterns such as "prices:*". The
// namespace prefix is matched literally (its glob characters escaped), so a
// pattern never matches channels of another namespace; it may match those
// of child namespaces, whose Message.Channel then starts with the child's
// name.
//
// On Redis Cluster subscriptions use classic (not sharded) pub/sub, so a
// pattern sees channels of every slot: its one connection goes to the master
// of the first channel's or pattern's slot, and every master passes each
// message on to the others. Patterns cannot be sharded (SSUBSCRIBE takes
// channel names only), and sharded channels would not reach the subscribers
// of the Python service, which use SUBSCRIBE.
func (c *Client) PSubscribe(ctx context.Context, handler Handler, patterns ...string) (*Subscription, error) {
	return c.subscribe(ctx, "psubscribe", SubscribeOptions{}, handler, patterns)
}

// SubscribeWith is Subscribe with explicit options; their zero fields are
// taken from Options.PubSub, then from the package defaults. Invalid options
// give an error wrapping ErrInvalidOptions.
func (c *Client) SubscribeWith(ctx context.Context, opts SubscribeOptions, handler Handler, channels ...string) (*Subscription, error) {
	return c.subscribe(ctx, "subscribe", opts, handler, channels)
}

// PSubscribeWith is PSubscribe with explicit options, as for SubscribeWith.
func (c *Client) PSubscribeWith(ctx context.Context, opts SubscribeOptions, handler Handler, patterns ...string) (*Subscription, error) {
	return c.subscribe(ctx, "psubscribe", opts, handler, patterns)
}

// channel validates a channel name or pattern and returns its full form.
func (c *Client) channel(op, name string, pattern bool) (string, error) {
	if err := c.usable(op, c.prefix+name); err != nil {
		return "", err
	}
	what := "channel"
	if pattern {
		what = "pattern"
	}
	if name == "" {
		return "", opErr(op, c.ns, fmt.Errorf("%w: empty %s", ErrInvalidKey, what))
	}
	full := c.prefix + name
	if pattern {
		full = escapeGlob(c.prefix) + name
	}
	return full, nil
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
