package redisclient

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// go-redis's cluster client follows MOVED and ASK in a loop that would also
// send a command again by itself after a network error (and a pipeline's
// commands after a connection error), whatever the command. This file keeps
// that loop from doing so, so that only the retry hook (retryhook.go), which
// knows what may run twice, repeats a command: single commands' node
// failures are hidden from the loop, and a pipeline's failed commands are
// noted in the attempt so they are not sent again within it.

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

// hiddenError carries an error of a node to the client's retry hook past
// go-redis's cluster loop, which would otherwise send the command again
// (after a network error or an open breaker's fail-fast error, which wraps
// one), to the same node, after its own backoff, and whatever the command:
// an INCR whose reply was lost would run twice. It deliberately has no
// Unwrap, so that loop does not recognise the cause; the retry hook unwraps
// it.
type hiddenError struct{ cause error }

func (e *hiddenError) Error() string { return e.cause.Error() }

// unhideHook is the innermost hook of the cluster client: it turns the
// errors the node hooks hid from go-redis's redirect loop back into their
// causes as soon as the loop returns, so the client's retry and size hooks
// (and errors.Is) see them. Hooks added later through Client.Redis sit
// inside it and see a hidden error, whose message is its cause's.
type unhideHook struct{}

func (unhideHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (unhideHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if he, ok := err.(*hiddenError); ok {
			err = he.cause
			cmd.SetErr(err)
		}
		return err
	}
}

func (unhideHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next // a pipeline's node errors are never hidden
}

// hide returns err as it should reach go-redis's cluster loop: hidden inside
// an attempt of the retry hook, unless it is a server reply (MOVED and ASK
// must reach the loop) or a closed node client, which the loop handles by
// picking the slot's node again.
func hide(ctx context.Context, err error) error {
	if err == nil || attemptOf(ctx) == nil {
		return err
	}
	if ue, ok := err.(*unavailErr); ok && ue.hidden != nil {
		return ue.hidden // failing fast: no allocation, no classification
	}
	if isReply(err) || errors.Is(err, redis.ErrClosed) {
		return err
	}
	return &hiddenError{cause: err}
}
