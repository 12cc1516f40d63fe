package redisclient

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName is the OpenTelemetry scope of the library's own spans
// and instruments.
const instrumentationName = "github.com/systemtrader/redisclient"

// telemetry is the OpenTelemetry state of one pool: the tracer of the
// library's spans, the registrations of every observable instrument (so
// Close can drop them) and the counters kept only for metrics.
type telemetry struct {
	tracer    trace.Tracer // nil: no tracer provider, no spans at all
	traceKeys bool
	meter     *trackedMeterProvider

	// collected turns true the first time a reader collects the library's
	// instruments. Until then nothing reads the measurements that cost a
	// clock read on a hot path (pub/sub handler lag), so they are skipped.
	collected atomic.Bool

	subs      retiring[*Subscription, string, subscriptionTotals]
	consumers retiring[*Consumer, consumerKey, consumerTotals]
}

// newTelemetry wires OpenTelemetry into a freshly built pool: redisotel's
// command spans and metrics on every go-redis client that talks to a server
// (each cluster node, the Sentinel-managed master), and the library's own
// instruments. It never fails: a problem registering an instrument is logged
// and the client works without it.
//
// Command spans and metrics cost about 2 µs and 10 allocations per command
// even when the provider discards them, so they are only installed when a
// provider is set: in Options, or as the otel global before New runs. The
// library's own instruments are observable and cost nothing per call, so
// they are always registered; on the global provider they start reporting
// whenever the application installs one.
func newTelemetry(sh *shared) *telemetry {
	o := &sh.opts
	t := &telemetry{traceKeys: o.TraceKeys, subs: newSubscriptionMetrics(), consumers: newConsumerMetrics()}
	mp := o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t.meter = &trackedMeterProvider{MeterProvider: mp}

	tp, tracing := installedTracerProvider(o.TracerProvider)
	if tracing {
		t.tracer = tp.Tracer(instrumentationName)
	}
	metrics := installedMeterProvider(o.MeterProvider)
	if tracing || metrics {
		if err := t.instrumentCommands(sh, tp, tracing, metrics); err != nil {
			sh.log.Warn("redisclient: command telemetry not installed", "error", err)
		}
	}
	if err := t.registerInstruments(sh); err != nil {
		sh.log.Warn("redisclient: some metrics not registered", "error", err)
	}
	return t
}

// close drops every callback registered with the meter provider, so a
// closed client is no longer observed (nor kept alive by the provider).
func (t *telemetry) close() {
	if t != nil {
		t.meter.close()
	}
}

// installedTracerProvider returns the tracer provider to use and whether one
// is installed: the given one, else the otel global once the application set
// it; a no-op provider counts as none.
func installedTracerProvider(tp trace.TracerProvider) (trace.TracerProvider, bool) {
	if tp == nil {
		tp = otel.GetTracerProvider()
		if isOtelDefault(tp) {
			return nil, false
		}
	}
	_, noop := tp.(tracenoop.TracerProvider)
	return tp, !noop
}

// installedMeterProvider reports whether mp, or the otel global when mp is
// nil, is a provider that records measurements.
func installedMeterProvider(mp metric.MeterProvider) bool {
	if mp == nil {
		mp = otel.GetMeterProvider()
		if isOtelDefault(mp) {
			return false
		}
	}
	_, noop := mp.(metricnoop.MeterProvider)
	return !noop
}

// isOtelDefault reports whether p is the delegating placeholder otel returns
// as the global provider until the application sets one.
func isOtelDefault(p any) bool {
	t := reflect.TypeOf(p)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// instrumentCommands installs redisotel on the go-redis clients that send
// commands: the client itself (standalone, Sentinel) or each cluster node as
// go-redis creates it, so spans and pool metrics name the node. Its hooks sit
// inside the retry and breaker hook: each attempt is a span of its own, and a
// call failed fast by the open breaker sends nothing and has none.
func (t *telemetry) instrumentCommands(sh *shared, tp trace.TracerProvider, tracing, metrics bool) error {
	install := func(c *redis.Client, pool string) error {
		var errs []error
		if tracing {
			errs = append(errs, redisotel.InstrumentTracing(c,
				redisotel.WithTracerProvider(tp),
				redisotel.WithDBStatement(false), // values and passwords never reach a span
				redisotel.WithCallerEnabled(false),
			))
			if t.traceKeys {
				c.AddHook(keysHook{})
			}
		}
		if metrics {
			errs = append(errs, redisotel.InstrumentMetrics(c,
				redisotel.WithMeterProvider(t.meter),
				redisotel.WithPoolName(pool),
				redisotel.WithSemConvCompliantMetrics(true),
			))
		}
		return errors.Join(errs...)
	}
	switch rdb := sh.rdb.(type) {
	case *redis.ClusterClient:
		rdb.OnNewNode(func(node *redis.Client) {
			if err := install(node, node.Options().Addr); err != nil {
				sh.log.Warn("redisclient: command telemetry not installed on a cluster node", "node", node.Options().Addr, "error", err)
			}
		})
		return nil
	case *redis.Client:
		pool := rdb.Options().Addr
		if sh.deploy == sentinel {
			// go-redis names a Sentinel-managed client "FailoverClient".
			pool = "sentinel/" + sh.opts.MasterName
		}
		return install(rdb, pool)
	}
	return errors.New("unsupported go-redis client type " + reflect.TypeOf(sh.rdb).String())
}

// trackedMeterProvider hands out meters that remember every callback
// registration, so Close can unregister them all at once: the library's
// own and redisotel's pool-statistics callbacks, one per cluster node.
// Registrations made after close are dropped at once.
type trackedMeterProvider struct {
	metric.MeterProvider

	mu     sync.Mutex
	closed bool
	regs   []metric.Registration
}

// Meter returns the provider's meter for name, tracking its registrations.
func (p *trackedMeterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return trackedMeter{Meter: p.MeterProvider.Meter(name, opts...), p: p}
}

func (p *trackedMeterProvider) track(r metric.Registration) {
	p.mu.Lock()
	if !p.closed {
		p.regs = append(p.regs, r)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = r.Unregister()
}

func (p *trackedMeterProvider) close() {
	p.mu.Lock()
	p.closed = true
	regs := p.regs
	p.regs = nil
	p.mu.Unlock()
	for _, r := range regs {
		if err := r.Unregister(); err != nil {
			otel.Handle(err)
		}
	}
}

type trackedMeter struct {
	metric.Meter
	p *trackedMeterProvider
}

// RegisterCallback registers f with the underlying meter and remembers the
// registration.
func (m trackedMeter) RegisterCallback(f metric.Callback, instruments ...metric.Observable) (metric.Registration, error) {
	r, err := m.Meter.RegisterCallback(f, instruments...)
	if err == nil {
		m.p.track(r)
	}
	return r, err
}

// keysHook adds the command's first key to its span (Options.TraceKeys). It
// sits inside redisotel's tracing hook, whose span is in ctx.
type keysHook struct{}

const (
	attrKey  = attribute.Key("db.redis.key")
	attrKeys = attribute.Key("db.redis.keys")
	// maxTracedKeys bounds the keys listed on a pipeline's span.
	maxTracedKeys = 16
)

func (keysHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (keysHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if k, ok := commandKey(cmd); ok {
			trace.SpanFromContext(ctx).SetAttributes(attrKey.String(k))
		}
		return next(ctx, cmd)
	}
}

func (keysHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var keys []string
		for _, cmd := range cmds {
			if k, ok := commandKey(cmd); ok && len(keys) < maxTracedKeys {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			trace.SpanFromContext(ctx).SetAttributes(attrKeys.StringSlice(keys))
		}
		return next(ctx, cmds)
	}
}

// keylessCommands take no key, or something else first (a subcommand, a
// cursor, a script).
var keylessCommands = wordSet(`
	ping echo info hello auth select client cluster command config script
	function dbsize time flushdb flushall multi exec discard unwatch readonly
	readwrite quit save bgsave bgrewriteaof lastsave slowlog latency memory
	wait waitaof role debug sentinel scan randomkey swapdb pubsub acl module
	monitor shutdown lolwut failover replicaof slaveof object xinfo xread
	xreadgroup keys eval evalsha eval_ro evalsha_ro fcall fcall_ro`)

// commandKey returns the argument after the command's name when that is a
// key. Other arguments (values, scores, scripts) are never returned.
func commandKey(cmd redis.Cmder) (string, bool) {
	args := cmd.Args()
	if len(args) < 2 || keylessCommands[cmd.Name()] {
		return "", false
	}
	s, ok := args[1].(string)
	return s, ok
}
