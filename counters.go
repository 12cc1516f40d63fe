package redisclient

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The counters kept for the metrics of metrics.go beyond those the client
// keeps anyway: cache stats by namespace, retries by reason, the totals of
// closed subscriptions and consumers, pub/sub handler lag.

// maxNamespaceStats bounds the namespaces counted apart, so a service that
// makes views with per-request names cannot grow the metrics without end;
// further namespaces share the counters of otherNamespace.
const (
	maxNamespaceStats = 256
	otherNamespace    = "(other)"
)

// namespaceStats holds the cache-aside counters of each namespace that has
// a view. A view points at its namespace's counters, so counting costs what
// it did with one set per pool.
type namespaceStats struct {
	mu   sync.Mutex
	byNS map[string]*cacheCounters
	ns   []string // in order of creation
}

// get returns the counters of namespace ns, creating them on first use.
func (r *namespaceStats) get(ns string) *cacheCounters {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.byNS[ns]; ok {
		return c
	}
	if len(r.ns) >= maxNamespaceStats {
		ns = otherNamespace
		if c, ok := r.byNS[ns]; ok {
			return c
		}
	}
	if r.byNS == nil {
		r.byNS = make(map[string]*cacheCounters)
	}
	c := new(cacheCounters)
	r.byNS[ns] = c
	r.ns = append(r.ns, ns)
	return c
}

// each calls fn with the counters of every namespace.
func (r *namespaceStats) each(fn func(ns string, s CacheStats)) {
	r.mu.Lock()
	names := r.ns
	counters := make([]*cacheCounters, len(names))
	for i, ns := range names {
		counters[i] = r.byNS[ns]
	}
	r.mu.Unlock()
	for i, ns := range names {
		fn(ns, counters[i].snapshot())
	}
}

// total sums the counters of every namespace.
func (r *namespaceStats) total() CacheStats {
	var t CacheStats
	r.each(func(_ string, s CacheStats) {
		t.Hits += s.Hits
		t.Misses += s.Misses
		t.Loads += s.Loads
		t.LoadErrors += s.LoadErrors
		t.RedisErrors += s.RedisErrors
	})
	return t
}

func (c *cacheCounters) snapshot() CacheStats {
	return CacheStats{
		Hits:        c.hits.Load(),
		Misses:      c.misses.Load(),
		Loads:       c.loads.Load(),
		LoadErrors:  c.loadErrors.Load(),
		RedisErrors: c.redisErrors.Load(),
	}
}

// retryReason classifies the error that made the client try a command again.
type retryReason int

const (
	retryDial retryReason = iota
	retryPoolTimeout
	retryTimeout
	retryNetwork
	retryLoading
	retryReadonly
	retryTryAgain
	retryMasterDown
	retryClusterDown
	retryNoReplicas
	retryMaxClients
	retryOther
	numRetryReasons
)

var retryReasonNames = [numRetryReasons]string{
	"dial", "pool_timeout", "timeout", "network",
	"loading", "readonly", "tryagain", "masterdown", "clusterdown", "noreplicas", "max_clients",
	"other",
}

func (r retryReason) String() string { return retryReasonNames[r] }

// retryCounters counts retries by reason. The zero value is ready.
type retryCounters [numRetryReasons]atomic.Uint64

// count records one retry after err. It runs only when a command is about
// to be tried again, never on the success path.
func (r *retryCounters) count(err error) {
	if r != nil {
		r[classifyRetry(err)].Add(1)
	}
}

func classifyRetry(err error) retryReason {
	if msg, ok := replyError(err); ok {
		reason, _ := transientReason(msg)
		return reason
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) {
		return retryPoolTimeout
	}
	if neverSent(err) {
		return retryDial
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return retryTimeout
	}
	if isConnFailure(err) {
		return retryNetwork
	}
	return retryOther
}

// retiring keeps the live items of a kind (subscriptions, stream
// consumers) and the summed final stats of the closed ones, by key, so the
// counters summed over a key never go down when an item closes. The zero
// value needs key and fold set.
type retiring[T comparable, K comparable, S any] struct {
	key  func(T) K
	fold func(total *S, item T, live bool) // adds item's stats to total

	mu      sync.Mutex
	live    map[T]struct{}
	retired map[K]*S
}

// add registers an item that is about to start.
func (r *retiring[T, K, S]) add(item T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live == nil {
		r.live = make(map[T]struct{})
	}
	r.live[item] = struct{}{}
}

// retire moves an item whose goroutines have all returned into the totals
// of its key.
func (r *retiring[T, K, S]) retire(item T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[item]; !ok {
		return
	}
	delete(r.live, item)
	if r.retired == nil {
		r.retired = make(map[K]*S)
	}
	k := r.key(item)
	t := r.retired[k]
	if t == nil {
		t = new(S)
		r.retired[k] = t
	}
	r.fold(t, item, false)
}

// each calls fn with the totals of every key that has or had an item.
func (r *retiring[T, K, S]) each(fn func(K, S)) {
	r.mu.Lock()
	totals := make(map[K]*S, len(r.retired))
	for k, t := range r.retired {
		c := *t
		totals[k] = &c
	}
	for item := range r.live {
		k := r.key(item)
		t := totals[k]
		if t == nil {
			t = new(S)
			totals[k] = t
		}
		r.fold(t, item, true)
	}
	r.mu.Unlock()
	for k, t := range totals {
		fn(k, *t)
	}
}

// subscriptionTotals sums the stats of the subscriptions of one namespace.
type subscriptionTotals struct {
	SubscriptionStats
	live     int
	lagTotal uint64 // nanoseconds
	lagMax   int64  // nanoseconds, since the previous collection
}

func newSubscriptionMetrics() retiring[*Subscription, string, subscriptionTotals] {
	return retiring[*Subscription, string, subscriptionTotals]{
		key: func(s *Subscription) string { return s.c.ns },
		fold: func(t *subscriptionTotals, s *Subscription, live bool) {
			st := s.Stats()
			t.Received += st.Received
			t.Delivered += st.Delivered
			t.Dropped += st.Dropped
			t.HandlerErrors += st.HandlerErrors
			t.Panics += st.Panics
			t.Reconnects += st.Reconnects
			t.lagTotal += s.lagTotal.Load()
			if live {
				t.Pending += st.Pending
				t.live++
				t.lagMax = max(t.lagMax, s.lagMax.Swap(0))
			}
		},
	}
}

// consumerKey groups stream consumers for metrics.
type consumerKey struct{ ns, stream, group string }

// consumerTotals sums the stats of the consumers of one stream and group.
type consumerTotals struct {
	ConsumerStats
	live int
}

func newConsumerMetrics() retiring[*Consumer, consumerKey, consumerTotals] {
	return retiring[*Consumer, consumerKey, consumerTotals]{
		key: func(c *Consumer) consumerKey { return consumerKey{c.s.c.ns, c.s.name, c.group} },
		fold: func(t *consumerTotals, c *Consumer, live bool) {
			st := c.Stats()
			t.Delivered += st.Delivered
			t.Acked += st.Acked
			t.Retried += st.Retried
			t.DeadLettered += st.DeadLettered
			t.Reclaimed += st.Reclaimed
			t.LeftPending += st.LeftPending
			t.HandlerErrors += st.HandlerErrors
			t.Panics += st.Panics
			if live {
				t.Pending += st.Pending
				t.live++
			}
		},
	}
}

// queued is a message in a subscription's buffer, with the time it was read
// when handler lag is measured (0 otherwise).
type queued struct {
	m  *redis.Message
	at int64
}

// epoch is the origin of the monotonic timestamps of queued messages.
var epoch = time.Now()

// stamp wraps m for the buffer. It reads the clock only once a reader has
// collected the instruments: until then nobody looks at the lag.
func (t *telemetry) stamp(m *redis.Message) queued {
	if t == nil || !t.collected.Load() {
		return queued{m: m}
	}
	return queued{m: m, at: int64(time.Since(epoch)) + 1}
}

// noteLag records how long q waited in the buffer of s.
func (s *Subscription) noteLag(q queued) {
	if q.at == 0 {
		return
	}
	lag := int64(time.Since(epoch)) + 1 - q.at
	s.lagTotal.Add(uint64(lag))
	for {
		cur := s.lagMax.Load()
		if lag <= cur || s.lagMax.CompareAndSwap(cur, lag) {
			return
		}
	}
}

// entered counts a transition of b into state s.
func (b *breaker) entered(s BreakerState) { b.entries[s].Add(1) }

// transitions returns how often b entered each state; a nil breaker none.
func (b *breaker) transitions() (out [3]uint64) {
	if b != nil {
		for s := range out {
			out[s] = b.entries[s].Load()
		}
	}
	return out
}

// transitions returns the state changes of every node's breaker, by node
// address. Nodes that left the slot map keep theirs: the counters of a
// node must not go down.
func (r *nodeBreakers) transitions() map[string][3]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][3]uint64, len(r.byAddr))
	for addr, b := range r.byAddr {
		out[addr] = b.transitions()
	}
	return out
}
