package redisclient

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/redis/go-redis/v9"
)

// startLocalCache builds the near cache of sh when Options.LocalCache is
// set: the store, the tracking connections and the hook that applies this
// client's own writes at once.
func startLocalCache(sh *shared) {
	if sh.opts.LocalCache == nil {
		return
	}
	sh.local = newLocalCache(*sh.opts.LocalCache)
	sh.rdb.AddHook(localWriteHook{lc: sh.local, prefix: sh.opts.Namespace + sh.opts.Separator})
	sh.tracking = startTracking(sh.local, sh)
}

// closeLocalCache stops tracking; it runs before the pool closes.
func closeLocalCache(sh *shared) {
	if sh.local == nil {
		return
	}
	sh.tracking.close()
	sh.local.close()
}

// keyBufSize is the longest full key a hot read builds on the stack.
const keyBufSize = 256

// joinKey returns the concatenation of parts, in buf when it fits so the
// lookup does not allocate. The result must not outlive buf.
func joinKey(buf *[keyBufSize]byte, parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > keyBufSize {
		return strings.Join(parts, "")
	}
	at := 0
	for _, p := range parts {
		at += copy(buf[at:], p)
	}
	return unsafe.String(&buf[0], n)
}

// localGet serves Get from the near cache. ok false means: go to Redis
// (a miss, or anything the normal path must report, such as a bad key).
func (c *Client) localGet(key string, dest any) (ok bool) {
	if c.err != nil || key == "" || c.shared.closed.Load() || !fillableDest(dest) {
		return false
	}
	var buf [keyBufSize]byte
	v, ok := c.shared.local.get(joinKey(&buf, c.prefix, key), reflect.TypeOf(dest))
	if !ok {
		return false
	}
	assignLocal(dest, v)
	return true
}

// localGetPrediction serves GetCachedModelPrediction from the near cache,
// with the key built on the stack; ok false as for localGet (predictionKey
// reports bad names).
func (c *Client) localGetPrediction(model, inputHash string, dest any) (ok bool) {
	if c.err != nil || c.shared.closed.Load() || model == "" || inputHash == "" ||
		!separable(model, c.sep) || !separable(inputHash, c.sep) || !fillableDest(dest) {
		return false
	}
	var buf [keyBufSize]byte
	v, ok := c.shared.local.get(joinKey(&buf, c.prefix, "model", c.sep, model, c.sep, inputHash), reflect.TypeOf(dest))
	if !ok {
		return false
	}
	assignLocal(dest, v)
	return true
}

// assignLocal copies a cached value into dest, whose type it was cached
// for. Byte slices come from get already copied; other values share their
// maps, slices and pointers with the cache (read-only).
func assignLocal(dest, v any) {
	switch d := dest.(type) {
	case *string:
		*d = v.(string)
	case *[]byte:
		*d = v.([]byte)
	default:
		reflect.ValueOf(dest).Elem().Set(reflect.ValueOf(v))
	}
}

// getFullLocal is getFull with the near cache on. Its callers (Get,
// GetCachedModelPrediction) have looked in the near cache already: it reads
// from Redis and fills.
func (c *Client) getFullLocal(ctx context.Context, lc *localCache, op, k string, dest any) error {
	typ := reflect.TypeOf(dest)
	if !fillableDest(dest) {
		return opErr(op, k, decodeString(c.ser, "", dest)) // the codec's error for it
	}
	tok := lc.begin(k)
	s, err := c.shared.rdb.Get(ctx, k).Result()
	if err != nil {
		return opErr(op, k, notFound(err))
	}
	if err := decodeString(c.ser, s, dest); err != nil {
		return opErr(op, k, err)
	}
	if tok.ok && typ != nil && typ.Kind() == reflect.Pointer {
		lc.fill(k, typ, tok, reflect.ValueOf(dest).Elem().Interface(), len(s))
	}
	return nil
}

// localPeek looks up full keys of a batch read of T. It returns the cached
// values, which were found, and the fill tokens of the others, or nils when
// the near cache is off.
func localPeek[T any](c *Client, full []string) (vals []T, hit []bool, toks []fillToken) {
	lc := c.shared.local
	if lc == nil {
		return nil, nil, nil
	}
	typ := reflect.TypeFor[*T]()
	vals, hit, toks = make([]T, len(full)), make([]bool, len(full)), make([]fillToken, len(full))
	for i, k := range full {
		if v, ok := lc.get(k, typ); ok {
			vals[i], hit[i] = v.(T), true
			continue
		}
		toks[i] = lc.begin(k)
	}
	return vals, hit, toks
}

// localFill caches a value read from Redis (size: its encoded length).
func localFill[T any](c *Client, k string, tok fillToken, v T, size int) {
	if lc := c.shared.local; lc != nil && tok.ok {
		lc.fill(k, reflect.TypeFor[*T](), tok, any(v), size)
	}
}

// localGetT serves a generic read (GetOrSet) from the near cache.
func localGetT[T any](c *Client, k string) (T, bool) {
	var zero T
	lc := c.shared.local
	if lc == nil {
		return zero, false
	}
	v, ok := lc.get(k, reflect.TypeFor[*T]())
	if !ok {
		return zero, false
	}
	return v.(T), true
}

// localBegin is lc.begin, or nothing when the near cache is off.
func (c *Client) localBegin(k string) fillToken {
	if lc := c.shared.local; lc != nil {
		return lc.begin(k)
	}
	return fillToken{}
}

// localWriteHook drops the local copy of every key a command of this client
// may write, as soon as the command returns: read-your-writes without
// waiting for the server's invalidation. Any argument under the namespace
// prefix counts as a key; a value that happens to look like one only costs
// a miss.
type localWriteHook struct {
	lc     *localCache
	prefix string
}

func (h localWriteHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h localWriteHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.apply(cmd)
		return err
	}
}

func (h localWriteHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.apply(cmd)
		}
		return err
	}
}

// readOnlyCommands never change a key.
var readOnlyCommands = map[string]bool{
	"get": true, "mget": true, "exists": true, "ttl": true, "pttl": true, "type": true, "strlen": true,
	"scan": true, "ping": true, "echo": true, "info": true, "dbsize": true, "publish": true, "spublish": true,
	"hget": true, "hmget": true, "hgetall": true, "hlen": true, "hexists": true, "hkeys": true, "hvals": true, "hscan": true,
	"lrange": true, "llen": true, "lindex": true, "smembers": true, "sismember": true, "scard": true, "sscan": true,
	"zrange": true, "zscore": true, "zcard": true, "zrank": true, "zscan": true,
	"xrange": true, "xrevrange": true, "xlen": true, "xpending": true, "xinfo": true,
	"client": true, "cluster": true, "hello": true, "role": true, "memory": true, "object": true,
}

func (h localWriteHook) apply(cmd redis.Cmder) {
	name := cmd.Name()
	if readOnlyCommands[name] {
		return
	}
	if name == "flushdb" || name == "flushall" {
		h.lc.flush()
		return
	}
	for _, a := range cmd.Args()[1:] {
		if s, ok := a.(string); ok && strings.HasPrefix(s, h.prefix) {
			h.lc.invalidate(s)
		}
	}
}

// LocalCacheHealth is the near cache's part of a HealthReport.
type LocalCacheHealth struct {
	// Tracking is true while every node's tracking connection is
	// subscribed; while false, reads go to Redis.
	Tracking bool `json:"tracking"`
	// TrackedNodes counts the nodes with a tracking connection (up or not).
	TrackedNodes int `json:"tracked_nodes"`
	// Nodes lists the tracking connections by server, sorted.
	Nodes []LocalCacheNode `json:"nodes"`
	// Entries is the number of cached values (an estimate).
	Entries int `json:"entries"`
}

// LocalCacheNode is one tracking connection in a LocalCacheHealth.
type LocalCacheNode struct {
	// Addr is the server the connection is on (the one it last reached:
	// under Sentinel, the master it found).
	Addr string `json:"addr"`
	// Tracking is true while the connection is subscribed with tracking on.
	Tracking bool `json:"tracking"`
	// Error is why it is not: its last failure, with the ACL rules to
	// grant when the server refused them. Empty while tracking.
	Error string `json:"error,omitempty"`
}

func (sh *shared) localHealth() *LocalCacheHealth {
	if sh.local == nil {
		return nil
	}
	t := sh.tracking
	h := &LocalCacheHealth{Tracking: sh.local.live.Load(), Entries: sh.local.store.EstimatedSize()}
	t.mu.Lock()
	for _, n := range t.nodes {
		h.Nodes = append(h.Nodes, LocalCacheNode{Addr: n.server(), Tracking: n.up, Error: n.err})
	}
	t.mu.Unlock()
	h.TrackedNodes = len(h.Nodes)
	slices.SortFunc(h.Nodes, func(a, b LocalCacheNode) int { return strings.Compare(a.Addr, b.Addr) })
	return h
}
