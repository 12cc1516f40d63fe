package redisclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
	subs      registry[*Subscription]
	pubsub    pubsubHub // the connections subscriptions share
	consumers registry[*Consumer]
	local     *localCache // nil: near cache off
	tracking  *tracking
	pipe      *autoPipeliner // nil: auto-pipelining off
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
	if !o.DisableAutoPipeline {
		sh.pipe = newAutoPipeliner(sh) // inside the retry hook: each attempt of a command
		sh.rdb.AddHook(sh.pipe)
	}
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
		sh.pubsub.close()
		sh.consumers.closeAll()
		wg.Wait()
		closeLocalCache(sh)
		sh.pipe.close() // queued commands fail with ErrClosed
		sh.closeErr = errors.Join(loadsErr, sh.rdb.Close())
		sh.pipe.wait()
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
	// go-redis returns PTTL's -2 (no key) and -1 (no expiry) as they are,
	// not multiplied into milliseconds.
	switch d {
	case -2:
		return 0, opErr("ttl", k, ErrNotFound)
	case -1:
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
