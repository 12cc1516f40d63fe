package redisclient

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Attributes of the library's instruments.
const (
	attrNamespace    = attribute.Key("redisclient.namespace")
	attrRetryReason  = attribute.Key("redisclient.retry.reason")
	attrPoolState    = attribute.Key("redisclient.pool.state")
	attrBreakerState = attribute.Key("redisclient.breaker.state")
)

// registerInstruments registers the library's instruments, all observable:
// one callback reads the counters the client keeps anyway (cache stats per
// namespace, subscription stats, the pool's, the breaker's state), so no
// call pays for them.
func (t *telemetry) registerInstruments(sh *shared) error {
	m := t.meter.Meter(instrumentationName)
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	var (
		hits        = counter("redisclient.cache.hits", "{hit}", "GetOrSet calls served from Redis")
		misses      = counter("redisclient.cache.misses", "{miss}", "GetOrSet calls that found no readable value in Redis")
		loads       = counter("redisclient.cache.loads", "{load}", "Calls of GetOrSet load functions (a shared load counts once)")
		loadErrors  = counter("redisclient.cache.load_errors", "{error}", "Load calls that returned an error or panicked")
		redisErrors = counter("redisclient.cache.redis_errors", "{error}", "Cache reads or writes that failed and were bypassed (fail-open)")

		poolConns    = gauge("redisclient.pool.connections", "{connection}", "Open connections of the pool, idle or in use")
		poolHits     = counter("redisclient.pool.hits", "{hit}", "Times a free connection was found in the pool")
		poolMisses   = counter("redisclient.pool.misses", "{miss}", "Times no free connection was found and a new one was dialed")
		poolTimeouts = counter("redisclient.pool.timeouts", "{timeout}", "Times a caller gave up waiting for a connection")
		poolWaits    = counter("redisclient.pool.waits", "{wait}", "Times a caller waited for a connection")
		poolPending  = gauge("redisclient.pool.pending", "{request}", "Callers waiting for a connection now")

		retries      = counter("redisclient.retries", "{retry}", "Commands tried again, by the error that failed the previous attempt")
		breakerState = gauge("redisclient.breaker.state", "{state}", "Circuit breaker state: 0 closed, 1 open, 2 half-open")

		subsLive       = gauge("redisclient.pubsub.subscriptions", "{subscription}", "Open subscriptions")
		subsReceived   = counter("redisclient.pubsub.received", "{message}", "Messages read from Redis by subscriptions")
		subsDelivered  = counter("redisclient.pubsub.delivered", "{message}", "Handler calls that returned, errors and panics included")
		subsDropped    = counter("redisclient.pubsub.dropped", "{message}", "Messages never handed to a handler: pushed out of a full buffer (DropOldest) or still buffered at Close")
		subsErrors     = counter("redisclient.pubsub.handler_errors", "{error}", "Handler calls that returned an error")
		subsPanics     = counter("redisclient.pubsub.panics", "{panic}", "Panics of handlers and OnReconnect callbacks")
		subsReconnects = counter("redisclient.pubsub.reconnects", "{reconnect}", "Subscriptions re-established after a lost connection")
		subsPending    = gauge("redisclient.pubsub.pending", "{message}", "Messages buffered, waiting for a handler")
	)
	poolWaitTime, err := m.Float64ObservableCounter("redisclient.pool.wait_time", metric.WithUnit("s"),
		metric.WithDescription("Time callers spent waiting for a connection"))
	errs = append(errs, err)
	lagTotal, err := m.Float64ObservableCounter("redisclient.pubsub.handler.lag", metric.WithUnit("s"),
		metric.WithDescription("Time messages waited in subscription buffers before their handler started, summed"))
	errs = append(errs, err)
	lagMax, err := m.Float64ObservableGauge("redisclient.pubsub.handler.lag.max", metric.WithUnit("s"),
		metric.WithDescription("Longest wait of a message before its handler started, since the previous collection"))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}

	idle := metric.WithAttributeSet(attribute.NewSet(attrPoolState.String("idle")))
	used := metric.WithAttributeSet(attribute.NewSet(attrPoolState.String("used")))
	var reasons [numRetryReasons]metric.ObserveOption
	for r := range reasons {
		reasons[r] = metric.WithAttributeSet(attribute.NewSet(attrRetryReason.String(retryReason(r).String())))
	}

	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		t.collected.Store(true)

		sh.stats.each(func(ns string, s CacheStats) {
			a := metric.WithAttributeSet(attribute.NewSet(attrNamespace.String(ns)))
			o.ObserveInt64(hits, int64(s.Hits), a)
			o.ObserveInt64(misses, int64(s.Misses), a)
			o.ObserveInt64(loads, int64(s.Loads), a)
			o.ObserveInt64(loadErrors, int64(s.LoadErrors), a)
			o.ObserveInt64(redisErrors, int64(s.RedisErrors), a)
		})

		if ps := sh.rdb.PoolStats(); ps != nil {
			o.ObserveInt64(poolConns, int64(ps.IdleConns), idle)
			o.ObserveInt64(poolConns, int64(ps.TotalConns)-int64(ps.IdleConns), used)
			o.ObserveInt64(poolHits, int64(ps.Hits))
			o.ObserveInt64(poolMisses, int64(ps.Misses))
			o.ObserveInt64(poolTimeouts, int64(ps.Timeouts))
			o.ObserveInt64(poolWaits, int64(ps.WaitCount))
			o.ObserveInt64(poolPending, int64(ps.PendingRequests))
			o.ObserveFloat64(poolWaitTime, time.Duration(ps.WaitDurationNs).Seconds())
		}

		for r := range reasons {
			o.ObserveInt64(retries, int64(sh.retries[r].Load()), reasons[r])
		}
		o.ObserveInt64(breakerState, int64(sh.breaker.State()))

		t.subs.each(func(ns string, s subscriptionTotals) {
			a := metric.WithAttributeSet(attribute.NewSet(attrNamespace.String(ns)))
			o.ObserveInt64(subsLive, int64(s.live), a)
			o.ObserveInt64(subsReceived, int64(s.Received), a)
			o.ObserveInt64(subsDelivered, int64(s.Delivered), a)
			o.ObserveInt64(subsDropped, int64(s.Dropped), a)
			o.ObserveInt64(subsErrors, int64(s.HandlerErrors), a)
			o.ObserveInt64(subsPanics, int64(s.Panics), a)
			o.ObserveInt64(subsReconnects, int64(s.Reconnects), a)
			o.ObserveInt64(subsPending, int64(s.Pending), a)
			o.ObserveFloat64(lagTotal, time.Duration(s.lagTotal).Seconds(), a)
			o.ObserveFloat64(lagMax, time.Duration(s.lagMax).Seconds(), a)
		})
		return nil
	},
		hits, misses, loads, loadErrors, redisErrors,
		poolConns, poolHits, poolMisses, poolTimeouts, poolWaits, poolPending, poolWaitTime,
		retries, breakerState,
		subsLive, subsReceived, subsDelivered, subsDropped, subsErrors, subsPanics, subsReconnects, subsPending,
		lagTotal, lagMax,
	)
	return err
}

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

// replyReasons names the transient server replies IsRetryable accepts.
var replyReasons = []struct {
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
		for _, rr := range replyReasons {
			if strings.HasPrefix(msg, rr.prefix) {
				return rr.reason
			}
		}
		return retryOther
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) {
		return retryPoolTimeout
	}
	if neverSent(err) {
		return retryDial
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return retryTimeout
	}
	if isConnFailure(err) {
		return retryNetwork
	}
	return retryOther
}

// subscriptionMetrics keeps the live subscriptions of a pool and the final
// counts of closed ones, by namespace, so the pub/sub counters never go
// down when a subscription closes.
type subscriptionMetrics struct {
	mu      sync.Mutex
	live    map[*Subscription]struct{}
	retired map[string]*subscriptionTotals
}

// subscriptionTotals sums the stats of the subscriptions of one namespace.
type subscriptionTotals struct {
	SubscriptionStats
	live     int
	lagTotal uint64 // nanoseconds
	lagMax   int64  // nanoseconds, since the previous collection
}

func (t *subscriptionTotals) add(s *Subscription, swapMax bool) {
	st := s.Stats()
	t.Received += st.Received
	t.Delivered += st.Delivered
	t.Dropped += st.Dropped
	t.HandlerErrors += st.HandlerErrors
	t.Panics += st.Panics
	t.Reconnects += st.Reconnects
	t.lagTotal += s.lagTotal.Load()
	if swapMax {
		t.Pending += st.Pending
		t.live++
		t.lagMax = max(t.lagMax, s.lagMax.Swap(0))
	}
}

// add registers a subscription that is about to start.
func (m *subscriptionMetrics) add(s *Subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live == nil {
		m.live = make(map[*Subscription]struct{})
	}
	m.live[s] = struct{}{}
}

// retire moves a subscription whose goroutines have all returned into the
// totals of its namespace.
func (m *subscriptionMetrics) retire(s *Subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[s]; !ok {
		return
	}
	delete(m.live, s)
	if m.retired == nil {
		m.retired = make(map[string]*subscriptionTotals)
	}
	t := m.retired[s.c.ns]
	if t == nil {
		t = new(subscriptionTotals)
		m.retired[s.c.ns] = t
	}
	t.add(s, false)
}

// each calls fn with the totals of every namespace that has or had a
// subscription.
func (m *subscriptionMetrics) each(fn func(ns string, t subscriptionTotals)) {
	m.mu.Lock()
	byNS := make(map[string]*subscriptionTotals, len(m.retired))
	for ns, t := range m.retired {
		c := *t
		byNS[ns] = &c
	}
	for s := range m.live {
		t := byNS[s.c.ns]
		if t == nil {
			t = new(subscriptionTotals)
			byNS[s.c.ns] = t
		}
		t.add(s, true)
	}
	m.mu.Unlock()
	for ns, t := range byNS {
		fn(ns, *t)
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
