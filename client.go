package redisclient

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// NoExpiry, passed as a TTL, stores a key without expiry. As
// Options.DefaultTTL it makes writes with ttl 0 never expire.
const NoExpiry time.Duration = -1

// Client is a namespaced view of a pooled go-redis client. It is safe for
// concurrent use. Views made with Namespace, WithSerializer and WithDefaultTTL
// share one pool, breaker, stats and set of subscriptions.
type Client struct {
	shared     *shared
	err        error // construction or view error returned by every call
	ns         string
	prefix     string // ns + sep, precomputed so a key costs one allocation
	sep        string
	ser        Serializer
	defaultTTL time.Duration
	stats      *cacheCounters // this namespace's, in shared.stats
}

// shared is the state every view of one pool has in common.
type shared struct {
	rdb       redis.UniversalClient
	opts      Options
	deploy    deployment
	log       *slog.Logger
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	flight    singleflight.Group
	stats     namespaceStats
	retries   retryCounters
	tel       *telemetry
	loads     *loadTracker
	breaker   *breaker      // standalone and Sentinel: one for every call
	nodes     *nodeBreakers // cluster: one breaker per node
	topo      *topology     // cluster: re-reads the slot map after failures
	subs      subscriptions
	consumers consumers
	local     *localCache // nil: near cache off
	tracking  *tracking
}

// New validates opts and returns a Client. It does not touch the network:
// connections are made on first use, so New returns at once even when Redis
// is down. Invalid options give an error wrapping ErrInvalidOptions that names
// the field.
func New(opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d, _ := o.deployment()
	sh := &shared{opts: o, deploy: d, log: o.Logger, loads: newLoadTracker()}
	if sh.log == nil {
		sh.log = slog.New(slog.DiscardHandler)
	}
	if tlsInsecure(&o) {
		sh.log.Warn("redisclient: " + insecureWarning)
	}
	sh.rdb = redis.NewUniversalClient(o.universal())
	if cc, ok := sh.rdb.(*redis.ClusterClient); ok {
		// A breaker per node, so a dead master fails only its slots.
		sh.nodes = newNodeBreakers(o.Breaker)
		sh.topo = &topology{cc: cc}
		cc.OnNewNode(func(node *redis.Client) { node.AddHook(newNodeHook(node, sh.nodes, sh.topo)) })
	} else {
		sh.breaker = newBreaker(o.Breaker, sh.rdb)
	}
	sh.rdb.AddHook(closedHook{sh}) // outermost: failures that Close caused read as ErrClosed
	sh.rdb.AddHook(newResilienceHook(o.Retry, sh.breaker, &sh.retries))
	sh.rdb.AddHook(newSizeGuard(sh.rdb)) // inside: its ErrTooLarge ends the retries
	if sh.nodes != nil {
		// Innermost: the hooks above see the node errors go-redis's
		// redirect loop was not to see.
		sh.rdb.AddHook(unhideHook{})
	}
	sh.tel = newTelemetry(sh)
	startLocalCache(sh)
	return &Client{
		shared:     sh,
		ns:         o.Namespace,
		prefix:     o.Namespace + o.Separator,
		sep:        o.Separator,
		ser:        o.Serializer,
		defaultTTL: o.DefaultTTL,
		stats:      sh.stats.get(o.Namespace),
	}, nil
}

// errView returns a view on which every call fails with err.
func (c *Client) errView(err error) *Client {
	v := *c
	v.err = err
	return &v
}

func errClient(err error) *Client {
	return &Client{shared: &shared{}, err: err}
}

var (
	defaultMu     sync.Mutex
	defaultClient atomic.Pointer[Client]
	// newDefaultClient builds the singleton; tests replace it.
	newDefaultClient = func() (*Client, error) {
		opts, err := OptionsFromEnv()
		if err != nil {
			return nil, err
		}
		return New(opts)
	}
)

// GetClient returns the process-wide Client, built on first use from
// OptionsFromEnv. It never returns nil: when construction failed, every call
// on the returned Client returns that error (see Default to check it once at
// start-up).
func GetClient() *Client {
	c, _ := Default()
	return c
}

// Default returns the same singleton as GetClient together with its
// construction error, if any. The constructor runs once, however many
// goroutines ask first.
func Default() (*Client, error) {
	if c := defaultClient.Load(); c != nil {
		return c, c.err
	}
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if c := defaultClient.Load(); c != nil {
		return c, c.err
	}
	c, err := newDefaultClient()
	if err != nil {
		c = errClient(fmt.Errorf("redisclient: default client: %w", err))
	}
	defaultClient.Store(c)
	return c, c.err
}

// SetDefault makes c the singleton returned by GetClient and Default, for
// wiring at application start and in tests. A nil c resets it, so the next
// GetClient builds one from the environment again. The previous client is
// not closed.
func SetDefault(c *Client) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	defaultClient.Store(c)
}

// Close closes the subscriptions, the stream consumers and the connection
// pool shared by every view of this client. It is idempotent; calls made
// after it, and calls it overtakes, fail with an error wrapping ErrClosed.
//
// Running GetOrSet loads get their context cancelled; Close waits for them
// up to Options.CloseTimeout (and for subscription handlers up to their
// CloseTimeout, at the same time). A load that ignores its context and
// outlasts the timeout is abandoned: its callers get ErrClosed, its result
// is not cached, its goroutine ends when it returns, and Close returns an
// error wrapping context.DeadlineExceeded.
func (c *Client) Close() error {
	if c.err != nil && c.shared.rdb == nil {
		return nil
	}
	sh := c.shared
	sh.closeOnce.Do(func() {
		sh.closed.Store(true)
		var loadsErr error
		var wg sync.WaitGroup
		wg.Go(func() { loadsErr = opErr("close", "", sh.loads.close(sh.opts.CloseTimeout)) })
		sh.subs.closeAll()
		sh.consumers.closeAll()
		wg.Wait()
		closeLocalCache(sh)
		sh.closeErr = errors.Join(loadsErr, sh.rdb.Close())
		sh.breaker.close()
		sh.nodes.close()
		sh.tel.close()
	})
	return sh.closeErr
}

// Redis returns the underlying go-redis client, for hooks, raw commands and
// anything this package does not wrap (redisotel is installed already when
// Options or the otel globals give a provider). Keys used through it are not
// namespaced. It is nil when the client could not be constructed.
func (c *Client) Redis() redis.UniversalClient { return c.shared.rdb }

// Err returns the construction or view error every call on c returns, or nil.
func (c *Client) Err() error { return c.err }

// expiry turns a caller's TTL into what is sent to Redis: 0 means the view's
// default, NoExpiry means none.
func (c *Client) expiry(ttl time.Duration) (time.Duration, error) {
	if ttl == 0 {
		ttl = c.defaultTTL
	}
	switch {
	case ttl == NoExpiry:
		return 0, nil
	case ttl < time.Millisecond:
		return 0, fmt.Errorf("ttl %v: must be at least 1ms, 0 for the default, or NoExpiry", ttl)
	}
	if j := c.shared.opts.TTLJitter; j > 0 {
		ttl -= time.Duration(rand.Float64() * j * float64(ttl))
		ttl = max(ttl, time.Millisecond)
	}
	return ttl, nil
}

func (c *Client) isCluster() bool { return c.shared.deploy == cluster }

// Set stores value under key with the given TTL: 0 means the default TTL,
// NoExpiry none. Strings and byte slices are stored as they are, numbers
// (named types too) as decimal text, other values through the serializer
// (see "Values on the wire" in the README). A value nested deeper than 1000
// levels, or cyclic, is ErrValueTooComplex and nil, channels and functions
// are ErrUnsupportedType, before anything is written.
func (c *Client) Set(ctx context.Context, key string, value any, ttl time.Duration) error {
	k, err := c.key("set", key)
	if err != nil {
		return err
	}
	return c.setFull(ctx, "set", k, value, ttl)
}

// setFull is Set on a full, validated key.
func (c *Client) setFull(ctx context.Context, op, k string, value any, ttl time.Duration) error {
	v, err := encodeValue(c.ser, value)
	if err != nil {
		return opErr(op, k, err)
	}
	return c.write(ctx, op, k, v, ttl)
}

// write stores a value encoded by encodeValue under a full key.
func (c *Client) write(ctx context.Context, op, k string, enc any, ttl time.Duration) error {
	exp, err := c.expiry(ttl)
	if err != nil {
		return opErr(op, k, err)
	}
	return opErr(op, k, c.shared.rdb.Set(ctx, k, enc, exp).Err())
}

// SetNX stores value only if key does not exist yet, and reports whether it
// did. TTL as for Set.
func (c *Client) SetNX(ctx context.Context, key string, value any, ttl time.Duration) (bool, error) {
	k, err := c.key("setnx", key)
	if err != nil {
		return false, err
	}
	exp, err := c.expiry(ttl)
	if err != nil {
		return false, opErr("setnx", k, err)
	}
	v, err := encodeValue(c.ser, value)
	if err != nil {
		return false, opErr("setnx", k, err)
	}
	ok, err := c.shared.rdb.SetNX(ctx, k, v, exp).Result()
	return ok, opErr("setnx", k, err)
}

// Get decodes the value of key into dest, which must be a non-nil pointer
// (else ErrUnsupportedType). A missing key is ErrNotFound. *string and
// *[]byte receive the raw bytes; a Python pickle is ErrUnsupportedFormat; a
// value beyond the decode limits is ErrValueTooComplex; a corrupt value is a
// decode error naming the key.
func (c *Client) Get(ctx context.Context, key string, dest any) error {
	if c.shared.local != nil && c.localGet(key, dest) {
		return nil
	}
	k, err := c.key("get", key)
	if err != nil {
		return err
	}
	return c.getFull(ctx, "get", k, dest)
}

// getFull is Get on a full, validated key.
func (c *Client) getFull(ctx context.Context, op, k string, dest any) error {
	if lc := c.shared.local; lc != nil {
		return c.getFullLocal(ctx, lc, op, k, dest)
	}
	v, err := c.shared.rdb.Get(ctx, k).Result()
	if err != nil {
		return opErr(op, k, notFound(err))
	}
	return opErr(op, k, decodeString(c.ser, v, dest))
}

// notFound turns go-redis's nil reply into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	return err
}

// Delete removes keys and returns how many existed. On a cluster, where
// keys of different slots are deleted one per command, keys that could not be
// deleted make the error a *BatchError naming them; the count covers the
// others.
func (c *Client) Delete(ctx context.Context, keys ...string) (int64, error) {
	full, err := c.keys("delete", keys)
	if err != nil || len(full) == 0 {
		return 0, err
	}
	return c.perKey(ctx, "delete", keys, full, func(p redis.Cmdable, ks ...string) *redis.IntCmd { return p.Del(ctx, ks...) })
}

// Exists returns how many of keys exist. On a cluster, keys that could not be
// checked make the error a *BatchError naming them, as for Delete.
func (c *Client) Exists(ctx context.Context, keys ...string) (int64, error) {
	full, err := c.keys("exists", keys)
	if err != nil || len(full) == 0 {
		return 0, err
	}
	return c.perKey(ctx, "exists", keys, full, func(p redis.Cmdable, ks ...string) *redis.IntCmd { return p.Exists(ctx, ks...) })
}

// perKey runs a multi-key integer command. On a cluster the keys may live in
// different slots, so it pipelines one command per key, sums the replies that
// came back and reports the keys whose command failed in a *BatchError.
func (c *Client) perKey(ctx context.Context, op string, keys, full []string, cmd func(redis.Cmdable, ...string) *redis.IntCmd) (int64, error) {
	if !c.isCluster() || len(full) == 1 {
		n, err := cmd(c.shared.rdb, full...).Result()
		return n, opErr(op, keyList(full), err)
	}
	cmds := make([]*redis.IntCmd, len(full))
	_, _ = c.shared.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range full {
			cmds[i] = cmd(p, k)
		}
		return nil
	})
	var n int64
	var b batch
	for i, r := range cmds {
		v, err := r.Result()
		if err != nil {
			b.fail(keys[i], err)
			continue
		}
		n += v
		b.done(keys[i])
	}
	return n, b.err(op, full)
}

func keyList(full []string) string {
	if len(full) == 1 {
		return full[0]
	}
	return fmt.Sprintf("%s (and %d more)", full[0], len(full)-1)
}

// Expire sets the TTL of an existing key (0 means the default TTL, NoExpiry
// removes the expiry) and reports whether the key exists.
func (c *Client) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	k, err := c.key("expire", key)
	if err != nil {
		return false, err
	}
	exp, err := c.expiry(ttl)
	if err != nil {
		return false, opErr("expire", k, err)
	}
	var ok bool
	if exp == 0 {
		ok, err = c.shared.rdb.Persist(ctx, k).Result()
		if err == nil && !ok {
			var n int64
			n, err = c.shared.rdb.Exists(ctx, k).Result()
			ok = n == 1
		}
	} else {
		ok, err = c.shared.rdb.PExpire(ctx, k, exp).Result()
	}
	return ok, opErr("expire", k, err)
}

// TTL returns the remaining time to live of key: NoExpiry for a key without
// expiry, ErrNotFound for a missing key.
func (c *Client) TTL(ctx context.Context, key string) (time.Duration, error) {
	k, err := c.key("ttl", key)
	if err != nil {
		return 0, err
	}
	d, err := c.shared.rdb.PTTL(ctx, k).Result()
	if err != nil {
		return 0, opErr("ttl", k, err)
	}
	switch d {
	case -2, -2 * time.Millisecond:
		return 0, opErr("ttl", k, ErrNotFound)
	case -1, -1 * time.Millisecond:
		return NoExpiry, nil
	}
	return d, nil
}

// Incr adds by to the integer at key (missing keys count as 0) and returns
// the new value. It is never retried once it may have reached the server.
func (c *Client) Incr(ctx context.Context, key string, by int64) (int64, error) {
	k, err := c.key("incr", key)
	if err != nil {
		return 0, err
	}
	n, err := c.shared.rdb.IncrBy(ctx, k, by).Result()
	return n, opErr("incr", k, err)
}

// Decr subtracts by from the integer at key and returns the new value.
func (c *Client) Decr(ctx context.Context, key string, by int64) (int64, error) {
	k, err := c.key("decr", key)
	if err != nil {
		return 0, err
	}
	n, err := c.shared.rdb.DecrBy(ctx, k, by).Result()
	return n, opErr("decr", k, err)
}

// MGet fetches keys in one round trip (one pipeline per node on a cluster)
// and returns the values found, by key; missing keys are absent from the map.
// A key that could not be read is never reported absent: when Redis could not
// be asked for some keys (a cluster node down, its breaker open) or a value
// fails to decode, the map holds the keys that were read and the error is a
// *BatchError whose Failed names the others, and Done the keys read (found or
// missing). When no key could be read for one reason (Redis down), the error
// is the call's *Error, as for Get. Invalid keys and a closed client fail the
// whole call.
func MGet[T any](ctx context.Context, c *Client, keys ...string) (map[string]T, error) {
	full, err := c.keys("mget", keys)
	if err != nil {
		return nil, err
	}
	cached, hit, toks := localPeek[T](c, full)
	raw := c.mgetLocal(ctx, full, hit)
	out := make(map[string]T, len(raw))
	var b batch
	for i, r := range raw {
		switch {
		case hit != nil && hit[i]:
			out[keys[i]] = cached[i]
			b.done(keys[i])
			continue
		case r.err != nil:
			b.fail(keys[i], r.err)
			continue
		case !r.ok:
			b.done(keys[i])
			continue
		}
		var v T
		if err := decodeString(c.ser, r.s, &v); err != nil {
			b.fail(keys[i], opErr("mget", c.prefix+keys[i], err))
			continue
		}
		out[keys[i]] = v
		if toks != nil {
			localFill(c, full[i], toks[i], v)
		}
		b.done(keys[i])
	}
	return out, b.err("mget", full)
}

// rawValue is one reply of a batch read: the value, ok false for a miss, or
// the error that kept the key from being read.
type rawValue struct {
	s   string
	ok  bool
	err error
}

// mgetFull reads the raw value of each full key in order: MGET on a single server, a pipeline of GETs
// on a cluster, whose keys may live in different slots. Each key gets its
// own outcome; a pipeline's error says only which command failed first (a
// miss, perhaps), so each command's own error is read.
func (c *Client) mgetFull(ctx context.Context, full []string) []rawValue {
	out := make([]rawValue, len(full))
	if len(full) == 0 {
		return out
	}
	if !c.isCluster() {
		vals, err := c.shared.rdb.MGet(ctx, full...).Result()
		for i := range out {
			if err != nil {
				out[i].err = err
				continue
			}
			out[i].s, out[i].ok = vals[i].(string)
		}
		return out
	}
	cmds := make([]*redis.StringCmd, len(full))
	_, _ = c.shared.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range full {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	for i, cmd := range cmds {
		v, err := cmd.Result()
		switch {
		case err == nil:
			out[i] = rawValue{s: v, ok: true}
		case err != redis.Nil:
			out[i].err = err
		}
	}
	return out
}

// MSet stores every value in one pipelined round trip, each with the given
// TTL (as for Set). It works across cluster slots.
//
// A batch is not atomic: when some writes fail, the others still happen.
// The error is then a *BatchError listing the keys written (Done) and the
// keys that failed with their cause (Failed); a failed key was not written,
// or, when the connection broke after it was sent, may have been. When every
// key failed for one reason (Redis down) the error is the call's plain
// *Error, as for Set. An invalid key or value fails the whole call before
// anything is sent. Use MSetAtomic for all or nothing.
func (c *Client) MSet(ctx context.Context, values map[string]any, ttl time.Duration) error {
	if err := c.usable("mset", c.ns); err != nil {
		return err
	}
	return c.setMany(ctx, "mset", values, ttl, func(key string) (string, error) { return c.key("mset", key) })
}

// setMany encodes values and writes them under the full keys fullKey gives,
// in one pipeline of SETs, so the keys may live in different cluster slots.
// Each key gets its own expiry, as jitter may differ. Partial failure is a
// *BatchError keyed by the caller's keys, as for the batch reads.
func (c *Client) setMany(ctx context.Context, op string, values map[string]any, ttl time.Duration,
	fullKey func(string) (string, error)) error {
	if len(values) == 0 {
		return nil
	}
	enc, err := c.encodeBatch(op, values, ttl, fullKey)
	if err != nil {
		return err
	}
	cmds := make([]*redis.StatusCmd, len(enc.full))
	_, err = c.shared.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range enc.full {
			exp, _ := c.expiry(ttl)
			cmds[i] = p.Set(ctx, k, enc.vals[i], exp)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	var b batch
	for i, cmd := range cmds {
		if cerr := cmd.Err(); cerr != nil {
			b.fail(enc.keys[i], asClosed(cerr))
		} else {
			b.done(enc.keys[i])
		}
	}
	if berr := b.err(op, enc.full); berr != nil {
		return berr
	}
	return opErr(op, enc.where, err) // the pipeline failed, yet no command says why
}

// encodedBatch is a validated, encoded batch of writes.
type encodedBatch struct {
	keys  []string // the caller's keys
	full  []string // the Redis keys
	vals  []any    // encoded values
	where string   // names the batch in errors
}

func (c *Client) encodeBatch(op string, values map[string]any, ttl time.Duration,
	fullKey func(string) (string, error)) (encodedBatch, error) {
	b := encodedBatch{
		keys: make([]string, 0, len(values)),
		full: make([]string, 0, len(values)),
		vals: make([]any, 0, len(values)),
	}
	for _, key := range slices.Sorted(maps.Keys(values)) { // sorted: Done and errors come out in a stable order
		value := values[key]
		k, err := fullKey(key)
		if err != nil {
			return b, err
		}
		v, err := encodeValue(c.ser, value)
		if err != nil {
			return b, opErr(op, k, err)
		}
		b.keys = append(b.keys, key)
		b.full = append(b.full, k)
		b.vals = append(b.vals, v)
	}
	b.where = fmt.Sprintf("%s (%d keys)", b.full[0], len(b.full))
	if _, err := c.expiry(ttl); err != nil {
		return b, opErr(op, b.where, err)
	}
	return b, nil
}

// MSetAtomic stores every value, each with the given TTL (as for Set), in
// one MULTI/EXEC transaction: all of them or, on error, none. On Redis
// Cluster the keys must share one hash slot (see HashTag); keys in different
// slots fail with an error wrapping ErrCrossSlot before anything is sent.
// When the connection breaks after EXEC was sent, the outcome is unknown and
// the error says so. It is never retried once it may have reached Redis.
func (c *Client) MSetAtomic(ctx context.Context, values map[string]any, ttl time.Duration) error {
	const op = "mset atomic"
	if err := c.usable(op, c.ns); err != nil || len(values) == 0 {
		return err
	}
	batch, err := c.encodeBatch(op, values, ttl, func(key string) (string, error) { return c.key(op, key) })
	if err != nil {
		return err
	}
	if c.isCluster() {
		slot := KeySlot(batch.full[0])
		for _, k := range batch.full[1:] {
			if s := KeySlot(k); s != slot {
				return opErr(op, batch.where, fmt.Errorf("%w: %s is in slot %d, %s in slot %d; give the keys one hash tag (HashTag)",
					ErrCrossSlot, batch.full[0], slot, k, s))
			}
		}
	}
	_, err = c.shared.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range batch.full {
			exp, _ := c.expiry(ttl)
			p.Set(ctx, k, batch.vals[i], exp)
		}
		return nil
	})
	return opErr(op, batch.where, err)
}

// scanBatch is the COUNT hint of SCAN and the size of an UNLINK pipeline.
const scanBatch = 500

// scanAll calls fn with each batch of full keys matching pattern, on every
// master of a cluster, one master after the other. A master that fails does
// not stop the others; their failures come back in a *ClusterError. fn runs
// on the caller's goroutine (Scan yields from it); when it returns
// errStopScan, scanning ends there.
func (c *Client) scanAll(ctx context.Context, pattern string, fn func(node redis.Cmdable, keys []string) error) error {
	scanNode := func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, scanBatch).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := fn(node, keys); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := c.shared.rdb.(*redis.ClusterClient); ok {
		return eachMaster(ctx, cc, false, func(ctx context.Context, node *redis.Client) error { return scanNode(ctx, node) })
	}
	return scanNode(ctx, c.shared.rdb)
}

var errStopScan = errors.New("scan stopped")

// Scan iterates over the keys of this namespace that match the glob pattern
// match ("" or "*" for all), yielding them without the namespace prefix. It
// uses SCAN, never KEYS, and covers every master of a cluster. A key may be
// yielded twice if it is written during the scan, as SCAN guarantees. An
// error is yielded last: on a cluster, a *ClusterError (wrapped in an *Error)
// naming the masters that could not be scanned, after the keys of all the
// others.
func (c *Client) Scan(ctx context.Context, match string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := c.usable("scan", c.ns); err != nil {
			yield("", err)
			return
		}
		if match == "" {
			match = "*"
		}
		pattern := escapeGlob(c.prefix) + match
		err := c.scanAll(ctx, pattern, func(_ redis.Cmdable, keys []string) error {
			for _, k := range keys {
				if !yield(c.strip(k), nil) {
					return errStopScan
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			yield("", opErr("scan", pattern, err))
		}
	}
}

// FlushNamespace removes every key under this namespace, including child
// namespaces, and returns how many it removed. It uses SCAN and UNLINK in
// batches (never KEYS or FLUSHDB), with glob characters in the namespace
// escaped so it cannot touch another namespace. On a cluster it visits every
// master, even when some fail: their failures come back as a *ClusterError
// (wrapped in an *Error) and the count covers what was removed.
func (c *Client) FlushNamespace(ctx context.Context) (int64, error) {
	if err := c.usable("flush namespace", c.ns); err != nil {
		return 0, err
	}
	pattern := escapeGlob(c.prefix) + "*"
	n, err := c.unlinkMatching(ctx, pattern)
	return n, opErr("flush namespace", pattern, err)
}
