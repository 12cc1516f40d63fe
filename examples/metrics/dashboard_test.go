package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dashboardPath is the Grafana dashboard shipped in deploy/.
const dashboardPath = "../../deploy/grafana/redisclient.json"

// query is one PromQL expression of the dashboard and where it is used.
type query struct{ where, expr string }

// dashboardQueries returns every query of the dashboard: panel targets and
// template variables, rows' nested panels included.
func dashboardQueries(t *testing.T, d map[string]any) []query {
	t.Helper()
	var out []query
	var panels func(ps []any)
	panels = func(ps []any) {
		for _, p := range ps {
			pm := p.(map[string]any)
			title, _ := pm["title"].(string)
			for _, tg := range asSlice(pm["targets"]) {
				expr, _ := tg.(map[string]any)["expr"].(string)
				require.NotEmpty(t, expr, "panel %q has a target without expr", title)
				out = append(out, query{"panel " + title, expr})
			}
			panels(asSlice(pm["panels"]))
		}
	}
	panels(asSlice(d["panels"]))
	templating, _ := d["templating"].(map[string]any)
	for _, v := range asSlice(templating["list"]) {
		vm := v.(map[string]any)
		if vm["type"] != "query" {
			continue
		}
		q, _ := vm["query"].(map[string]any)
		expr, _ := q["query"].(string)
		require.NotEmpty(t, expr, "variable %v has no query", vm["name"])
		out = append(out, query{"variable " + vm["name"].(string), expr})
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

var (
	// seriesName matches the metric names of the library and of redisotel.
	seriesName = regexp.MustCompile(`\b(?:redisclient|db_client)_[a-z0-9_]+\b`)
	// groupings and matchers name the labels a query relies on.
	grouping = regexp.MustCompile(`\bby \(([^)]*)\)`)
	matcher  = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!~|!=|=)\s*"`)
	variable = regexp.MustCompile(`label_values\([^,]+,\s*([a-z_]+)\)`)
	selector = regexp.MustCompile(`\{[^}]*\}`)
)

// withoutLabels removes the label names of expr (groupings, selectors,
// label_values' label), leaving the series names.
func withoutLabels(expr string) string {
	expr = grouping.ReplaceAllString(expr, "by ()")
	expr = selector.ReplaceAllString(expr, "{}")
	return variable.ReplaceAllStringFunc(expr, func(m string) string { return m[:strings.LastIndex(m, ",")] + ")" })
}

// labelsAddedByPrometheus are attached at scrape time or by the query, not
// by the exporter.
var labelsAddedByPrometheus = map[string]bool{"job": true, "instance": true, "le": true}

// clusterOnlyLabels are on series only when the client runs on Redis
// Cluster, which this service does not; metrics_test.go and
// cluster_partial_test.go in the library check them.
var clusterOnlyLabels = map[string]bool{"redisclient_node": true}

// TestDashboardQueriesNameEmittedSeries: every query of the Grafana
// dashboard names at least one series, every series it names is one the
// exercised service exports, and every label it groups or filters by is on
// those series.
func TestDashboardQueriesNameEmittedSeries(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	var d map[string]any
	require.NoError(t, json.Unmarshal(raw, &d))
	assert.Equal(t, "redisclient", d["uid"])

	t.Setenv("REDIS_URL", "")
	base := startService(t)
	exercise(t, base)
	families := scrape(t, base)

	emitted := map[string]*dto.MetricFamily{}
	for name, f := range families {
		emitted[name] = f
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				emitted[name+suffix] = f
			}
		}
	}

	queries := dashboardQueries(t, d)
	require.GreaterOrEqual(t, len(queries), 15)
	for _, q := range queries {
		names := seriesName.FindAllString(withoutLabels(q.expr), -1)
		if !assert.NotEmpty(t, names, "%s: %s names no redisclient_* or db_client_* series", q.where, q.expr) {
			continue
		}
		labels := map[string]bool{}
		for _, name := range names {
			f, ok := emitted[name]
			if !assert.True(t, ok, "%s: series %s is not exported", q.where, name) {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = true
				}
			}
		}
		var used []string
		for _, g := range grouping.FindAllStringSubmatch(q.expr, -1) {
			for l := range strings.SplitSeq(g[1], ",") {
				used = append(used, strings.TrimSpace(l))
			}
		}
		for _, m := range matcher.FindAllStringSubmatch(q.expr, -1) {
			used = append(used, m[1])
		}
		for _, m := range variable.FindAllStringSubmatch(q.expr, -1) {
			used = append(used, m[1])
		}
		for _, l := range used {
			if l != "" && !labelsAddedByPrometheus[l] && !clusterOnlyLabels[l] {
				assert.True(t, labels[l], "%s: label %s is not on %v", q.where, l, names)
			}
		}
	}
}

// TestDashboardCoversTheTopics: the panels the dashboard is for are there.
func TestDashboardCoversTheTopics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	var d map[string]any
	require.NoError(t, json.Unmarshal(raw, &d))
	all := ""
	for _, q := range dashboardQueries(t, d) {
		all += q.expr + "\n"
	}
	for topic, series := range map[string]string{
		"hit ratio":       "redisclient_cache_hits_total",
		"loads":           "redisclient_cache_loads_total",
		"breaker":         "redisclient_breaker_state",
		"pub/sub drops":   "redisclient_pubsub_dropped_total",
		"command latency": "db_client_connections_use_time_milliseconds_bucket",
	} {
		assert.Contains(t, all, series, topic)
	}
}
