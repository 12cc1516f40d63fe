package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string) *group {
	t.Helper()
	f, err := os.Open("testdata/" + name + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := parse(name, f)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParse(t *testing.T) {
	g := parseFile(t, "HashInput")
	if got := strings.Join(g.impls, " "); got != "jsonsha256 lib python" {
		t.Errorf("impls = %q", got)
	}
	if got := strings.Join(g.rows, " "); got != "input=vec256 input=map20" {
		t.Errorf("rows = %q", got)
	}
	if got := strings.Join(g.units, " "); got != "sec/op B/op allocs/op" {
		t.Errorf("units = %q", got)
	}
	c := g.get("input=map20", "python", "sec/op")
	if !c.have || c.val != 2.7622500000000002e-05 || c.vs != "~" || c.p != "p=0.667 n=2" || c.ci != "∞" {
		t.Errorf("map20 python sec/op = %+v", c)
	}
	if c := g.get("input=vec256", "lib", "allocs/op"); c.val != 1 {
		t.Errorf("vec256 lib allocs/op = %+v", c)
	}
	if c := g.get("input=vec256", "jsonsha256", "B/op"); c.val != 4992 || c.vs != "" {
		t.Errorf("vec256 base B/op = %+v", c)
	}
}

func TestTargets(t *testing.T) {
	groups := map[string]*group{
		"HashInput": parseFile(t, "HashInput"),
		"Stampede":  parseFile(t, "Stampede"),
	}
	f, err := os.Open("testdata/raw.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	maxLoads, ok, err := maxMetric(f, "BenchmarkStampede/impl=lib-", "max-loads")
	if err != nil || !ok || maxLoads != 3 {
		t.Fatalf("maxMetric = %v, %v, %v; want 3", maxLoads, ok, err)
	}
	checks := checkTargets(groups, maxLoads)
	if len(checks) != 3 {
		t.Fatalf("got %d checks, want 3: %+v", len(checks), checks)
	}
	for _, c := range checks {
		wantOK := strings.HasPrefix(c.row, "HashInput/")
		if !c.known || c.ok != wantOK {
			t.Errorf("%s: ok=%v known=%v (%s), want ok=%v", c.row, c.ok, c.known, c.measured, wantOK)
		}
	}
}

func TestReport(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, "testdata/raw.txt", []string{"testdata/Stampede.csv", "testdata/HashInput.csv"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| input=vec256 | lib | 3.51 µs | 1 | 64 | 0.06× ~ | -2 |",
		"| - | gocache | 2.36 ms | 876 | 35762 | 0.32× ~ | -1711 | 1 | 1 |",
		"at most 3 loads in one op in any run | **missed** |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// Stampede comes after HashInput in the files but first in the report.
	if s, h := strings.Index(out.String(), "## Stampede"), strings.Index(out.String(), "## HashInput"); s < 0 || h < s {
		t.Errorf("group order wrong:\n%s", out.String())
	}
}

// set records one measurement in g, as parse would.
func set(g *group, row, impl, unit string, val float64, vs string) {
	g.rows = appendNew(g.rows, row)
	g.impls = appendNew(g.impls, impl)
	g.units = appendNew(g.units, unit)
	if g.data[row] == nil {
		g.data[row] = map[string]map[string]cell{}
	}
	if g.data[row][impl] == nil {
		g.data[row][impl] = map[string]cell{}
	}
	g.data[row][impl][unit] = cell{val: val, vs: vs, have: true}
}

func TestStreamTargets(t *testing.T) {
	add, consume := newGroup("StreamAdd"), newGroup("StreamConsume")
	for _, m := range []struct {
		row                string
		rawTime, libTime   float64
		rawAllocs, libAlls float64
	}{{"conc=seq", 100e-6, 105e-6, 9, 12}, {"conc=p8", 20e-6, 25e-6, 9, 12}} {
		set(add, m.row, "goredis", "sec/op", m.rawTime, "")
		set(add, m.row, "lib", "sec/op", m.libTime, "+5%")
		set(add, m.row, "goredis", "allocs/op", m.rawAllocs, "")
		set(add, m.row, "lib", "allocs/op", m.libAlls, "")
	}
	set(consume, "batch=10", "goredis", "msgs/s", 10000, "")
	set(consume, "batch=10", "lib", "msgs/s", 9500, "")
	set(consume, "batch=100", "goredis", "msgs/s", 50000, "")
	set(consume, "batch=100", "lib", "msgs/s", 40000, "")
	checks := checkTargets(map[string]*group{"StreamAdd": add, "StreamConsume": consume}, -1)
	want := map[string]bool{
		"StreamAdd/conc=seq":      true,  // 0.95× throughput
		"StreamAdd/conc=p8":       false, // 0.80×
		"StreamConsume/batch=10":  true,  // 0.95×
		"StreamConsume/batch=100": false, // 0.80×
	}
	if len(checks) != len(want) {
		t.Fatalf("got %d checks, want %d: %+v", len(checks), len(want), checks)
	}
	for _, c := range checks {
		if !c.known || c.ok != want[c.row] {
			t.Errorf("%s: ok=%v known=%v (%s), want ok=%v", c.row, c.ok, c.known, c.measured, want[c.row])
		}
	}
}

func TestDecodeTarget(t *testing.T) {
	g := newGroup("Decode")
	g.impls = []string{"raw", "checked", "lib"}
	g.rows = []string{"ser=msgpack", "ser=json"}
	set := func(row, impl, unit string, v float64) {
		if g.data[row] == nil {
			g.data[row] = map[string]map[string]cell{}
		}
		if g.data[row][impl] == nil {
			g.data[row][impl] = map[string]cell{}
		}
		g.data[row][impl][unit] = cell{val: v, have: true, ci: "1%"}
	}
	set("ser=msgpack", "raw", cpuUnit, 10e-6)
	set("ser=msgpack", "checked", cpuUnit, 10.4e-6)
	set("ser=msgpack", "raw", "allocs/op", 28)
	set("ser=msgpack", "checked", "allocs/op", 28)
	set("ser=json", "raw", "sec/op", 30e-6)
	set("ser=json", "checked", "sec/op", 33e-6)
	checks := checkTargets(map[string]*group{"Decode": g}, -1)
	if len(checks) != 2 {
		t.Fatalf("got %d checks: %+v", len(checks), checks)
	}
	if c := checks[0]; !c.known || !c.ok || !strings.Contains(c.measured, "1.040× CPU time") {
		t.Errorf("msgpack: %+v", c)
	}
	if c := checks[1]; !c.known || c.ok || !strings.Contains(c.measured, "1.100× time") {
		t.Errorf("json: %+v", c)
	}
}

func TestNearCacheTargets(t *testing.T) {
	hot, inv := newGroup("NearCache"), newGroup("NearCacheInvalidation")
	for _, m := range []struct {
		row            string
		lib, rue, allo float64
	}{
		{"read=string/conc=seq", 120e-9, 150e-9, 0},     // met
		{"read=string/conc=p8", 160e-9, 400e-9, 0},      // over 150 ns
		{"read=prediction/conc=seq", 200e-9, 900e-9, 0}, // met
		{"read=prediction/conc=p8", 200e-9, 300e-9, 1},  // only 1.5× faster
	} {
		set(hot, m.row, "lib", "sec/op", m.lib, "")
		set(hot, m.row, "rueidis", "sec/op", m.rue, "")
		set(hot, m.row, "lib", "allocs/op", m.allo, "")
	}
	set(inv, "", "lib", "p50-ms", 0.1, "")
	set(inv, "", "lib", "p99-ms", 6, "")
	want := map[string]bool{
		"NearCache/read=string/conc=seq":     true,
		"NearCache/read=string/conc=p8":      false,
		"NearCache/read=prediction/conc=seq": true,
		"NearCache/read=prediction/conc=p8":  false,
		"NearCacheInvalidation":              false,
	}
	checks := checkTargets(map[string]*group{"NearCache": hot, "NearCacheInvalidation": inv}, -1)
	if len(checks) != len(want) {
		t.Fatalf("got %d checks, want %d: %+v", len(checks), len(want), checks)
	}
	for _, c := range checks {
		if !c.known || c.ok != want[c.row] {
			t.Errorf("%s: ok=%v known=%v (%s), want ok=%v", c.row, c.ok, c.known, c.measured, want[c.row])
		}
	}
}

func TestChart(t *testing.T) {
	g := parseFile(t, "Concurrency")
	panels := chartPanels(g)
	if len(panels) != 2 || panels[0].op != "get" || panels[1].op != "set" {
		t.Fatalf("panels = %+v", panels)
	}
	for _, p := range panels {
		if len(p.series) != 4 {
			t.Errorf("%s: %d series, want 4", p.op, len(p.series))
		}
		for _, s := range p.series {
			if len(s.points) != 8 || s.points[0][0] != 1 || s.points[7][0] != 128 {
				t.Errorf("%s %s: points %v, want goroutines 1 to 128 in order", p.op, s.impl, s.points)
			}
		}
	}
	var out bytes.Buffer
	if err := writeChart(&out, g, "a <title>"); err != nil {
		t.Fatal(err)
	}
	svg := out.String()
	for _, want := range []string{"<svg ", "a &lt;title&gt;", ">GET<", ">SET<", "redisclient (auto-pipelining)", "go-redis AutoPipeline", "rueidis", ">128<", "</svg>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if n := strings.Count(svg, "<polyline "); n != 8 {
		t.Errorf("%d lines, want 8", n)
	}
	if err := writeChart(&out, parseFile(t, "HashInput"), "x"); err == nil {
		t.Error("a group without op=O/g=N rows drew a chart")
	}
}

func TestChartFile(t *testing.T) {
	path := t.TempDir() + "/c.svg"
	if err := chartFile(path, []string{"testdata/HashInput.csv", "testdata/Concurrency.csv"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), "<svg ") {
		t.Fatalf("read %q: %v", b, err)
	}
	if err := chartFile(path, []string{"testdata/HashInput.csv"}); err == nil {
		t.Error("no Concurrency.csv: want an error")
	}
}
