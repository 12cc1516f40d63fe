package redisclient

import (
	"context"
	"errors"
	"fmt"
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
	// DefaultHealthCheckInterval is how long a subscription's connection
	// may stay silent before a PING checks that it is alive.
	DefaultHealthCheckInterval = 5 * time.Second
	// DefaultBlockTimeout bounds how long, in total, a Block subscription
	// whose buffer stays full may hold up the connection it shares.
	DefaultBlockTimeout = 2 * time.Second
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
	// Block applies backpressure: when the buffer is full, the reader of the
	// connection waits for the handler to make room, so a handler that
	// stalls for a moment loses nothing. The subscriptions of a client share
	// that connection, so the wait holds up all of them; it is bounded by
	// BlockTimeout: once the reader has waited that long in total for this
	// subscription without its handler working the buffer down to half,
	// messages that find the buffer full are dropped (counted in
	// SubscriptionStats.Dropped, and logged once) until the handler has
	// caught up to half the buffer. A handler that stays behind thus costs
	// the other subscriptions at most BlockTimeout each time it falls
	// behind, and loses messages only itself.
	//
	// While the reader waits, messages queue in Redis's output buffer for
	// the connection; past the server's client-output-buffer-limit for
	// pubsub (32 MB, or 8 MB for a minute, by default) Redis closes the
	// connection and drops what it held. The subscriptions then deliver what
	// they had read, reconnect and call OnReconnect to report the gap.
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
	// are lost, so this is the place to resync state from Redis. It is
	// queued in the subscription's buffer like a message: it runs after the
	// handler has been handed every message received before the loss, and
	// with Concurrency 1 before any message received after the reconnect.
	// It runs on a handler goroutine, so it holds up this subscription only;
	// it does not count against BufferSize and is never dropped. It must
	// not call Close of its own subscription.
	OnReconnect func()
	// CloseTimeout bounds how long Close waits for running handlers after
	// cancelling their context. 0 means DefaultCloseTimeout (5 s); a negative
	// value is an error.
	CloseTimeout time.Duration
	// HealthCheckInterval is how long the connection may stay silent before
	// a PING is sent; when neither a message nor the reply arrives within
	// another interval, the connection is replaced and resubscribed, so a
	// connection that died without being closed is noticed within two to
	// three intervals. Subscriptions sharing a connection check it at the
	// shortest interval among them. 0 means DefaultHealthCheckInterval
	// (5 s); a negative value turns the check off for this subscription,
	// leaving such connections to TCP keepalive when no subscription on the
	// connection wants the check.
	HealthCheckInterval time.Duration
	// BlockTimeout bounds how long, in total, the connection's reader waits
	// for room in this subscription's full buffer under Block before it
	// drops messages for it instead (see Block). 0 means
	// DefaultBlockTimeout (2 s); a negative value is an error. DropOldest
	// never waits.
	BlockTimeout time.Duration
}

func (o SubscribeOptions) validate() error {
	switch {
	case o.BufferSize < 0:
		return optionsError("PubSub.BufferSize %d: must not be negative", o.BufferSize)
	case o.Concurrency < 0:
		return optionsError("PubSub.Concurrency %d: must not be negative", o.Concurrency)
	case o.CloseTimeout < 0:
		return optionsError("PubSub.CloseTimeout %v: must not be negative", o.CloseTimeout)
	case o.BlockTimeout < 0:
		return optionsError("PubSub.BlockTimeout %v: must not be negative", o.BlockTimeout)
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
	if o.BlockTimeout == 0 {
		o.BlockTimeout = orDefault(def.BlockTimeout, DefaultBlockTimeout)
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
// and once it is full the OverflowPolicy applies (by default the shared
// reader waits for room, for at most BlockTimeout; see Block). It never
// holds up other subscriptions' handlers.
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
	// Received counts messages read from Redis for this subscription.
	Received uint64
	// Delivered counts handler calls that have returned, including those
	// that returned an error or panicked.
	Delivered uint64
	// Dropped counts messages that were never handed to the handler: pushed
	// out of a full buffer under DropOldest, finding the buffer full under
	// Block after BlockTimeout (see Block), or still buffered at Close.
	Dropped uint64
	// HandlerErrors counts handler calls that returned an error.
	HandlerErrors uint64
	// Panics counts panics of the handler and of OnReconnect.
	Panics uint64
	// Reconnects counts how often the subscription was re-established after
	// losing its connection (and OnReconnect was due).
	Reconnects uint64
	// Pending is the number of messages waiting in the buffer now.
	Pending int
}

// Publish sends message to channel (namespaced like keys) and returns the
// number of receivers Redis counted: connections, not subscriptions, so the
// subscriptions of one client on that channel count once (they share a
// connection). Strings and byte slices are sent as they are, numbers as
// decimal text, other values through the serializer. On Redis Cluster it
// goes to the master of the channel's slot, so one publisher's messages to a
// channel arrive in publish order; the count only covers subscribers
// connected to that node, and while that master is down and not yet
// replaced, publishing to its channels fails (fast, once its breaker is
// open). Publish is never retried once it may have reached the server.
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
// only the subscribing (so does Options.ReadTimeout); the subscription lives
// until Close or Client.Close, and handlers get a context carrying ctx's
// values that is cancelled at Close. The subscription shares the client's
// pub/sub connection with the client's other subscriptions (see
// Subscription); a channel it shares with them is subscribed once.
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
// pattern sees channels of every slot: a subscription joins the client's
// shared connection to the master of its first channel's or pattern's slot,
// and every master passes each message on to the others. Patterns cannot be
// sharded (SSUBSCRIBE takes channel names only), and sharded channels would
// not reach the subscribers of the Python service, which use SUBSCRIBE.
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
	full := c.prefix + name
	if err := c.usable(op, full); err != nil {
		return "", err
	}
	what := "channel"
	if pattern {
		what = "pattern"
	}
	if name == "" {
		return "", opErr(op, c.ns, fmt.Errorf("%w: empty %s", ErrInvalidKey, what))
	}
	if pattern {
		full = escapeGlob(c.prefix) + name
	}
	return full, nil
}
