package redisclient

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

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
	if re, ok := errors.AsType[redis.Error](err); ok {
		return re.Error(), true
	}
	return "", false
}

// replyCode returns the error code of a server error reply wrapped in err,
// its first word ("NOGROUP", "WRONGTYPE", ...), or "" when err holds none.
func replyCode(err error) string {
	msg, ok := replyError(err)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(msg, " ")
	return code
}

// isReply reports whether err is a reply from the server (including a miss).
func isReply(err error) bool {
	_, ok := replyError(err)
	return ok
}

// transientReplies are the server replies that reject a command without
// running it and may go away: a replica loading or promoted, a cluster
// resharding or failing over, a server at its client limit. Each has the
// reason its retries are counted under (metric redisclient.retries).
var transientReplies = []struct {
	prefix string
	reason retryReason
}{
	{"LOADING ", retryLoading},
	{"READONLY ", retryReadonly},
	{"TRYAGAIN ", retryTryAgain},
	{"MASTERDOWN ", retryMasterDown},
	{"CLUSTERDOWN ", retryClusterDown},
	{"NOREPLICAS ", retryNoReplicas},
	{"ERR max number of clients reached", retryMaxClients},
}

// transientReason returns the retry reason of the transient reply msg, or
// false when msg is not one.
func transientReason(msg string) (retryReason, bool) {
	for _, t := range transientReplies {
		if strings.HasPrefix(msg, t.prefix) {
			return t.reason, true
		}
	}
	return retryOther, false
}

func transientReply(msg string) bool {
	_, ok := transientReason(msg)
	return ok
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
	if ne, ok := errors.AsType[net.Error](err); ok && ne != context.DeadlineExceeded {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// neverSent reports whether err proves the command never reached a server:
// the connection could not be made or no pooled connection was free.
func neverSent(err error) bool {
	if _, ok := errors.AsType[*dialError](err); ok {
		return true
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "dial" {
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
	ne, ok := errors.AsType[net.Error](e.err)
	return ok && ne.Timeout()
}

func (e *dialError) Temporary() bool { return true }

// markDialErrors wraps the errors of next in a dialError, for the hooks
// that retry and count (the client's, and each cluster node's).
func markDialErrors(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cn, err := next(ctx, network, addr)
		if err != nil {
			return nil, &dialError{err: err}
		}
		return cn, nil
	}
}
