// Command metrics is a small service instrumented through redisclient's
// OpenTelemetry support. It serves the client's metrics (and redisotel's
// command and pool metrics) in the Prometheus text format at /metrics,
// through the otel Prometheus exporter, and the Redis health report at
// /healthz/redis.
//
// It uses REDIS_URL (and the library's other environment variables) when
// set; otherwise it starts an embedded miniredis so it runs anywhere. It
// listens on LISTEN_ADDR (default 127.0.0.1:8080):
//
//	go run .
//	REDIS_URL=redis://localhost:6379/0 LISTEN_ADDR=:9464 go run .
//
// Endpoints:
//
//	GET  /quote/{symbol}  a quote through GetOrSet, cached for 30 s; the
//	                      symbol FAIL makes the upstream fail
//	POST /ticks/{symbol}  publishes a tick; the service's own subscription
//	                      counts it
//	GET  /ticks/{symbol}  how many ticks the subscription received
//	GET  /metrics         Prometheus text format
//	GET  /healthz/redis   redisclient's HealthHandler
//
// It lives in a module of its own so that the exporter and the Prometheus
// client library never become requirements of the redisclient module.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/systemtrader/redisclient"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Quote is what the service caches.
type Quote struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
}

// Tick is what the service publishes and its subscription receives.
type Tick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("LISTEN_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		err = run(ctx, ln, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

// run serves on ln until ctx ends, writing what it does to w.
func run(ctx context.Context, ln net.Listener, w io.Writer) error {
	// The otel SDK with the Prometheus exporter as its reader, on a registry
	// of its own. A service that already has a MeterProvider passes that
	// one, or installs it with otel.SetMeterProvider before creating the
	// client.
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.WithoutCancel(ctx))

	client, done, err := connect(w, mp)
	if err != nil {
		return err
	}
	defer done()

	svc := &service{client: client, ticks: map[string]int{}}
	sub, err := client.Subscribe(ctx, svc.onTick, "ticks")
	if err != nil {
		return err
	}
	defer sub.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /quote/{symbol}", svc.quote)
	mux.HandleFunc("POST /ticks/{symbol}", svc.publishTick)
	mux.HandleFunc("GET /ticks/{symbol}", svc.tickCount)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz/redis", client.HealthHandler())

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(w, "serving on http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// connect returns a client reporting to mp, for REDIS_URL or an embedded
// miniredis, and a function that closes both.
func connect(w io.Writer, mp *sdkmetric.MeterProvider) (*redisclient.Client, func(), error) {
	opts := redisclient.Options{}
	closeServer := func() {}
	if os.Getenv("REDIS_URL") != "" {
		var err error
		if opts, err = redisclient.OptionsFromEnv(); err != nil {
			return nil, nil, err
		}
	} else {
		mr, err := miniredis.Run()
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintln(w, "REDIS_URL not set: using an embedded miniredis")
		opts.Addr = mr.Addr()
		closeServer = mr.Close
	}
	opts.MeterProvider = mp
	c, err := redisclient.New(opts)
	if err != nil {
		closeServer()
		return nil, nil, err
	}
	return c, func() { _ = c.Close(); closeServer() }, nil
}

type service struct {
	client *redisclient.Client

	mu    sync.Mutex
	ticks map[string]int
}

var errUpstream = errors.New("upstream quote service failed")

// quote serves a quote from the cache, loading it on a miss.
func (s *service) quote(w http.ResponseWriter, r *http.Request) {
	symbol := r.PathValue("symbol")
	q, err := redisclient.GetOrSet(r.Context(), s.client, "quote:"+symbol, 30*time.Second,
		func(context.Context) (Quote, error) {
			if symbol == "FAIL" {
				return Quote{}, errUpstream
			}
			return Quote{Symbol: symbol, Price: 100 + float64(len(symbol))}, nil
		})
	if err != nil {
		http.Error(w, "quote unavailable", http.StatusBadGateway)
		return
	}
	writeJSON(w, q)
}

// publishTick publishes a tick for the symbol.
func (s *service) publishTick(w http.ResponseWriter, r *http.Request) {
	t := Tick{Symbol: r.PathValue("symbol"), Price: 100}
	if _, err := s.client.Publish(r.Context(), "ticks", t); err != nil {
		http.Error(w, "publish failed", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// onTick is the subscription's handler.
func (s *service) onTick(_ context.Context, m redisclient.Message) error {
	var t Tick
	if err := m.Decode(&t); err != nil {
		return err
	}
	s.mu.Lock()
	s.ticks[t.Symbol]++
	s.mu.Unlock()
	return nil
}

func (s *service) tickCount(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := s.ticks[r.PathValue("symbol")]
	s.mu.Unlock()
	writeJSON(w, map[string]int{"ticks": n})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
