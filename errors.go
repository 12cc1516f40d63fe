package redisclient

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Sentinel errors. Every error returned by a Client wraps one of these or the
// underlying cause, so callers test them with errors.Is.
var (
	// ErrNotFound is returned when a key, field or list element does not exist.
	ErrNotFound = errors.New("redisclient: not found")
	// ErrClosed is returned by every call on a Client after Close.
	ErrClosed = errors.New("redisclient: client is closed")
	// ErrInvalidKey is returned for an empty key, an empty namespace part or an
	// ambiguous model name or hash.
	ErrInvalidKey = errors.New("redisclient: invalid key")
	// ErrUnsupportedFormat is returned when a stored value cannot be decoded by
	// Go at all, such as a Python pickle.
	ErrUnsupportedFormat = errors.New("redisclient: unsupported value format")
	// ErrUnavailable is returned while the circuit breaker is open: Redis is
	// considered down and calls fail fast instead of waiting on timeouts.
	ErrUnavailable = errors.New("redisclient: redis unavailable")
	// ErrInvalidOptions is wrapped by every configuration error from New and
	// OptionsFromEnv.
	ErrInvalidOptions = errors.New("redisclient: invalid options")
)

// Error describes a failed operation: which command, on which key, and why.
// It unwraps to the cause, so errors.Is(err, ErrNotFound) and errors.Is(err,
// redis.Nil) style checks keep working.
type Error struct {
	Op  string // operation, such as "get" or "hset"
	Key string // the full Redis key (or channel), empty when not applicable
	Err error  // the cause
}

// Error returns "redisclient: {op} {key}: {cause}".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("redisclient: ")
	b.WriteString(e.Op)
	if e.Key != "" {
		b.WriteString(" ")
		b.WriteString(e.Key)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "redisclient: "))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func opErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Key: key, Err: err}
}

// BatchError reports a batch (MSet, MGet, the batch prediction calls) that
// failed for some keys and not for others. Batches are not atomic: the keys in
// Done were written (or read) and the keys in Failed were not. Keys are the
// ones the caller passed (relative keys, or input hashes for predictions).
// It unwraps to every distinct cause, so errors.Is(err, ErrUnavailable) works
// and errors.As(err, &batchErr) gives the per-key detail.
type BatchError struct {
	Op     string           // operation, such as "mset"
	Done   []string         // keys that succeeded, in input order when there is one
	Failed map[string]error // key -> why it failed
}

// Error returns "redisclient: {op}: {n} of {total} keys failed (first: {key}: {cause})".
func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redisclient: %s: %d of %d keys failed", e.Op, len(e.Failed), len(e.Failed)+len(e.Done))
	if k, ok := e.firstFailed(); ok {
		fmt.Fprintf(&b, " (first: %s: %s)", k, strings.TrimPrefix(e.Failed[k].Error(), "redisclient: "))
	}
	return b.String()
}

// firstFailed is the smallest failed key, so the message is deterministic.
func (e *BatchError) firstFailed() (string, bool) {
	keys := slices.Sorted(maps.Keys(e.Failed))
	if len(keys) == 0 {
		return "", false
	}
	return keys[0], true
}

// Unwrap returns the distinct causes of the failures.
func (e *BatchError) Unwrap() []error {
	var out []error
	for _, k := range slices.Sorted(maps.Keys(e.Failed)) {
		err := e.Failed[k]
		if !slices.ContainsFunc(out, func(o error) bool { return o == err || o.Error() == err.Error() }) {
			out = append(out, err)
		}
	}
	return out
}
