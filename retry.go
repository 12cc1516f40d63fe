package redisclient

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of RetryPolicy.
const (
	DefaultRetryAttempts   = 3
	DefaultRetryMinBackoff = 8 * time.Millisecond
	DefaultRetryMaxBackoff = 256 * time.Millisecond
	DefaultRetryJitter     = 0.2
)

// dialAttempts is the number of dials go-redis makes per new connection. Its
// own default is 5 with 100 ms pauses; the client's retry loop already
// retries failed dials, so one dial per attempt keeps the bounds below exact.
const dialAttempts = 1

// RetryPolicy says how often and how patiently a failed command is tried
// again. The zero value means the defaults: 3 attempts in total, backoff
// starting at 8 ms and doubling up to 256 ms, shortened by up to 20% jitter.
//
// Only errors for which IsRetryable reports true are retried: network
// errors, timeouts and the transient server replies (LOADING, READONLY,
// TRYAGAIN, MASTERDOWN, CLUSTERDOWN, NOREPLICAS, max clients).
//
// A command that must not run twice is retried only when the failure proves
// it never ran: a failed dial, a pool timeout, or a transient reply that
// rejected it; never after a timeout or a connection lost once it was sent.
// Those commands are the INCR/DECR family, APPEND, SETRANGE, GETSET, GETDEL,
// SETNX, SET with NX or GET, MSETNX, HSETNX, HGETDEL, list pushes, pops and
// moves (LPUSH ... BLMOVE), LINSERT, LREM, SPOP, ZINCRBY, ZADD INCR, sorted-set
// pops, HINCRBY(FLOAT), BITFIELD, PUBLISH, SPUBLISH, XADD, XREADGROUP, XCLAIM,
// XAUTOCLAIM, RENAME(NX), RESTORE, EVAL, EVALSHA, FCALL and MULTI/EXEC. A
// pipeline is retried as a whole, when all its commands may be. A cancelled
// or expired context is never retried, and the backoff sleeps end with it.
//
// On Redis Cluster, go-redis's cluster client follows MOVED and ASK
// redirects in a loop that would also send a command again, by itself, after
// a network error, and a pipeline's commands after a connection error. The
// client keeps both from doing so (it hides node failures from that loop and
// holds back the pipelined commands of a failed node), so the guarantee and
// the bounds below hold there too, and between its own attempts it has the
// slot map re-read, so a retry after a failover reaches the new master.
//
// Worst-case latency of one failing call with the defaults: 3 attempts, 1 s
// dial, read and write timeouts, one dial per attempt (go-redis's own dial
// and command retries are turned off), 8 + 16 = 24 ms of backoff. An attempt
// ends at its first step that fails: the dial, the handshake of a new
// connection, or the reply.
//
//   - Server stopped (connection refused): 3 immediate dial failures plus the
//     backoffs, about 25 ms (measured 23-25 ms on loopback).
//   - Server or network stalled (connections accepted or open, no replies):
//     each attempt fails at its first read, 3 × 1 s + 24 ms ≈ 3.02 s for a
//     read (measured 3.03 s); 1 s for a non-idempotent command, which is not
//     retried after a timeout (measured 1.00 s).
//   - Host unreachable (connection attempts dropped): 3 × 1 s dial timeouts +
//     24 ms ≈ 3.02 s.
//   - Upper bound, for a server that answers every handshake step just
//     before its timeout and then not the command: Attempts × (DialTimeout +
//     2 handshake replies × ReadTimeout + WriteTimeout + ReadTimeout) +
//     backoffs = 3 × 5 s + 24 ms ≈ 15 s.
//
// A context deadline bounds all of these (the client applies it to socket
// reads and writes); a context cancelled without a deadline is seen before
// each attempt, while dialing or waiting for a pooled connection, and during
// backoff, but a reply already awaited is bounded by ReadTimeout.
//
// The circuit breaker lowers them in practice: every attempt checks it
// first, and after BreakerOptions.Threshold (5) consecutive connection-level
// failures calls fail in microseconds with ErrUnavailable. A
// sequential caller facing a stalled server pays 3.02 s for its first call
// and about 2 s for its second (its third attempt meets the open breaker);
// every later call fails fast until a background probe finds Redis back.
type RetryPolicy struct {
	// Attempts is the total number of tries, the first one included. 0 means
	// DefaultRetryAttempts (3); 1 turns retries off.
	Attempts int
	// MinBackoff is the pause before the first retry; each later pause
	// doubles, up to MaxBackoff. 0 means DefaultRetryMinBackoff (8 ms); -1
	// means no pause at all.
	MinBackoff time.Duration
	// MaxBackoff caps a single pause. 0 means DefaultRetryMaxBackoff (256 ms).
	MaxBackoff time.Duration
	// Jitter shortens each pause by a random fraction in [0, Jitter), so
	// clients that failed together do not retry in lockstep. Pauses are never
	// lengthened, so the bounds above hold. 0 means DefaultRetryJitter (0.2);
	// -1 means none. It must be below 1.
	Jitter float64
}

func (p RetryPolicy) attempts() int {
	if p.Attempts == 0 {
		return DefaultRetryAttempts
	}
	return p.Attempts
}

func (p RetryPolicy) minBackoff() time.Duration {
	switch p.MinBackoff {
	case 0:
		return DefaultRetryMinBackoff
	case -1:
		return 0
	}
	return p.MinBackoff
}

func (p RetryPolicy) maxBackoff() time.Duration {
	if p.MaxBackoff == 0 {
		return max(DefaultRetryMaxBackoff, p.minBackoff())
	}
	return p.MaxBackoff
}

func (p RetryPolicy) jitter() float64 {
	switch p.Jitter {
	case 0:
		return DefaultRetryJitter
	case -1:
		return 0
	}
	return p.Jitter
}

func (p RetryPolicy) validate() error {
	switch {
	case p.Attempts < 0:
		return optionsError("Retry.Attempts %d: must be at least 1 (0 for the default of %d)", p.Attempts, DefaultRetryAttempts)
	case p.MinBackoff < -1:
		return optionsError("Retry.MinBackoff %v: must not be negative (-1 for no backoff)", p.MinBackoff)
	case p.MaxBackoff < 0:
		return optionsError("Retry.MaxBackoff %v: must not be negative", p.MaxBackoff)
	case p.maxBackoff() < p.minBackoff():
		return optionsError("Retry.MaxBackoff %v: must not be below MinBackoff %v", p.MaxBackoff, p.minBackoff())
	case math.IsNaN(p.Jitter) || (p.Jitter < 0 && p.Jitter != -1) || p.Jitter >= 1:
		return optionsError("Retry.Jitter %v: must be in [0, 1) (-1 for none)", p.Jitter)
	}
	return nil
}

// apply maps the policy onto go-redis: its command retries are turned off
// (the client's hook retries, knowing which commands are safe to repeat), it
// dials once per attempt, and contexts' deadlines bound socket reads and
// writes so a call never outlives its caller's deadline.
func (p RetryPolicy) apply(uo *redis.UniversalOptions) {
	uo.MaxRetries = -1
	uo.DialerRetries = dialAttempts
	uo.ContextTimeoutEnabled = true
}

// Backoff returns the pause before retry number n (1 for the pause between
// the first and the second attempt), jitter included.
func (p RetryPolicy) Backoff(n int) time.Duration {
	d := expBackoff(p.minBackoff(), p.maxBackoff(), n)
	if d <= 0 {
		return 0
	}
	if j := p.jitter(); j > 0 {
		d -= time.Duration(rand.Float64() * j * float64(d))
	}
	return d
}

// Retry runs fn until it succeeds, returns an error IsRetryable rejects, or
// the policy's attempts are spent, pausing between tries as the policy says;
// the zero RetryPolicy means the defaults. It returns fn's last error, or,
// when ctx ends during a pause, an error wrapping both ctx's error and fn's
// last one. fn must be safe to run more than once.
//
// Client methods already retry each command under Options.Retry; use Retry
// for a sequence of calls that should be repeated as a whole, or set
// Options.Retry.Attempts to 1 to avoid multiplying the attempts.
func Retry(ctx context.Context, policy RetryPolicy, fn func(context.Context) error) error {
	if err := policy.validate(); err != nil {
		return err
	}
	n := policy.attempts()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn(ctx)
		if err == nil || attempt >= n || !IsRetryable(err) {
			return err
		}
		if serr := sleepCtx(ctx, policy.Backoff(attempt)); serr != nil {
			return fmt.Errorf("%w (gave up retrying after %d attempts; last error: %w)", serr, attempt, err)
		}
	}
}
