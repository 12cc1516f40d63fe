package redisclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// CacheStats counts what GetOrSet and the prediction cache-aside helpers did.
// The counters only grow; take two snapshots to get a rate.
type CacheStats struct {
	Hits        uint64 // values served from Redis
	Misses      uint64 // keys not in Redis (or unreadable), so loaded
	Loads       uint64 // calls of a load function (shared calls count once)
	LoadErrors  uint64 // load calls that returned an error or panicked
	RedisErrors uint64 // Redis reads or writes that failed and were bypassed

	// Near cache (Options.LocalCache), over every read it serves (Get,
	// MGet, GetOrSet and the prediction reads), for the whole client.
	LocalHits          uint64 // reads served in process
	LocalMisses        uint64 // reads that went to Redis (also while tracking is down)
	LocalInvalidations uint64 // keys dropped by Redis's invalidations or this client's writes
	LocalFlushes       uint64 // whole-cache flushes: FLUSHDB/FLUSHALL, tracking lost or back
	LocalEvictions     uint64 // values dropped to stay within MaxEntries and MaxBytes
}

type cacheCounters struct {
	hits, misses, loads, loadErrors, redisErrors atomic.Uint64
}

// CacheStats returns a snapshot of the cache-aside counters shared by every
// view of this client.
func (c *Client) CacheStats() CacheStats {
	s := c.shared.stats.total()
	c.shared.local.addStats(&s)
	return s
}

// GetOrSet returns the value cached under key, or calls load, caches its
// result with ttl (0 = default TTL, NoExpiry = none) and returns it.
//
// Concurrent callers in this process asking for the same key share one call
// of load. The shared load runs detached from any single caller: a caller
// whose ctx ends gets ctx's error at once while the others keep waiting for
// the result. load receives a context that carries the first caller's values
// but not its cancellation; it is cancelled when the client is closed, and
// load should bound its own run time. A panic in load becomes an error for
// every waiter. Errors are never cached.
//
// GetOrSet fails open: when Redis cannot be read or written it still returns
// the loaded value, and counts the failure in CacheStats.RedisErrors (and logs
// it to Options.Logger). A cached value that cannot be decoded into T is
// treated as a miss and overwritten. A loaded value that cannot be stored at
// all (a cycle, a channel) is an error.
//
// Waiters of one load each receive their own copy, decoded from the encoded
// value, so they share no maps or slices; the caller whose load ran gets
// the loaded value itself.
func GetOrSet[T any](ctx context.Context, c *Client, key string, ttl time.Duration,
	load func(context.Context) (T, error)) (T, error) {
	k, err := c.key("getorset", key)
	if err != nil {
		var zero T
		return zero, err
	}
	return getOrSet(ctx, c, "getorset", k, ttl, load)
}

// getOrSet is GetOrSet on a full, validated key.
func getOrSet[T any](ctx context.Context, c *Client, op, k string, ttl time.Duration,
	load func(context.Context) (T, error)) (_ T, err error) {
	ctx, span := c.traceGetOrSet(ctx, op, k)
	defer func() { span.end(err) }()
	var zero T
	if _, err := c.expiry(ttl); err != nil {
		return zero, opErr(op, k, err)
	}
	sh := c.shared
	if v, ok := localGetT[T](c, k); ok {
		return v, nil
	}
	tok := c.localBegin(k)
	s, err := sh.rdb.Get(ctx, k).Result()
	switch {
	case err == nil:
		var v T
		derr := decodeString(c.ser, s, &v)
		if derr == nil {
			c.note(ctx, cacheHit)
			localFill(c, k, tok, v, len(s))
			return v, nil
		}
		c.note(ctx, cacheMiss)
		sh.log.WarnContext(ctx, "redisclient: cached value unreadable, reloading", "key", k, "error", derr)
	case errors.Is(err, redis.Nil):
		c.note(ctx, cacheMiss)
	case ctx.Err() != nil:
		return zero, opErr(op, k, ctx.Err())
	default:
		c.note(ctx, cacheReadError)
		sh.log.WarnContext(ctx, "redisclient: cache read failed, loading without cache", "key", k, "error", err)
	}

	// The flight carries the encoded value, never a typed one: callers of
	// any type (two packages may both name theirs m.P) share it, and each
	// decodes a copy of its own. The caller whose flight ran keeps the
	// value it loaded or already decoded.
	var own T
	var haveOwn bool
	ch := sh.flight.DoChan(k, func() (any, error) {
		// A caller that missed just after another flight stored the value
		// must not load again: look once more inside the flight.
		if s, err := sh.rdb.Get(ctx, k).Result(); err == nil {
			var v T
			if decodeString(c.ser, s, &v) == nil {
				own, haveOwn = v, true
				return s, nil
			}
		}
		v, enc, err := loadAndStore(ctx, c, k, ttl, load)
		own, haveOwn = v, err == nil
		return enc, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, opErr(op, k, r.Err)
		}
		if haveOwn {
			return own, nil
		}
		var v T
		if err := decodeString(c.ser, r.Val.(string), &v); err != nil {
			return zero, opErr(op, k, err)
		}
		return v, nil
	case <-ctx.Done():
		return zero, opErr(op, k, ctx.Err())
	case <-sh.loads.abandoned:
		return zero, opErr(op, k, ErrClosed)
	}
}

// loadAndStore runs one shared load, encodes its result and writes it. It
// runs on singleflight's goroutine; Close cancels its context and waits for
// it. A value that cannot be encoded is an error for every waiter; a failed
// write is not (fail-open).
func loadAndStore[T any](callerCtx context.Context, c *Client, k string, ttl time.Duration,
	load func(context.Context) (T, error)) (T, string, error) {
	var zero T
	sh := c.shared
	if !sh.loads.begin() {
		return zero, "", ErrClosed
	}
	defer sh.loads.end()
	ctx, cancel := context.WithCancel(context.WithoutCancel(callerCtx))
	defer cancel()
	stop := context.AfterFunc(sh.loads.ctx, cancel)
	defer stop()

	c.note(ctx, cacheLoad)
	v, err := tracedLoad(ctx, c, load)
	if err != nil {
		c.note(ctx, cacheLoadError)
		if sh.loads.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = &closedError{cause: err} // Close cancelled it
		}
		return zero, "", err
	}
	enc, err := encodeValue(c.ser, v)
	if err != nil {
		return zero, "", err
	}
	if err := c.write(ctx, "getorset", k, enc, ttl); err != nil {
		c.note(ctx, cacheWriteError)
		sh.log.WarnContext(ctx, "redisclient: cache write failed, returning the loaded value", "key", k, "error", err)
	}
	if b, ok := enc.([]byte); ok {
		return v, string(b), nil
	}
	return v, enc.(string), nil
}

// callLoad calls load, turning a panic into an error.
func callLoad[T any](ctx context.Context, load func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("load panicked: %v", r)
		}
	}()
	return load(ctx)
}

// loadTracker lets Close cancel and wait for detached loads, so none outlives
// the client unless it ignores its context past Options.CloseTimeout.
type loadTracker struct {
	ctx       context.Context
	cancel    context.CancelFunc
	abandoned chan struct{} // closed when Close stops waiting for loads
	mu        sync.Mutex
	closed    bool
	wg        sync.WaitGroup
}

func newLoadTracker() *loadTracker {
	ctx, cancel := context.WithCancel(context.Background())
	return &loadTracker{ctx: ctx, cancel: cancel, abandoned: make(chan struct{})}
}

func (t *loadTracker) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *loadTracker) end() { t.wg.Done() }

// close cancels running loads and waits up to timeout for them to return.
// A load that outlasts it is abandoned: its callers get ErrClosed at once,
// and its goroutine ends when the load returns; the value it returns is
// not cached, as the pool is closed by then. close then returns an error
// wrapping context.DeadlineExceeded.
func (t *loadTracker) close(timeout time.Duration) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		close(t.abandoned)
		return fmt.Errorf("%w: a GetOrSet load is still running %v after it was cancelled", context.DeadlineExceeded, timeout)
	}
}
