package redisclient

import (
	"bytes"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Defaults of LocalCacheOptions.
const (
	DefaultLocalCacheMaxEntries   = 10_000
	DefaultLocalCacheMaxBytes     = 64 << 20
	DefaultLocalCacheMaxStaleness = 5 * time.Second
	DefaultLocalCachePingInterval = time.Second
)

// LocalCacheOptions turns on the near cache: decoded values kept in process
// and invalidated by Redis (CLIENT TRACKING in broadcast mode on the
// namespace prefix). See the README section "Near cache" for what it
// guarantees. Zero fields take the documented defaults.
type LocalCacheOptions struct {
	// MaxEntries bounds the number of cached values (one per key and Go
	// type). Default 10 000.
	MaxEntries int
	// MaxBytes bounds the memory of the cached values, each counted as its
	// key plus its encoded size as read from Redis, and as at least
	// MaxBytes/MaxEntries (which is how both bounds hold at once). Decoded
	// values take about their encoded size, more for maps. Default 64 MiB.
	MaxBytes int64
	// MaxStaleness is the longest a cached value is served after it was
	// fetched, whatever happens to invalidations: the bound on staleness if
	// an invalidation is ever lost. Default 5 s.
	MaxStaleness time.Duration
	// PingInterval is how often an idle tracking connection is pinged; two
	// pings without an answer count as a lost connection. Default 1 s.
	PingInterval time.Duration
}

func (o *LocalCacheOptions) withDefaults() (LocalCacheOptions, error) {
	lo := *o
	switch {
	case lo.MaxEntries == 0:
		lo.MaxEntries = DefaultLocalCacheMaxEntries
	case lo.MaxEntries < 0:
		return lo, optionsError("LocalCache.MaxEntries %d: must not be negative", lo.MaxEntries)
	}
	switch {
	case lo.MaxBytes == 0:
		lo.MaxBytes = DefaultLocalCacheMaxBytes
	case lo.MaxBytes < 0:
		return lo, optionsError("LocalCache.MaxBytes %d: must not be negative", lo.MaxBytes)
	}
	switch {
	case lo.MaxStaleness == 0:
		lo.MaxStaleness = DefaultLocalCacheMaxStaleness
	case lo.MaxStaleness < time.Millisecond:
		return lo, optionsError("LocalCache.MaxStaleness %v: must be at least 1ms", lo.MaxStaleness)
	}
	switch {
	case lo.PingInterval == 0:
		lo.PingInterval = DefaultLocalCachePingInterval
	case lo.PingInterval < time.Millisecond:
		return lo, optionsError("LocalCache.PingInterval %v: must be at least 1ms", lo.PingInterval)
	}
	return lo, nil
}

// localEntry is one cached value: the decoded value of a full key for one
// Go type (typ is the pointer type a caller decodes into).
type localEntry struct {
	typ     reflect.Type
	val     any
	bytes   bool          // val is a byte slice: every reader gets a copy
	weight  uint32        // what the entry counts against MaxBytes
	fetched time.Duration // since localCache.base, taken before the fetch
}

// versionShards is the number of per-key version counters; keys share a
// counter by hash, which only costs a rejected fill now and then.
const versionShards = 4096

// fillLocks is the number of locks that make a fill's last check and its
// store one step against the invalidation of its key; a version shard uses
// lock shard%fillLocks. Few enough for a flush to pass through them all.
const fillLocks = 256

// paddedMutex keeps each fill lock on its own cache line.
type paddedMutex struct {
	sync.Mutex
	_ [56]byte
}

// localCache is the store and its coherence state. Reads are served only
// while live (every node's tracking connection is subscribed). A fill is a
// value fetched from Redis: it is stored only if no invalidation of its key
// and no flush happened since begin. It checks and stores under its key's
// fill lock, which invalidate holds to remove the key and flush passes
// through before removing everything: once an invalidation or flush has
// returned, no value it made stale is in the store, not even for a moment.
type localCache struct {
	opts      LocalCacheOptions
	store     *otter.Cache[string, *localEntry]
	base      time.Time
	maxStale  time.Duration
	minWeight uint32 // MaxBytes/MaxEntries: no more than MaxEntries fit
	seed      maphash.Seed

	live     atomic.Bool
	epoch    atomic.Uint64 // bumped by every flush and change of liveness
	versions [versionShards]atomic.Uint64
	locks    [fillLocks]paddedMutex

	hits                                      stripedCounter // on the hot path
	misses, invalidations, flushes, evictions atomic.Uint64
}

func newLocalCache(o LocalCacheOptions) *localCache {
	lc := &localCache{opts: o, base: time.Now(), maxStale: o.MaxStaleness, seed: maphash.MakeSeed()}
	lc.minWeight = uint32(min((o.MaxBytes+int64(o.MaxEntries)-1)/int64(o.MaxEntries), math.MaxUint32))
	lc.store = otter.Must(&otter.Options[string, *localEntry]{
		MaximumWeight: uint64(o.MaxBytes),
		Weigher:       func(_ string, e *localEntry) uint32 { return e.weight },
		// MaxStaleness is otter's expiry, so a hit reads the clock once
		// (otter's, to check it) and expired entries leave memory.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *localEntry]) time.Duration {
			return lc.maxStale - (time.Since(lc.base) - e.Value.fetched)
		}),
		// Maintenance runs on the goroutine that triggers it: with the
		// default executor a hot key's reads start a goroutine every 16
		// reads (to drain otter's read buffer), which costs more than the
		// drain itself. The expiry ticker still cleans up an idle cache.
		Executor: func(fn func()) { fn() },
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *localEntry]) {
			if e.Cause == otter.CauseOverflow {
				lc.evictions.Add(1)
			}
		},
	})
	return lc
}

// fillToken is what a read remembers before asking Redis.
type fillToken struct {
	ok      bool
	epoch   uint64
	version uint64
	shard   uint32
	fetched time.Duration
}

// get returns the value cached for full key k and pointer type typ. A miss
// is counted by begin, which every read that goes to Redis calls once.
// Byte slices are returned as copies, so a caller may write into them. One
// hit in policySample is shown to otter's eviction policy; the others look
// up quietly. One random number decides that, the hit counter's stripe and
// whether to yield.
func (lc *localCache) get(k string, typ reflect.Type) (any, bool) {
	if !lc.live.Load() {
		return nil, false
	}
	r := rand.Uint32()
	var e *localEntry
	ok := false
	if r&(policySample-1) == 0 {
		e, ok = lc.store.GetIfPresent(k) // never an entry older than MaxStaleness
	} else if en, found := lc.store.GetEntryQuietly(k); found {
		e, ok = en.Value, true
	}
	if !ok || e.typ != typ {
		return nil, false
	}
	lc.hits.add(r >> 16)
	if r>>4&(yieldEvery-1) == 0 {
		yieldProcessor() // let a pending invalidation run: see yieldEvery
	}
	if e.bytes {
		return cloneBytes(e.val), true
	}
	return e.val, true
}

func (lc *localCache) shard(k string) uint32 {
	return uint32(maphash.String(lc.seed, k) % versionShards)
}

// begin is called before a value of k is read from Redis.
func (lc *localCache) begin(k string) fillToken {
	lc.misses.Add(1)
	t := fillToken{epoch: lc.epoch.Load()} // epoch before live: see flush
	if !lc.live.Load() {
		return fillToken{}
	}
	t.ok = true
	t.shard = lc.shard(k)
	t.version = lc.versions[t.shard].Load()
	t.fetched = time.Since(lc.base)
	return t
}

// fill stores a value read after begin, unless k was invalidated or the
// cache flushed meanwhile. size is the value's encoded length. A byte slice
// is stored as a copy: the caller keeps the one it got.
func (lc *localCache) fill(k string, typ reflect.Type, t fillToken, v any, size int) {
	if !t.ok || !lc.valid(t) || time.Since(lc.base)-t.fetched >= lc.maxStale {
		return
	}
	e := &localEntry{typ: typ, val: v, fetched: t.fetched}
	e.weight = uint32(min(max(int64(len(k))+int64(size), int64(lc.minWeight)), math.MaxUint32))
	if isByteSlice(v) {
		e.val, e.bytes = cloneBytes(v), true
	}
	mu := &lc.locks[t.shard%fillLocks]
	mu.Lock()
	defer mu.Unlock()
	if lc.valid(t) {
		lc.store.Set(k, e)
	}
}

func (lc *localCache) valid(t fillToken) bool {
	return lc.epoch.Load() == t.epoch && lc.versions[t.shard].Load() == t.version && lc.live.Load()
}

// invalidate drops k: bump its version first, so a fill in flight sees it.
// It is counted once done, so a counter that moved means k is gone.
func (lc *localCache) invalidate(k string) {
	shard := lc.shard(k)
	lc.versions[shard].Add(1)
	mu := &lc.locks[shard%fillLocks]
	mu.Lock()
	lc.store.Invalidate(k)
	mu.Unlock()
	lc.invalidations.Add(1)
}

// flush drops everything: the epoch moves first, so fills in flight fail,
// and passing through every fill lock waits out those that checked it
// before it moved and may still be storing. It is counted once done.
func (lc *localCache) flush() {
	lc.epoch.Add(1)
	for i := range lc.locks {
		lc.locks[i].Lock()
		//lint:ignore SA2001 an empty section on purpose: a barrier
		lc.locks[i].Unlock()
	}
	lc.store.InvalidateAll()
	lc.flushes.Add(1)
}

// setLive turns serving on or off. Either way the cache is flushed: going
// down, entries may miss invalidations from now on; coming up, nothing
// filled while down may be kept. Going down, live is cleared before the
// epoch moves; coming up, the epoch moves before live is set.
func (lc *localCache) setLive(on bool) {
	if on {
		lc.flush()
		lc.live.Store(true)
		return
	}
	lc.live.Store(false)
	lc.flush()
}

// addStats adds the near cache's counters to s; a nil cache adds nothing.
func (lc *localCache) addStats(s *CacheStats) {
	if lc == nil {
		return
	}
	s.LocalHits = lc.hits.load()
	s.LocalMisses = lc.misses.Load()
	s.LocalInvalidations = lc.invalidations.Load()
	s.LocalFlushes = lc.flushes.Load()
	s.LocalEvictions = lc.evictions.Load()
}

func (lc *localCache) close() {
	lc.live.Store(false)
	lc.flush()
	lc.store.StopAllGoroutines()
}

// isByteSlice reports whether v is a []byte or a named type of it.
func isByteSlice(v any) bool {
	t := reflect.TypeOf(v)
	return t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
}

// cloneBytes copies a byte slice held in v, keeping its type.
func cloneBytes(v any) any {
	if b, ok := v.([]byte); ok {
		return bytes.Clone(b)
	}
	rv := reflect.ValueOf(v)
	c := reflect.New(rv.Type()).Elem()
	c.SetBytes(bytes.Clone(rv.Bytes()))
	return c.Interface()
}

// policySample: one hit in this many is shown to otter's eviction policy.
// Recording a read costs a slot in a lossy buffer and, every 16 slots, a
// drain into the frequency sketch; a sample keeps the frequencies' order.
const policySample = 8

// yieldEvery: one hit in this many yields the processor (yieldProcessor).
// An invalidation that arrives while a reader only hits the cache can wait
// behind it twice over. In Go: when the message comes in the same network
// poll as a reply that resumes a reader, the runtime runs the reader first
// and the tracking goroutine waits in a run queue until a processor frees
// up (Go preempts a busy goroutine after 10 ms). In the kernel: the thread
// woken to poll the network may be queued on the CPU the reader's thread
// holds, and runs at the next scheduler tick (4 ms here). Yielding to both
// every 512 hits (about 50 µs of them) brought the invalidation delay's p99
// from 4-8 ms to 0.3-0.5 ms on 2 loaded cores, for about 1 ns a hit.
const yieldEvery = 512

// counterStripes spreads a hot counter over cache lines.
const counterStripes = 16

// stripedCounter is a counter that goroutines on different cores add to
// without fighting over one cache line.
type stripedCounter struct {
	stripes [counterStripes]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

func (c *stripedCounter) add(r uint32) { c.stripes[r%counterStripes].n.Add(1) }

func (c *stripedCounter) load() uint64 {
	var n uint64
	for i := range c.stripes {
		n += c.stripes[i].n.Load()
	}
	return n
}
