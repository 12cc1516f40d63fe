package redisclient

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// telemetryKit is an OpenTelemetry SDK that keeps what it receives: ended
// spans in memory and metrics collected on demand.
type telemetryKit struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
}

func newTelemetryKit(t testing.TB) *telemetryKit {
	k := &telemetryKit{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	k.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(k.spans))
	k.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(k.reader))
	t.Cleanup(func() {
		_ = k.tp.Shutdown(context.Background())
		_ = k.mp.Shutdown(context.Background())
	})
	return k
}

// with returns o with the kit's providers.
func (k *telemetryKit) with(o Options) Options {
	o.TracerProvider, o.MeterProvider = k.tp, k.mp
	return o
}

// point is one data point: its attributes and its value (the count, for a
// histogram).
type point struct {
	attrs map[string]string
	value float64
}

// metricSet maps instrument names to their data points.
type metricSet map[string][]point

func (k *telemetryKit) collect(t testing.TB) metricSet {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, k.reader.Collect(context.Background(), &rm))
	out := metricSet{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var pts []point
			add := func(set attribute.Set, v float64) {
				attrs := map[string]string{}
				for _, kv := range set.ToSlice() {
					attrs[string(kv.Key)] = kv.Value.Emit()
				}
				pts = append(pts, point{attrs, v})
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, float64(p.Value))
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, float64(p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, float64(p.Count))
				}
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = append(out[m.Name], pts...)
		}
	}
	return out
}

// sum adds the values of name's points whose attributes include every
// key=value pair of match.
func (s metricSet) sum(name string, match ...string) float64 {
	var total float64
	for _, p := range s[name] {
		if p.matches(match) {
			total += p.value
		}
	}
	return total
}

// has reports whether name has a point matching match.
func (s metricSet) has(name string, match ...string) bool {
	return slices.ContainsFunc(s[name], func(p point) bool { return p.matches(match) })
}

func (p point) matches(match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		if p.attrs[match[i]] != match[i+1] {
			return false
		}
	}
	return true
}

// names returns the instrument names with the given prefix, sorted.
func (s metricSet) names(prefix string) []string {
	var out []string
	for n := range s {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// spanTexts returns everything a span carries as text: name, attributes,
// events and their attributes, status.
func spanTexts(s sdktrace.ReadOnlySpan) []string {
	out := []string{s.Name(), s.Status().Description}
	for _, kv := range s.Attributes() {
		out = append(out, string(kv.Key)+"="+kv.Value.Emit())
	}
	for _, e := range s.Events() {
		out = append(out, e.Name)
		for _, kv := range e.Attributes {
			out = append(out, string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	return out
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit(), true
		}
	}
	return "", false
}

func spansNamed(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// TestCommandSpansCarryNoValuesOrPasswords: redisotel spans every command,
// with the server's address, but never the value written, the password, or
// (by default) the key.
func TestCommandSpansCarryNoValuesOrPasswords(t *testing.T) {
	const password, value = "pa55-w0rd-9f3e", "value-7d1c-secret-payload"
	k := newTelemetryKit(t)
	c, mr := newMiniredisClient(t, k.with(Options{Password: password}))
	mr.RequireAuth(password)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "acct:42", value, 0))
	var got string
	require.NoError(t, c.Get(ctx, "acct:42", &got))
	_, err := c.Incr(ctx, "acct:42", 1) // a server error reply, recorded on the span
	require.Error(t, err)
	_, err = GetOrSet(ctx, c, "acct:43", 0, func(context.Context) (string, error) { return value, nil })
	require.NoError(t, err)

	spans := k.spans.Ended()
	for _, name := range []string{"set", "get", "incrby"} {
		cmd := spansNamed(spans, name)
		require.NotEmpty(t, cmd, "a span for %s", name)
		addr, _ := spanAttr(cmd[0], "server.address")
		assert.Equal(t, "127.0.0.1", addr)
		sys, _ := spanAttr(cmd[0], "db.system")
		assert.Equal(t, "redis", sys)
		_, stmt := spanAttr(cmd[0], "db.statement")
		assert.False(t, stmt, "no db.statement by default")
	}
	require.NotEmpty(t, spansNamed(spans, spanGetOrSet))
	for _, s := range spans {
		assert.NotEqual(t, "auth", s.Name())
		for _, text := range spanTexts(s) {
			assert.NotContains(t, text, password, "span %s", s.Name())
			assert.NotContains(t, text, "secret-payload", "span %s", s.Name())
			assert.NotContains(t, text, "acct:4", "span %s: keys only with TraceKeys", s.Name())
		}
	}
}

func TestTraceKeysAddsKeysNotValues(t *testing.T) {
	const value = "value-7d1c-secret-payload"
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{TraceKeys: true}))
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "acct:42", value, 0))
	require.NoError(t, c.MSet(ctx, map[string]any{"a": value, "b": value}, 0))
	_, err := GetOrSet(ctx, c, "acct:43", 0, func(context.Context) (string, error) { return value, nil })
	require.NoError(t, err)
	require.NoError(t, c.Ping(ctx))

	spans := k.spans.Ended()
	set := spansNamed(spans, "set")
	require.NotEmpty(t, set)
	key, ok := spanAttr(set[0], "db.redis.key")
	require.True(t, ok)
	assert.Contains(t, []string{"trading:acct:42", "trading:acct:43"}, key)

	var pipe sdktrace.ReadOnlySpan
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "redis.pipeline") {
			pipe = s
		}
	}
	require.NotNil(t, pipe, "the MSet pipeline's span")
	keys, _ := spanAttr(pipe, "db.redis.keys")
	assert.Contains(t, keys, "trading:a")
	assert.Contains(t, keys, "trading:b")

	gs := spansNamed(spans, spanGetOrSet)
	require.Len(t, gs, 1)
	key, _ = spanAttr(gs[0], "redisclient.key")
	assert.Equal(t, "trading:acct:43", key)

	ping := spansNamed(spans, "ping")
	require.NotEmpty(t, ping)
	_, ok = spanAttr(ping[0], "db.redis.key")
	assert.False(t, ok, "PING has no key")

	for _, s := range spans {
		for _, text := range spanTexts(s) {
			assert.NotContains(t, text, "secret-payload", "span %s", s.Name())
		}
	}
}

func TestCommandKey(t *testing.T) {
	ctx := context.Background()
	c, _ := newMiniredisClient(t, Options{})
	rdb := c.Redis()
	for _, tc := range []struct {
		cmd  redis.Cmder
		want string
	}{
		{rdb.Get(ctx, "k1"), "k1"},
		{rdb.Set(ctx, "k2", "v", 0), "k2"},
		{rdb.HSet(ctx, "h", "f", "v"), "h"},
		{rdb.Publish(ctx, "chan", "msg"), "chan"},
		{rdb.Ping(ctx), ""},
		{rdb.Scan(ctx, 0, "*", 10), ""},
		{rdb.Eval(ctx, "return 1", []string{"k"}), ""},
		{rdb.Info(ctx), ""},
	} {
		got, _ := commandKey(tc.cmd)
		assert.Equal(t, tc.want, got, "%v", tc.cmd.Args())
	}
}

// TestNoProvidersInstallsNothing: with no provider in Options and none
// installed globally, the client makes no spans, installs no command hooks
// and so costs what it did before.
func TestNoProvidersInstallsNothing(t *testing.T) {
	requireOtelDefaults(t)
	c, _ := newMiniredisClient(t, Options{})
	assert.Nil(t, c.shared.tel.tracer)
	for _, o := range []Options{
		{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()},
		{},
	} {
		_, tracing := installedTracerProvider(o.TracerProvider)
		assert.False(t, tracing)
		assert.False(t, installedMeterProvider(o.MeterProvider))
	}
	if !raceEnabled {
		ctx := context.Background()
		require.NoError(t, c.Set(ctx, "k", "v", 0))
		plain := testing.AllocsPerRun(200, func() { _ = c.Redis().Get(ctx, "trading:k").Err() })
		k := newTelemetryKit(t)
		traced, _ := newMiniredisClient(t, k.with(Options{}))
		require.NoError(t, traced.Set(ctx, "k", "v", 0))
		withSDK := testing.AllocsPerRun(200, func() { _ = traced.Redis().Get(ctx, "trading:k").Err() })
		assert.Greater(t, withSDK, plain+3, "the providers' hooks are what costs; without them nothing is installed")
	}
}

// requireOtelDefaults skips unless the otel globals are still otel's
// placeholders; tests that install globals set them back to no-op providers.
func requireOtelDefaults(t *testing.T) {
	t.Helper()
	if !isOtelDefault(otel.GetTracerProvider()) || !isOtelDefault(otel.GetMeterProvider()) {
		_, tracing := installedTracerProvider(nil)
		require.False(t, tracing || installedMeterProvider(nil), "a test left a recording global provider installed")
	}
}

// TestGlobalProviders: nil providers mean the otel globals. Command spans
// and metrics follow the globals installed before New; the library's
// instruments also follow a meter provider installed later.
func TestGlobalProviders(t *testing.T) {
	requireOtelDefaults(t)
	ns := uniqueNamespace(t)
	before, _ := newMiniredisClient(t, Options{Namespace: ns + "_before"})

	k := newTelemetryKit(t)
	otel.SetTracerProvider(k.tp)
	otel.SetMeterProvider(k.mp)
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
	})
	after, _ := newMiniredisClient(t, Options{Namespace: ns})
	ctx := testCtx(t)
	for _, c := range []*Client{after, before} {
		_, err := GetOrSet(ctx, c, "k", 0, func(context.Context) (int, error) { return 1, nil })
		require.NoError(t, err)
	}
	assert.NotEmpty(t, spansNamed(k.spans.Ended(), "get"), "command spans of the client made after the global was set")
	assert.Len(t, spansNamed(k.spans.Ended(), spanGetOrSet), 1, "only that client traces")

	m := k.collect(t)
	assert.Equal(t, 1.0, m.sum("redisclient.cache.loads", "redisclient.namespace", ns))
	assert.Equal(t, 1.0, m.sum("redisclient.cache.loads", "redisclient.namespace", ns+"_before"),
		"the library's instruments follow a provider installed after New")
	assert.Positive(t, m.sum("db.client.connections.use_time", "pool.name", after.shared.opts.Addr))
	assert.Zero(t, m.sum("db.client.connections.use_time", "pool.name", before.shared.opts.Addr))
}

// TestCloseUnregistersInstruments: a closed client is no longer observed,
// neither its own instruments nor redisotel's pool statistics.
func TestCloseUnregistersInstruments(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{Namespace: "closing"}))
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", 1, 0))
	m := k.collect(t)
	require.True(t, m.has("redisclient.cache.hits", "redisclient.namespace", "closing"))
	require.True(t, m.has("db.client.connections.usage"))
	require.NoError(t, c.Close())
	m = k.collect(t)
	assert.Empty(t, m.names("redisclient."), "closed client still observed")
	assert.Empty(t, m["db.client.connections.usage"], "closed client's pool still observed")
}

// TestTrackedMeterDropsLateRegistrations: a registration made after Close
// (a cluster node created by a command in flight) is dropped at once.
func TestTrackedMeterDropsLateRegistrations(t *testing.T) {
	k := newTelemetryKit(t)
	p := &trackedMeterProvider{MeterProvider: k.mp}
	p.close()
	m := p.Meter("x")
	g, err := m.Int64ObservableGauge("late.gauge")
	require.NoError(t, err)
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 1)
		return nil
	}, g)
	require.NoError(t, err)
	assert.Empty(t, k.collect(t)["late.gauge"])
}

func ExampleOptions_telemetry() {
	// Hand the client the application's providers (or install them as the
	// otel globals before creating the client).
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider()
	c, err := New(Options{Addr: "localhost:6379", TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println(c.Name())
	// Output: trading
}

// TestCommandTelemetryPerClusterNode: on Redis Cluster every node's client
// is instrumented, so spans and pool metrics name the node that served the
// command.
func TestCommandTelemetryPerClusterNode(t *testing.T) {
	k := newTelemetryKit(t)
	c := newClusterClient(t, k.with(Options{}))
	ctx := testCtx(t)
	for i := range 30 {
		require.NoError(t, c.Set(ctx, fmt.Sprintf("k%d", i), i, 0))
	}
	ports := map[string]bool{}
	for _, s := range spansNamed(k.spans.Ended(), "set") {
		port, ok := spanAttr(s, "server.port")
		require.True(t, ok)
		ports[port] = true
	}
	assert.Len(t, ports, clusterMasters, "30 keys spread over every master")

	m := k.collect(t)
	pools := map[string]bool{}
	for _, p := range m["db.client.connections.use_time"] {
		pools[p.attrs["pool.name"]] = true
	}
	assert.GreaterOrEqual(t, len(pools), clusterMasters, "command durations per node: %v", pools)
	assert.GreaterOrEqual(t, len(m["db.client.connections.usage"]), 2*clusterMasters, "pool usage per node, idle and used")
	assert.GreaterOrEqual(t, m.sum("redisclient.pool.hits")+m.sum("redisclient.pool.misses"), 30.0, "pool totals over the nodes")
}

// TestCommandTelemetryUnderSentinel: the Sentinel-managed master's client is
// instrumented; its pool is named after the master.
func TestCommandTelemetryUnderSentinel(t *testing.T) {
	k := newTelemetryKit(t)
	c := newSentinelClient(t, k.with(Options{}))
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", 1, 0))
	var v int
	require.NoError(t, c.Get(ctx, "k", &v))
	assert.NotEmpty(t, spansNamed(k.spans.Ended(), "set"))
	assert.NotEmpty(t, spansNamed(k.spans.Ended(), "get"))
	m := k.collect(t)
	assert.Positive(t, m.sum("db.client.connections.use_time", "pool.name", "sentinel/"+c.shared.opts.MasterName))
}

// exporterConfig stands for what a real provider holds: exporters with
// endpoints and authorization headers.
type exporterConfig struct{ Headers map[string]string }

type tracerProviderWithSecret struct {
	tracenoop.TracerProvider
	Exporter *exporterConfig
}

type meterProviderWithSecret struct {
	metricnoop.MeterProvider
	Exporter *exporterConfig
}

// TestOptionsPrintProvidersByTypeOnly: printing or logging Options never
// shows what the providers hold; logging names their types.
func TestOptionsPrintProvidersByTypeOnly(t *testing.T) {
	const secret = "Bearer sk-live-4f9a"
	cfg := &exporterConfig{Headers: map[string]string{"Authorization": secret}}
	o := Options{
		Namespace:      "orders",
		TracerProvider: &tracerProviderWithSecret{Exporter: cfg},
		MeterProvider:  &meterProviderWithSecret{Exporter: cfg},
		TraceKeys:      true,
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%20v", "%#x", "% x", "%+q"} {
		for _, out := range []string{fmt.Sprintf(verb, o), fmt.Sprintf(verb, &o), fmt.Sprintf(verb, []any{o})} {
			require.NotContains(t, out, secret, verb)
			require.NotContains(t, out, "Authorization", verb)
		}
	}

	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("connecting", "options", o)
	assert.NotContains(t, buf.String(), secret)
	assert.Contains(t, buf.String(), `"tracer_provider":"*redisclient.tracerProviderWithSecret"`)
	assert.Contains(t, buf.String(), `"trace_keys":true`)
}
