package bench

import (
	"context"
	"errors"
	"testing"

	"github.com/systemtrader/redisclient"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// discardSpans is a span exporter that drops what it is given, so the
// benchmark measures recording and batching, not an exporter's I/O.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// telemetrySetups are the configurations BenchmarkTelemetry compares: no
// provider (the base, what a service that installs none pays), the SDK's
// meter provider, its tracer provider (every span sampled, batched to an
// exporter that discards), and both.
func telemetrySetups(b *testing.B) []struct {
	name string
	tp   trace.TracerProvider
	mp   metric.MeterProvider
} {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discardSpans{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return []struct {
		name string
		tp   trace.TracerProvider
		mp   metric.MeterProvider
	}{
		{"none", nil, nil},
		{"metrics", nil, mp},
		{"traces", tp, nil},
		{"both", tp, mp},
	}
}

// BenchmarkTelemetry measures what OpenTelemetry costs per call, with the
// network cut out as in Overhead: Get, Set, a prediction Set+Get (the same
// operations as Overhead's impl=lib) and a GetOrSet hit, on the library with
// no provider (impl=none, the base), with the SDK's meter provider, its
// tracer provider, and both. The otel globals stay unset, so impl=none is
// the library as a service without telemetry runs it. No server needed.
func BenchmarkTelemetry(b *testing.B) {
	setups := telemetrySetups(b)
	libs := make([]*redisclient.Client, len(setups))
	for i, s := range setups {
		lib, err := redisclient.New(redisclient.Options{Addr: "127.0.0.1:1", TracerProvider: s.tp, MeterProvider: s.mp})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { lib.Close() })
		lib.Redis().AddHook(&stubServer{vals: map[string]string{}})
		libs[i] = lib
	}
	for _, op := range telemetryOps {
		b.Run("op="+op.name, func(b *testing.B) {
			for i, s := range setups {
				b.Run("impl="+s.name, func(b *testing.B) {
					fn := op.op(libs[i])
					ctx := context.Background()
					if err := fn(ctx); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if err := fn(ctx); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

var telemetryOps = []struct {
	name string
	op   func(lib *redisclient.Client) func(context.Context) error
}{
	{"get", func(lib *redisclient.Client) func(context.Context) error {
		_ = lib.Set(context.Background(), "telemetry:get", value200, ttl)
		return func(ctx context.Context) error {
			var s string
			if err := lib.Get(ctx, "telemetry:get", &s); err != nil {
				return err
			}
			return checkString(s)
		}
	}},
	{"set", func(lib *redisclient.Client) func(context.Context) error {
		return func(ctx context.Context) error { return lib.Set(ctx, "telemetry:set", value200, ttl) }
	}},
	{"prediction", func(lib *redisclient.Client) func(context.Context) error {
		p := samplePrediction(0)
		hash := hashOf("telemetry")
		return func(ctx context.Context) error {
			if err := lib.CacheModelPrediction(ctx, "lstm", hash, &p, ttl); err != nil {
				return err
			}
			var got Prediction
			if err := lib.GetCachedModelPrediction(ctx, "lstm", hash, &got); err != nil {
				return err
			}
			if got.Signal != p.Signal {
				return errors.New("read back another prediction")
			}
			return nil
		}
	}},
	{"getorset", func(lib *redisclient.Client) func(context.Context) error {
		p := samplePrediction(0)
		load := func(context.Context) (Prediction, error) { return p, nil }
		return func(ctx context.Context) error {
			got, err := redisclient.GetOrSet(ctx, lib, "telemetry:getorset", ttl, load)
			if err == nil && got.Signal != p.Signal {
				err = errors.New("GetOrSet returned another value")
			}
			return err
		}
	}},
}
