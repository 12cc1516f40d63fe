package redisclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

type bypassKey struct{}

// bypass marks ctx so the client's hooks let its commands through untouched:
// no breaker check, no counting, no retry. Probes and health checks use it
// to see Redis as it is.
func bypass(ctx context.Context) context.Context {
	return context.WithValue(ctx, bypassKey{}, true)
}

func isBypass(ctx context.Context) bool { return ctx.Value(bypassKey{}) != nil }

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
func (h *resilienceHook) DialHook(next redis.DialHook) redis.DialHook { return markDialErrors(next) }

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
		if bf, ok := err.(*batchFailure); ok {
			err = bf.err // its batch counted it once for all its commands
		} else {
			h.breaker.record(ctx, err)
		}
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
