package redisclient

import (
	"context"
	"errors"
	"net"

	"github.com/redis/go-redis/v9"
)

// A call that races Close fails in go-redis's words: "redis: client is
// closed" from the pool, "use of closed network connection" from a socket
// closed under a command, or whatever the retry loop and the breaker made
// of those. Every such failure must satisfy errors.Is(err, ErrClosed).

// closedError is a failure caused by Close. It reads as ErrClosed and
// unwraps to it and to the underlying error.
type closedError struct{ cause error }

func (e *closedError) Error() string   { return ErrClosed.Error() + " (" + e.cause.Error() + ")" }
func (e *closedError) Unwrap() []error { return []error{ErrClosed, e.cause} }

// asClosed marks go-redis's own "closed" errors as ErrClosed. They only
// arise once the pool, or a connection of it, was closed by this process.
func asClosed(err error) error {
	if err == nil || errors.Is(err, ErrClosed) {
		return err
	}
	if errors.Is(err, redis.ErrClosed) || errors.Is(err, net.ErrClosed) {
		return &closedError{cause: err}
	}
	return err
}

// closedHook is the outermost hook: it marks as ErrClosed any failure of a
// call that Close overtook (a connection closed under it, retries that then
// met the closed pool or the breaker). Server replies keep their meaning.
// It lets commands through while Close runs: consumers still acknowledge
// what their handlers finished before the pool closes. Calls made after
// Close fail before reaching it (Client.usable).
type closedHook struct{ sh *shared }

func (h closedHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h closedHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && h.sh.closed.Load() && closedFailure(err) {
			err = &closedError{cause: err}
			cmd.SetErr(err)
		}
		return err
	}
}

func (h closedHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil && h.sh.closed.Load() {
			for _, cmd := range cmds {
				if cerr := cmd.Err(); cerr != nil && closedFailure(cerr) {
					cmd.SetErr(&closedError{cause: cerr})
				}
			}
			if closedFailure(err) {
				err = &closedError{cause: err}
			}
		}
		return err
	}
}

// closedFailure reports whether err, seen once the client is closed, is
// Close's doing rather than an answer from Redis.
func closedFailure(err error) bool {
	return !errors.Is(err, ErrClosed) && err != redis.Nil && !isReply(err)
}
