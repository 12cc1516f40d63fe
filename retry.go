package redisclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
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
	d, hi := p.minBackoff(), p.maxBackoff()
	if d <= 0 || n < 1 {
		return 0
	}
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
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

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IsRetryable reports whether err is worth trying again: a network error or
// timeout, a connection refused or reset, a pool timeout, or a transient
// server reply (LOADING, READONLY, TRYAGAIN, MASTERDOWN, CLUSTERDOWN,
// NOREPLICAS, max number of clients reached). It is false for nil, misses
// (ErrNotFound, redis.Nil), other server replies (WRONGTYPE, OOM, syntax
// errors, NOSCRIPT, ...), a cancelled context, a bare context deadline,
// ErrUnavailable (the breaker is open: retrying at once cannot help),
// ErrTooLarge and a closed client.
func IsRetryable(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, context.Canceled),
		errors.Is(err, ErrUnavailable),
		errors.Is(err, ErrTooLarge),
		errors.Is(err, ErrClosed),
		errors.Is(err, redis.ErrClosed),
		errors.Is(err, ErrNotFound),
		errors.Is(err, redis.Nil):
		return false
	}
	if msg, ok := replyError(err); ok {
		return transientReply(msg)
	}
	return isConnFailure(err)
}

// replyError returns the text of a server error reply wrapped in err.
func replyError(err error) (string, bool) {
	var re redis.Error
	if errors.As(err, &re) {
		return re.Error(), true
	}
	return "", false
}

// isReply reports whether err is a reply from the server (including a miss).
func isReply(err error) bool {
	_, ok := replyError(err)
	return ok
}

// transientReplies are the server replies that reject a command without
// running it and may go away: a replica loading or promoted, a cluster
// resharding or failing over, a server at its client limit.
var transientReplies = []string{
	"LOADING ", "READONLY ", "TRYAGAIN ", "MASTERDOWN ", "CLUSTERDOWN ", "NOREPLICAS ",
	"ERR max number of clients reached",
}

func transientReply(msg string) bool {
	for _, p := range transientReplies {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// isConnFailure reports whether err says Redis could not be reached or did
// not answer: a dial error, a pool timeout, a network error or timeout, or a
// connection closed mid-reply. Server replies, misses and bare context
// errors are not.
func isConnFailure(err error) bool {
	if err == nil || errors.Is(err, ErrTooLarge) { // the server closed on purpose
		return false
	}
	if _, ok := replyError(err); ok {
		return false
	}
	if neverSent(err) {
		return true
	}
	// context.DeadlineExceeded is a net.Error too: only a real network
	// error counts, not a bare context error.
	var ne net.Error
	if errors.As(err, &ne) && ne != context.DeadlineExceeded {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// neverSent reports whether err proves the command never reached a server:
// the connection could not be made or no pooled connection was free.
func neverSent(err error) bool {
	var de *dialError
	if errors.As(err, &de) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	return errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted)
}

// notExecuted reports whether err proves the command did not run: it never
// reached the server, or the server rejected it with a transient reply.
func notExecuted(err error) bool {
	if msg, ok := replyError(err); ok {
		return transientReply(msg)
	}
	return neverSent(err)
}

// dialError marks an error from dialing a new connection, so the retry loop
// knows the command was never sent whatever the dialer's error type.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Timeout and Temporary keep the net.Error view of the dial error for code
// that type-asserts rather than unwrapping.
func (e *dialError) Timeout() bool {
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

func (e *dialError) Temporary() bool { return true }

// nonIdempotent lists the commands that must not run twice: they change
// data again (INCR, LPUSH, XADD, ...), pop or deliver something that is then
// lost (LPOP, SPOP, XREADGROUP, ...), or reply differently the second time in
// a way callers rely on (SETNX and SET NX, used for locks; GETSET, GETDEL).
// Scripts are opaque and may do any of these. Names are lower case, as
// Cmder.Name returns them.
var nonIdempotent = wordSet(`
	incr incrby incrbyfloat decr decrby
	append setrange getdel getset setnx msetnx hsetnx hgetdel
	lpush rpush lpushx rpushx linsert lrem
	lpop rpop lmpop blpop brpop blmpop lmove blmove rpoplpush brpoplpush
	spop
	zincrby zpopmin zpopmax bzpopmin bzpopmax zmpop bzmpop
	hincrby hincrbyfloat bitfield
	publish spublish
	xadd xreadgroup xclaim xautoclaim
	rename renamenx restore
	eval evalsha fcall
	multi exec`)

func wordSet(s string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// isIdempotent reports whether running cmd twice leaves the same data and
// reply as running it once.
func isIdempotent(cmd redis.Cmder) bool {
	name := cmd.Name()
	if nonIdempotent[name] {
		return false
	}
	switch name {
	case "set": // SET key value [NX|XX] [GET] ...
		return !hasArg(cmd.Args(), 3, "nx", "get")
	case "zadd": // ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...
		return !hasArg(cmd.Args(), 2, "incr")
	}
	return true
}

// hasArg reports whether any string argument from position from on equals
// one of names, ignoring case.
func hasArg(args []any, from int, names ...string) bool {
	for i := from; i < len(args); i++ {
		s, ok := args[i].(string)
		if !ok {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(s, n) {
				return true
			}
		}
	}
	return false
}

type bypassKey struct{}

// bypass marks ctx so the client's hooks let its commands through untouched:
// no breaker check, no counting, no retry. Probes and health checks use it
// to see Redis as it is.
func bypass(ctx context.Context) context.Context {
	return context.WithValue(ctx, bypassKey{}, true)
}

func isBypass(ctx context.Context) bool { return ctx.Value(bypassKey{}) != nil }

type attemptKey struct{}

// attempt is one try of the retry hook. Commands go-redis runs inside it on
// the same context (the handshake of a new connection) belong to it, not
// calls of their own to retry. On a cluster the node hooks note in it the
// pipelined commands whose node failed, so that go-redis does not send them
// again within the attempt (the retry hook decides that).
type attempt struct {
	mu     sync.Mutex
	failed map[redis.Cmder]bool // nil: nothing noted (a single command)
}

// singleAttempt marks the attempts of single commands, which note nothing.
var singleAttempt = &attempt{}

func withAttempt(ctx context.Context, a *attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// attemptOf returns the attempt ctx belongs to, or nil.
func attemptOf(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// note records cmds as sent to a node that failed during the attempt.
func (a *attempt) note(cmds []redis.Cmder) {
	if a == singleAttempt {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed == nil {
		a.failed = make(map[redis.Cmder]bool, len(cmds))
	}
	for _, cmd := range cmds {
		a.failed[cmd] = true
	}
}

// fresh returns the commands of cmds not noted as failed in this attempt.
func (a *attempt) fresh(cmds []redis.Cmder) []redis.Cmder {
	if a == singleAttempt {
		return cmds
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failed) == 0 {
		return cmds
	}
	out := make([]redis.Cmder, 0, len(cmds))
	for _, cmd := range cmds {
		if !a.failed[cmd] {
			out = append(out, cmd)
		}
	}
	return out
}

// resilienceHook runs the retry loop and the circuit breaker around every
// command and pipeline of the client, and marks dial errors. On a cluster it
// has no breaker: each node has its own, in its node hook.
type resilienceHook struct {
	policy  RetryPolicy
	breaker *breaker
	retries *retryCounters
}

func newResilienceHook(p RetryPolicy, b *breaker, retries *retryCounters) redis.Hook {
	return &resilienceHook{policy: p, breaker: b, retries: retries}
}

func (h *resilienceHook) passThrough(ctx context.Context) bool {
	return isBypass(ctx) || attemptOf(ctx) != nil
}

// DialHook marks dial failures: the command was never sent, so even a
// non-idempotent one may be retried.
func (h *resilienceHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cn, err := next(ctx, network, addr)
		if err != nil {
			return nil, &dialError{err: err}
		}
		return cn, nil
	}
}

// ProcessHook runs one command under the policy and the breaker.
func (h *resilienceHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.passThrough(ctx) {
			return next(ctx, cmd)
		}
		return h.run(ctx, func() error {
			cmd.SetErr(nil)
			return next(withAttempt(ctx, singleAttempt), cmd)
		}, func(err error) bool {
			return notExecuted(err) || isIdempotent(cmd)
		})
	}
}

// ProcessPipelineHook runs a pipeline (or MULTI/EXEC transaction) under the
// policy and the breaker. A pipeline's commands succeed or fail one by one (on
// a cluster, node by node), so a retry sends only the commands that failed
// with a retryable error and may run again (idempotent, or proved never to
// have run); the others keep their replies, so a DEL that worked still counts
// its key. A transaction is retried as a whole, and only when every command's
// error proves it did not run.
func (h *resilienceHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.passThrough(ctx) {
			return next(ctx, cmds)
		}
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			return h.runTx(ctx, next, cmds)
		}
		pending := cmds
		ran := false
		err := h.run(ctx, func() error {
			ran = true
			for _, cmd := range pending {
				cmd.SetErr(nil)
			}
			_ = next(withAttempt(ctx, &attempt{}), pending)
			return retryableErr(pending)
		}, func(error) bool {
			var again []redis.Cmder
			for _, cmd := range pending {
				if err := cmd.Err(); IsRetryable(err) && (isIdempotent(cmd) || notExecuted(err)) {
					again = append(again, cmd)
				}
			}
			if len(again) == 0 {
				return false
			}
			pending = again
			return true
		})
		if !ran {
			// Failed before running (breaker open, context done): no command
			// may look successful.
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		if err != nil {
			return err
		}
		return firstErr(cmds)
	}
}

// runTx runs a MULTI/EXEC transaction, which only succeeds or fails whole.
func (h *resilienceHook) runTx(ctx context.Context, next redis.ProcessPipelineHook, cmds []redis.Cmder) error {
	ran := false
	err := h.run(ctx, func() error {
		ran = true
		for _, cmd := range cmds {
			cmd.SetErr(nil)
		}
		return next(withAttempt(ctx, &attempt{}), cmds)
	}, func(error) bool {
		return allCmds(cmds, func(cmd redis.Cmder) bool { return notExecuted(cmd.Err()) })
	})
	if err != nil && !ran {
		for _, cmd := range cmds {
			cmd.SetErr(err)
		}
	}
	return err
}

// retryableErr returns the first error among cmds that is worth a retry (a
// connection failure first, as the breaker counts those), or nil. A miss or
// another reply of one command says nothing about the others.
func retryableErr(cmds []redis.Cmder) error {
	var first error
	for _, cmd := range cmds {
		err := cmd.Err()
		switch {
		case err == nil || err == redis.Nil:
		case isConnFailure(err):
			return err
		case first == nil && IsRetryable(err):
			first = err
		}
	}
	return first
}

// firstErr is the error go-redis gives a pipeline: its first command's error.
func firstErr(cmds []redis.Cmder) error {
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return err
		}
	}
	return nil
}

func allCmds(cmds []redis.Cmder, ok func(redis.Cmder) bool) bool {
	for _, cmd := range cmds {
		if !ok(cmd) {
			return false
		}
	}
	return true
}

// run calls attempt until it succeeds or the policy says stop. mayRepeat
// tells whether the failed attempt may safely run again.
//
// An attempt runs with an attempt context: commands go-redis issues inside
// it on the same context (the HELLO/AUTH/SELECT handshake of a new
// connection) are part of the attempt, not calls of their own to retry or
// count.
func (h *resilienceHook) run(ctx context.Context, attempt func() error, mayRepeat func(error) bool) error {
	n := h.policy.attempts()
	for i := 1; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := h.breaker.allow(); err != nil {
			return err
		}
		err := attempt()
		h.breaker.record(ctx, err)
		if cerr := ctx.Err(); cerr != nil && err != nil {
			// The socket deadline came from ctx: say so, for errors.Is.
			if !errors.Is(err, cerr) {
				err = fmt.Errorf("%w: %w", err, cerr)
			}
			return err
		}
		if err == nil || i >= n || !IsRetryable(err) || !mayRepeat(err) {
			return err
		}
		h.retries.count(err)
		if serr := sleepCtx(ctx, h.policy.Backoff(i)); serr != nil {
			return fmt.Errorf("%w (gave up retrying after %d attempts; last error: %w)", serr, i, err)
		}
	}
}
