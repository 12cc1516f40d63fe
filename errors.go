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
	// ErrTooLarge is returned for a command with an argument (a key or a
	// value) above the server's proto-max-bulk-len. It fails alone: it is
	// not retried and does not count against the circuit breaker.
	ErrTooLarge = errors.New("redisclient: request too large")
	// ErrCrossSlot is returned by MSetAtomic on Redis Cluster when its keys
	// live in different hash slots, which one transaction cannot span.
	ErrCrossSlot = errors.New("redisclient: keys in different cluster slots")
	// ErrValueTooComplex is returned, naming the key or channel, for a value
	// nested deeper than 1000 levels (every cyclic value is), refused before
	// anything is written, and for a stored or published value that is that
	// deep or would expand in memory beyond 16 MiB + 16 times its size,
	// refused before it is decoded. See "Values on the wire" in the README.
	ErrValueTooComplex = errors.New("redisclient: value too complex")
	// ErrUnsupportedType is returned, naming the key, for a value or a
	// destination the codec cannot handle: nil, a nil or non-pointer
	// destination, channels, functions, complex numbers, unsafe pointers.
	ErrUnsupportedType = errors.New("redisclient: unsupported type")
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
	return &Error{Op: op, Key: key, Err: asClosed(err)}
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
func (e *BatchError) Unwrap() []error { return distinctErrors(e.Failed) }

// distinctErrors returns the values of m without repeats, in key order.
func distinctErrors(m map[string]error) []error {
	var out []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		err := m[k]
		if !slices.ContainsFunc(out, func(o error) bool { return o == err || o.Error() == err.Error() }) {
			out = append(out, err)
		}
	}
	return out
}

// ClusterError reports a call that runs on every master of a Redis Cluster
// (Scan, FlushNamespace, InvalidateModel, Ping) and could not finish on some
// of them, usually because they were unreachable. A failed master does not
// stop the call: it did its work on the masters in Done, and none or only
// part of it on those in Failed. It unwraps to every distinct cause, so
// errors.Is(err, ErrUnavailable) works, and errors.As(err, &clusterErr) gives
// the masters. Client methods return it wrapped in an *Error naming the
// operation.
type ClusterError struct {
	Done   []string         // addresses of the masters the call finished on, sorted
	Failed map[string]error // master address -> why the call failed there
}

// Error returns "{n} of {total} cluster masters failed (first: {addr}: {cause})".
func (e *ClusterError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d cluster masters failed", len(e.Failed), len(e.Failed)+len(e.Done))
	if addrs := slices.Sorted(maps.Keys(e.Failed)); len(addrs) > 0 {
		fmt.Fprintf(&b, " (first: %s: %s)", addrs[0], strings.TrimPrefix(e.Failed[addrs[0]].Error(), "redisclient: "))
	}
	return b.String()
}

// Unwrap returns the distinct causes of the failures.
func (e *ClusterError) Unwrap() []error { return distinctErrors(e.Failed) }

// batch collects the per-key outcomes of a batch call.
type batch struct {
	ok     []string
	failed map[string]error
}

func (b *batch) done(key string) { b.ok = append(b.ok, key) }

func (b *batch) fail(key string, err error) {
	if b.failed == nil {
		b.failed = make(map[string]error)
	}
	b.failed[key] = err
}

// err returns nil when no key failed, a *BatchError when some did, and the
// call's plain *Error, naming the full keys, when every key failed for one
// reason (Redis could not be reached at all), as the call on one key would.
func (b *batch) err(op string, full []string) error {
	if len(b.failed) == 0 {
		return nil
	}
	if causes := distinctErrors(b.failed); len(b.ok) == 0 && len(causes) == 1 {
		return opErr(op, keyList(full), causes[0])
	}
	return &BatchError{Op: op, Done: b.ok, Failed: b.failed}
}

// readBatch collects the failures of a batch read. The keys read are all
// the others, so Done is built only when something failed: a batch that
// succeeds costs nothing per key here.
type readBatch struct {
	keys   []string // the caller's keys, in input order
	failed map[string]error
	nfail  int // failed positions; keys may repeat
}

// fail records that keys[i] could not be read.
func (b *readBatch) fail(i int, err error) {
	if b.failed == nil {
		b.failed = make(map[string]error)
	}
	b.failed[b.keys[i]] = err
	b.nfail++
}

// err is batch.err for a read: nil, the call's plain *Error when every key
// failed for one reason, else a *BatchError.
func (b *readBatch) err(op string, full []string) error {
	if b.nfail == 0 {
		return nil
	}
	if causes := distinctErrors(b.failed); b.nfail == len(b.keys) && len(causes) == 1 {
		return opErr(op, keyList(full), causes[0])
	}
	done := make([]string, 0, len(b.keys)-b.nfail)
	for _, k := range b.keys {
		if _, failed := b.failed[k]; !failed {
			done = append(done, k)
		}
	}
	return &BatchError{Op: op, Done: done, Failed: b.failed}
}
