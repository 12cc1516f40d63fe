package redisclient

import (
	"hash/maphash"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Defaults of LocalCacheOptions.
const (
	DefaultLocalCacheMaxEntries   = 10_000
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
	fetched time.Duration // since localCache.base, taken before the fetch
}

// versionShards is the number of per-key version counters; keys share a
// counter by hash, which only costs a rejected fill now and then.
const versionShards = 4096

// localCache is the store and its coherence state. Reads are served only
// while live (every node's tracking connection is subscribed). A fill is a
// value fetched from Redis: it is kept only if no invalidation of its key
// and no flush happened between begin and the end of fill.
type localCache struct {
	opts     LocalCacheOptions
	store    *otter.Cache[string, *localEntry]
	base     time.Time
	maxStale time.Duration
	seed     maphash.Seed

	live     atomic.Bool
	epoch    atomic.Uint64 // bumped by every flush and change of liveness
	versions [versionShards]atomic.Uint64

	hits, misses, invalidations, flushes, evictions atomic.Uint64
}

func newLocalCache(o LocalCacheOptions) *localCache {
	lc := &localCache{opts: o, base: time.Now(), maxStale: o.MaxStaleness, seed: maphash.MakeSeed()}
	lc.store = otter.Must(&otter.Options[string, *localEntry]{
		MaximumSize: o.MaxEntries,
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
func (lc *localCache) get(k string, typ reflect.Type) (any, bool) {
	if !lc.live.Load() {
		return nil, false
	}
	e, ok := lc.store.GetIfPresent(k)
	if !ok || e.typ != typ || time.Since(lc.base)-e.fetched >= lc.maxStale {
		return nil, false
	}
	lc.hits.Add(1)
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
// cache flushed meanwhile. It stores first and checks after, so an
// invalidation that runs between the two removes the entry itself or is
// seen here.
func (lc *localCache) fill(k string, typ reflect.Type, t fillToken, v any) {
	if !t.ok || !lc.valid(t) {
		return
	}
	lc.store.Set(k, &localEntry{typ: typ, val: v, fetched: t.fetched})
	if !lc.valid(t) {
		lc.store.Invalidate(k)
	}
}

func (lc *localCache) valid(t fillToken) bool {
	return lc.epoch.Load() == t.epoch && lc.versions[t.shard].Load() == t.version && lc.live.Load()
}

// invalidate drops k: bump its version first, so a fill in flight sees it.
func (lc *localCache) invalidate(k string) {
	lc.invalidations.Add(1)
	lc.versions[lc.shard(k)].Add(1)
	lc.store.Invalidate(k)
}

// flush drops everything: the epoch moves first, so fills in flight fail.
func (lc *localCache) flush() {
	lc.flushes.Add(1)
	lc.epoch.Add(1)
	lc.store.InvalidateAll()
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
	s.LocalHits = lc.hits.Load()
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
