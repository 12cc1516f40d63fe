package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// startService runs the service on a free loopback port until the test
// ends and returns its base URL.
func startService(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	out := &testkit.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("service did not stop within 10 s")
		}
	})
	base := "http://" + ln.Addr().String()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "serving on") },
		10*time.Second, 10*time.Millisecond, "service output: %s", out)
	return base
}

func request(t *testing.T, method, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// scrape reads /metrics over HTTP and parses the Prometheus text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := request(t, http.MethodGet, base+"/metrics")
	require.Equal(t, http.StatusOK, code, body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	return families
}

// value sums the samples of family name (counters, gauges, or a
// histogram's count) whose labels include every label=value pair of match.
func value(families map[string]*dto.MetricFamily, name string, match ...string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	var total float64
	found := false
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		matches := true
		for i := 0; i+1 < len(match); i += 2 {
			if labels[match[i]] != match[i+1] {
				matches = false
			}
		}
		if !matches {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total, found
}

// exercise drives the service: a cached quote read three times, a quote
// whose upstream fails, and five ticks through pub/sub. It returns the
// namespace the metrics are labelled with.
func exercise(t *testing.T, base string) {
	t.Helper()
	for range 3 {
		code, body := request(t, http.MethodGet, base+"/quote/AAPL")
		require.Equal(t, http.StatusOK, code, body)
		var q Quote
		require.NoError(t, json.Unmarshal([]byte(body), &q))
		assert.Equal(t, Quote{Symbol: "AAPL", Price: 104}, q)
	}
	code, _ := request(t, http.MethodGet, base+"/quote/FAIL")
	require.Equal(t, http.StatusBadGateway, code)
	for range 5 {
		code, body := request(t, http.MethodPost, base+"/ticks/AAPL")
		require.Equal(t, http.StatusAccepted, code, body)
	}
	require.Eventually(t, func() bool {
		_, body := request(t, http.MethodGet, base+"/ticks/AAPL")
		return strings.TrimSpace(body) == `{"ticks":5}`
	}, 10*time.Second, 10*time.Millisecond)
}

// checkMetrics asserts the series a scrape of the exercised service holds.
func checkMetrics(t *testing.T, base, ns string) {
	t.Helper()
	families := scrape(t, base)
	want := []struct {
		name  string
		value float64
	}{
		{"redisclient_cache_hits_total", 2},
		{"redisclient_cache_misses_total", 2},
		{"redisclient_cache_loads_total", 2},
		{"redisclient_cache_load_errors_total", 1},
		{"redisclient_cache_redis_errors_total", 0},
		{"redisclient_pubsub_subscriptions", 1},
		{"redisclient_pubsub_received_total", 5},
		{"redisclient_pubsub_delivered_total", 5},
		{"redisclient_pubsub_dropped_total", 0},
		{"redisclient_pubsub_handler_errors_total", 0},
	}
	for _, w := range want {
		got, ok := value(families, w.name, "redisclient_namespace", ns)
		if assert.True(t, ok, "series %s{redisclient_namespace=%q} missing", w.name, ns) {
			assert.Equal(t, w.value, got, w.name)
		}
	}
	for name, min := range map[string]float64{
		"redisclient_breaker_state":                    0,
		"redisclient_pool_connections":                 1,
		"redisclient_pool_hits_total":                  1,
		"redisclient_retries_total":                    0,
		"redisclient_pubsub_handler_lag_seconds_total": 0,
		"db_client_connections_use_time_milliseconds":  10, // redisotel: every command's duration
	} {
		got, ok := value(families, name)
		if assert.True(t, ok, "series %s missing", name) {
			assert.GreaterOrEqual(t, got, min, name)
		}
	}
	state, _ := value(families, "redisclient_breaker_state")
	assert.Equal(t, 0.0, state, "breaker closed")
	assert.Equal(t, dto.MetricType_HISTOGRAM, families["db_client_connections_use_time_milliseconds"].GetType())

	code, body := request(t, http.MethodGet, base+"/healthz/redis")
	assert.Equal(t, http.StatusOK, code, body)
	var health struct{ Status string }
	require.NoError(t, json.Unmarshal([]byte(body), &health))
	assert.Equal(t, "healthy", health.Status)
}

func TestEmbedded(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	base := startService(t)
	exercise(t, base)
	checkMetrics(t, base, "trading")
}

// TestRedisURL runs the service against the integration server, in a
// namespace of its own.
func TestRedisURL(t *testing.T) {
	ns := fmt.Sprintf("example_metrics_%d", os.Getpid())
	testkit.SetLibraryEnv(t, "REDIS_URL", testkit.RequireEnv(t, testkit.EnvURL), "REDIS_NAMESPACE", ns)
	base := startService(t)
	exercise(t, base)
	checkMetrics(t, base, ns)
}
