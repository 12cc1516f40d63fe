package redisclient

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Attributes of the library's instruments.
const (
	attrNamespace    = attribute.Key("redisclient.namespace")
	attrRetryReason  = attribute.Key("redisclient.retry.reason")
	attrPoolState    = attribute.Key("redisclient.pool.state")
	attrBreakerState = attribute.Key("redisclient.breaker.state")
	attrStream       = attribute.Key("redisclient.stream")
	attrStreamGroup  = attribute.Key("redisclient.stream.group")
	attrNode         = attribute.Key("redisclient.node")
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
		breakerState = gauge("redisclient.breaker.state", "{state}", "Circuit breaker state: 0 closed, 1 open, 2 half-open; on a cluster one per node (redisclient.node)")
		breakerMoves = counter("redisclient.breaker.transitions", "{transition}", "Circuit breaker state changes, by the state entered; on a cluster per node (redisclient.node)")

		localHits          = counter("redisclient.local.hits", "{hit}", "Reads served by the near cache")
		localMisses        = counter("redisclient.local.misses", "{miss}", "Reads the near cache passed on to Redis")
		localInvalidations = counter("redisclient.local.invalidations", "{key}", "Near-cache keys dropped by Redis's invalidations or this client's writes")
		localFlushes       = counter("redisclient.local.flushes", "{flush}", "Whole near-cache flushes: FLUSHDB/FLUSHALL, tracking lost or back")
		localEvictions     = counter("redisclient.local.evictions", "{entry}", "Near-cache values dropped to stay within MaxEntries and MaxBytes")
		localEntries       = gauge("redisclient.local.entries", "{entry}", "Values held by the near cache now (an estimate)")

		subsLive       = gauge("redisclient.pubsub.subscriptions", "{subscription}", "Open subscriptions")
		subsReceived   = counter("redisclient.pubsub.received", "{message}", "Messages read from Redis by subscriptions")
		subsDelivered  = counter("redisclient.pubsub.delivered", "{message}", "Handler calls that returned, errors and panics included")
		subsDropped    = counter("redisclient.pubsub.dropped", "{message}", "Messages never handed to a handler: pushed out of a full buffer (DropOldest), finding it full after BlockTimeout (Block), or still buffered at Close")
		subsErrors     = counter("redisclient.pubsub.handler_errors", "{error}", "Handler calls that returned an error")
		subsPanics     = counter("redisclient.pubsub.panics", "{panic}", "Panics of handlers and OnReconnect callbacks")
		subsReconnects = counter("redisclient.pubsub.reconnects", "{reconnect}", "Subscriptions re-established after a lost connection")
		subsPending    = gauge("redisclient.pubsub.pending", "{message}", "Messages buffered, waiting for a handler")

		consumersLive = gauge("redisclient.stream.consumers", "{consumer}", "Running stream consumers")
		streamDeliv   = counter("redisclient.stream.delivered", "{message}", "Stream messages consumers took from Redis, reclaimed ones included")
		streamAcked   = counter("redisclient.stream.acked", "{message}", "Stream messages acknowledged after their handler succeeded")
		streamRetried = counter("redisclient.stream.retried", "{retry}", "Handler runs repeated after a failure")
		streamDead    = counter("redisclient.stream.dead_lettered", "{message}", "Stream messages moved to the dead-letter stream")
		streamReclaim = counter("redisclient.stream.reclaimed", "{message}", "Stream messages taken over from another consumer after MinIdle")
		streamLeft    = counter("redisclient.stream.left_pending", "{message}", "Stream messages given up without an acknowledgement, for the group to reclaim")
		streamErrors  = counter("redisclient.stream.handler_errors", "{error}", "Stream handler runs that returned an error")
		streamPanics  = counter("redisclient.stream.panics", "{panic}", "Stream handler runs that panicked")
		streamPending = gauge("redisclient.stream.pending", "{message}", "Stream messages in consumers' hands now")
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
	var entered [3]metric.ObserveOption
	for s := range entered {
		entered[s] = metric.WithAttributeSet(attribute.NewSet(attrBreakerState.String(BreakerState(s).String())))
	}
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
		if sh.nodes != nil {
			for addr, state := range sh.nodes.states() {
				o.ObserveInt64(breakerState, int64(state), metric.WithAttributes(attrNode.String(addr)))
			}
			for addr, moves := range sh.nodes.transitions() {
				for s, n := range moves {
					o.ObserveInt64(breakerMoves, int64(n), metric.WithAttributes(attrNode.String(addr), attrBreakerState.String(BreakerState(s).String())))
				}
			}
		} else {
			o.ObserveInt64(breakerState, int64(sh.breaker.State()))
			for s, n := range sh.breaker.transitions() {
				o.ObserveInt64(breakerMoves, int64(n), entered[s])
			}
		}

		if lc := sh.local; lc != nil {
			var s CacheStats
			lc.addStats(&s)
			o.ObserveInt64(localHits, int64(s.LocalHits))
			o.ObserveInt64(localMisses, int64(s.LocalMisses))
			o.ObserveInt64(localInvalidations, int64(s.LocalInvalidations))
			o.ObserveInt64(localFlushes, int64(s.LocalFlushes))
			o.ObserveInt64(localEvictions, int64(s.LocalEvictions))
			o.ObserveInt64(localEntries, int64(lc.store.EstimatedSize()))
		}

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

		t.consumers.each(func(k consumerKey, s consumerTotals) {
			a := metric.WithAttributeSet(attribute.NewSet(attrNamespace.String(k.ns), attrStream.String(k.stream), attrStreamGroup.String(k.group)))
			o.ObserveInt64(consumersLive, int64(s.live), a)
			o.ObserveInt64(streamDeliv, int64(s.Delivered), a)
			o.ObserveInt64(streamAcked, int64(s.Acked), a)
			o.ObserveInt64(streamRetried, int64(s.Retried), a)
			o.ObserveInt64(streamDead, int64(s.DeadLettered), a)
			o.ObserveInt64(streamReclaim, int64(s.Reclaimed), a)
			o.ObserveInt64(streamLeft, int64(s.LeftPending), a)
			o.ObserveInt64(streamErrors, int64(s.HandlerErrors), a)
			o.ObserveInt64(streamPanics, int64(s.Panics), a)
			o.ObserveInt64(streamPending, s.Pending, a)
		})
		return nil
	},
		hits, misses, loads, loadErrors, redisErrors,
		poolConns, poolHits, poolMisses, poolTimeouts, poolWaits, poolPending, poolWaitTime,
		retries, breakerState, breakerMoves,
		localHits, localMisses, localInvalidations, localFlushes, localEvictions, localEntries,
		subsLive, subsReceived, subsDelivered, subsDropped, subsErrors, subsPanics, subsReconnects, subsPending,
		lagTotal, lagMax,
		consumersLive, streamDeliv, streamAcked, streamRetried, streamDead, streamReclaim, streamLeft, streamErrors, streamPanics, streamPending,
	)
	return err
}
