package redisclient

import (
	"errors"
	"time"
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
