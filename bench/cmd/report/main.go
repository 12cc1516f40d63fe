// Command report turns benchstat CSV output into the Markdown tables of
// RESULTS.md: one table per benchmark group with time/op, allocs/op and the
// ratio to the group's base implementation (raw go-redis, or
// json.Marshal+sha256 for HashInput), then a check of the targets of issues
// 3, 9, 14, 15 and 18; with -svg, the chart of the Concurrency group
// (time/op against goroutines, chart.go).
//
// Usage:
//
//	report [-raw raw.txt] [-svg chart.svg] GROUP.csv...
//
// Each file is the output of
//
//	benchstat -format csv -col /impl -filter .name:GROUP raw.txt
//
// for one top-level benchmark; the file's base name (without .csv) names the
// group, and the first implementation column is the base of the ratios.
// With -raw, the stampede check also scans the raw benchmark output for the
// largest max-loads of any run, which benchstat's medians would hide.
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// cell is one implementation's summary of one unit for one row.
type cell struct {
	val  float64
	ci   string // benchstat's confidence interval, such as "3%" or "∞"
	vs   string // change vs the base, such as "+4.20%" or "~"; "" for the base
	p    string // "p=0.002 n=6"
	have bool
}

// group is one benchmark's results: rows (sub-benchmark names without the
// impl part) by implementation by unit.
type group struct {
	name  string
	impls []string // in column order; impls[0] is the base
	rows  []string // in order of appearance
	units []string // in order of appearance
	data  map[string]map[string]map[string]cell
}

func newGroup(name string) *group {
	return &group{name: name, data: map[string]map[string]map[string]cell{}}
}

func (g *group) get(row, impl, unit string) cell {
	return g.data[row][impl][unit]
}

func (g *group) base() string {
	if len(g.impls) == 0 {
		return ""
	}
	return g.impls[0]
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// procSuffix is the -GOMAXPROCS suffix of a benchmark name.
var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchstat's CSV: for each unit a header line naming the
// implementation columns, a line naming the sub-columns, data rows and a
// geomean row. Configuration lines ("goos: linux") come
// first and are skipped.
func parse(name string, r io.Reader) (*group, error) {
	g := newGroup(name)
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	var header, sub []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		// encoding/csv skips the blank lines between units: a line with an
		// empty first field after data rows starts the next unit.
		switch {
		case len(rec) <= 1:
			header, sub = nil, nil // configuration line
		case rec[0] == "" && (header == nil || sub != nil):
			header, sub = rec, nil
		case rec[0] == "":
			sub = rec
			for i := 1; i < len(header); i++ {
				if header[i] != "" {
					g.impls = appendNew(g.impls, header[i])
				}
			}
		case sub != nil && rec[0] == "geomean":
		case sub != nil:
			if err := g.addRow(header, sub, rec); err != nil {
				return nil, err
			}
		}
	}
	if len(g.rows) == 0 {
		return nil, fmt.Errorf("%s: no benchmark rows", name)
	}
	return g, nil
}

func (g *group) addRow(header, sub, rec []string) error {
	row := procSuffix.ReplaceAllString(rec[0], "")
	row = strings.TrimPrefix(row, g.name+"/")
	if row == g.name {
		row = "-"
	}
	impl := ""
	for i := 1; i < len(rec) && i < len(sub); i++ {
		if i < len(header) && header[i] != "" {
			impl = header[i]
		}
		if impl == "" {
			continue
		}
		c := g.data[row][impl][sub[i]]
		unit := sub[i]
		switch sub[i] {
		case "CI", "vs base", "P":
			unit = lastUnit(sub, i)
			c = g.data[row][impl][unit]
		}
		v := rec[i]
		switch sub[i] {
		case "CI":
			c.ci = v
		case "vs base":
			c.vs = v
		case "P":
			c.p = v
		default:
			if v == "" {
				continue
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%s %s %s: %q: %w", row, impl, unit, v, err)
			}
			c.val, c.have = f, true
			g.rows = appendNew(g.rows, row)
			g.units = appendNew(g.units, unit)
		}
		if g.data[row] == nil {
			g.data[row] = map[string]map[string]cell{}
		}
		if g.data[row][impl] == nil {
			g.data[row][impl] = map[string]cell{}
		}
		g.data[row][impl][unit] = c
	}
	return nil
}

// lastUnit returns the unit column that sub-column i belongs to.
func lastUnit(sub []string, i int) string {
	for ; i > 0; i-- {
		switch sub[i] {
		case "CI", "vs base", "P", "":
		default:
			return sub[i]
		}
	}
	return ""
}

// fmtTime formats seconds with a unit that keeps three or four digits.
func fmtTime(s float64) string {
	switch {
	case s >= 1:
		return fmt.Sprintf("%.3g s", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3g ms", s*1e3)
	case s >= 1e-6:
		return fmt.Sprintf("%.3g µs", s*1e6)
	}
	return fmt.Sprintf("%.3g ns", s*1e9)
}

func fmtNum(f float64) string {
	switch {
	case f == math.Trunc(f) && math.Abs(f) < 1e7:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case math.Abs(f) >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'g', 3, 64)
}

// noisy reports whether benchstat found no significant difference.
func noisy(c cell) bool { return c.vs == "~" }

func ci(c cell) string {
	if c.ci == "" || c.ci == "∞" || c.ci == "0%" {
		return ""
	}
	return " ±" + c.ci
}

// ratio formats a/b; "~" marks a difference benchstat found insignificant.
func ratio(a, b cell) string {
	if !a.have || !b.have || b.val == 0 {
		return ""
	}
	s := fmt.Sprintf("%.2f×", a.val/b.val)
	if noisy(a) {
		s += " ~"
	}
	return s
}

func diff(a, b cell) string {
	if !a.have || !b.have {
		return ""
	}
	return fmt.Sprintf("%+g", math.Round(a.val-b.val))
}

// cpuUnit is how benchstat names the benchmarks' cpu-ns/op metric.
const cpuUnit = "cpu-sec/op"

var unitTitle = map[string]string{
	"sec/op":    "time/op",
	"allocs/op": "allocs/op",
	"B/op":      "B/op",
}

func title(u string) string {
	if t, ok := unitTitle[u]; ok {
		return t
	}
	if u == cpuUnit {
		return "cpu/op"
	}
	return u
}

// writeTable writes g as one Markdown table: one line per row and
// implementation, the base's line first in each row.
func writeTable(w io.Writer, g *group) {
	base := g.base()
	cols := []string{"case", "impl", "time/op", "allocs/op", "B/op"}
	extra := []string{}
	for _, u := range g.units {
		if _, std := unitTitle[u]; !std {
			extra = append(extra, u)
		}
	}
	cols = append(cols, "time vs "+base, "allocs vs "+base)
	hasCPU := false
	for _, u := range extra {
		cols = append(cols, title(u))
		if u == cpuUnit {
			hasCPU = true
			cols = append(cols, "cpu vs "+base)
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cols, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(cols)))
	for _, row := range g.rows {
		for _, impl := range g.impls {
			t := g.get(row, impl, "sec/op")
			if !t.have {
				continue
			}
			a, by := g.get(row, impl, "allocs/op"), g.get(row, impl, "B/op")
			bt, ba := g.get(row, base, "sec/op"), g.get(row, base, "allocs/op")
			line := []string{row, impl, fmtTime(t.val) + ci(t), num(a), num(by), ratio(t, bt), diff(a, ba)}
			for _, u := range extra {
				c := g.get(row, impl, u)
				if strings.HasSuffix(u, "sec/op") {
					line = append(line, fmtTime(c.val)+ci(c))
				} else {
					line = append(line, num(c))
				}
				if u == cpuUnit && hasCPU {
					line = append(line, ratio(c, g.get(row, base, u)))
				}
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(line, " | "))
		}
	}
}

func num(c cell) string {
	if !c.have {
		return ""
	}
	return fmtNum(c.val)
}

// check is one target checked on one row.
type check struct {
	target, row, measured string
	ok, known, noise      bool
}

func verdict(c check) string {
	switch {
	case !c.known:
		return "not measured"
	case c.ok:
		return "met"
	case c.noise:
		return "**missed** (within noise)"
	}
	return "**missed**"
}

// maxMetric returns the largest value of unit on the raw benchmark lines
// whose name starts with prefix, and whether there was one.
func maxMetric(raw io.Reader, prefix, unit string) (float64, bool, error) {
	best, found := 0.0, false
	sc := bufio.NewScanner(raw)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			if f[i+1] != unit {
				continue
			}
			if v, err := strconv.ParseFloat(f[i], 64); err == nil && (!found || v > best) {
				best, found = v, true
			}
		}
	}
	return best, found, sc.Err()
}

// checkTargets evaluates the targets of issues 3, 9 and 18 on the groups
// present. stampedeMax is the largest max-loads of the library in any run,
// or -1 when unknown.
func checkTargets(groups map[string]*group, stampedeMax float64) []check {
	var out []check
	// perRow checks impl against base on every row of a group: ok and show
	// get the time ratio, impl's allocs/op and base's allocs/op.
	perRow := func(name, impl, base, target string, ok func(r, a, ba float64) bool, show func(r, a, ba float64) string) {
		g := groups[name]
		if g == nil {
			return
		}
		for _, row := range g.rows {
			t, bt := g.get(row, impl, "sec/op"), g.get(row, base, "sec/op")
			a, ba := g.get(row, impl, "allocs/op"), g.get(row, base, "allocs/op")
			c := check{target: target, row: name + "/" + row}
			if t.have && bt.have && a.have && ba.have && bt.val > 0 {
				r := t.val / bt.val
				c.known, c.ok, c.noise = true, ok(r, a.val, ba.val), noisy(t)
				c.measured = show(r, a.val, ba.val)
			}
			out = append(out, c)
		}
	}
	wrapperOK := func(r, a, ba float64) bool { return r <= 1.05 && a-ba <= 4 }
	wrapperShow := func(r, a, ba float64) string { return fmt.Sprintf("%.2f× time, %+g allocs/op", r, math.Round(a-ba)) }
	for _, name := range []string{"GetString", "SetString", "Prediction"} {
		perRow(name, "lib", "goredis", "lib ≤ 1.05× goredis time, ≤ +4 allocs/op", wrapperOK, wrapperShow)
	}
	// The wrapper's own cost measured without the network, as a share of
	// what a raw go-redis call costs on the network.
	if g := groups["Overhead"]; g != nil {
		for _, m := range []struct{ op, group string }{{"get", "GetString"}, {"set", "SetString"}, {"prediction", "Prediction"}} {
			row := "op=" + m.op
			lib, raw := g.get(row, "lib", "sec/op"), g.get(row, "goredis", "sec/op")
			la, ra := g.get(row, "lib", "allocs/op"), g.get(row, "goredis", "allocs/op")
			c := check{target: "wrapper CPU cost without network ≤ 5% of a goredis call, ≤ +4 allocs/op", row: "Overhead/" + row}
			var net cell
			if ng := groups[m.group]; ng != nil {
				net = ng.get("conc=seq", "goredis", "sec/op")
			}
			if lib.have && raw.have && la.have && ra.have && net.have {
				d := lib.val - raw.val
				c.known = true
				c.ok = d <= 0.05*net.val && la.val-ra.val <= 4
				c.measured = fmt.Sprintf("%+.0f ns, %+g allocs/op = %.1f%% of %s (%s conc=seq goredis)",
					d*1e9, math.Round(la.val-ra.val), 100*d/net.val, fmtTime(net.val), m.group)
			}
			out = append(out, c)
		}
	}
	if g := groups["Batch"]; g != nil {
		row := g.rows[0]
		lib, raw, seq := g.get(row, "lib", "sec/op"), g.get(row, "goredis", "sec/op"), g.get(row, "seq", "sec/op")
		c := check{target: "batch lib ≤ 1.10× goredis pipeline", row: "Batch"}
		if lib.have && raw.have {
			c.known, c.ok, c.noise = true, lib.val/raw.val <= 1.10, noisy(lib)
			c.measured = fmt.Sprintf("%.2f×", lib.val/raw.val)
		}
		out = append(out, c)
		c = check{target: "batch lib ≥ 20× faster than 1000 sequential gets", row: "Batch"}
		if lib.have && seq.have {
			c.known, c.ok = true, seq.val/lib.val >= 20
			c.measured = fmt.Sprintf("%.1f× faster", seq.val/lib.val)
		}
		out = append(out, c)
	}
	if g := groups["Stampede"]; g != nil {
		for _, row := range g.rows {
			l, m := g.get(row, "lib", "loads/op"), g.get(row, "lib", "max-loads")
			c := check{target: "stampede: exactly 1 load for 64 callers", row: "Stampede"}
			if l.have {
				c.known = true
				c.ok = l.val == 1 && (!m.have || m.val == 1)
				c.measured = fmt.Sprintf("%s loads/op (median of the runs' means)", fmtNum(l.val))
				if stampedeMax >= 0 {
					c.ok = c.ok && stampedeMax == 1
					c.measured += fmt.Sprintf("; at most %s loads in one op in any run", fmtNum(stampedeMax))
				}
			}
			out = append(out, c)
		}
	}
	if g := groups["PubSub"]; g != nil {
		for _, row := range g.rows {
			l, r := g.get(row, "lib", "msgs/s"), g.get(row, "goredis", "msgs/s")
			c := check{target: "pub/sub lib ≥ 0.9× goredis throughput", row: "PubSub/" + row}
			if l.have && r.have && r.val > 0 {
				c.known, c.ok = true, l.val/r.val >= 0.9
				c.noise = noisy(g.get(row, "lib", "sec/op"))
				c.measured = fmt.Sprintf("%.2f× (%s vs %s msgs/s)", l.val/r.val, fmtNum(l.val), fmtNum(r.val))
			}
			out = append(out, c)
		}
	}
	// Streams (issue 18): throughput at least 0.9× a hand-written go-redis
	// loop, that is time per op at most 1/0.9 of it.
	perRow("StreamAdd", "lib", "goredis", "stream Add lib ≥ 0.9× goredis XADD throughput",
		func(r, _, _ float64) bool { return r <= 1/0.9 },
		func(r, a, ba float64) string {
			return fmt.Sprintf("%.2f× throughput (%.2f× time), %+g allocs/op", 1/r, r, math.Round(a-ba))
		})
	if g := groups["StreamConsume"]; g != nil {
		for _, row := range g.rows {
			l, r := g.get(row, "lib", "msgs/s"), g.get(row, "goredis", "msgs/s")
			c := check{target: "stream consume+ack lib ≥ 0.9× goredis XREADGROUP+XACK throughput", row: "StreamConsume/" + row}
			if l.have && r.have && r.val > 0 {
				c.known, c.ok = true, l.val/r.val >= 0.9
				c.noise = noisy(g.get(row, "lib", "sec/op"))
				c.measured = fmt.Sprintf("%.2f× (%s vs %s msgs/s)", l.val/r.val, fmtNum(l.val), fmtNum(r.val))
			}
			out = append(out, c)
		}
	}
	// The decode limits: the serializer with its checks against the same
	// decoder without them, by CPU time when measured (wall time swings
	// with the machine's load).
	if g := groups["Decode"]; g != nil {
		for _, row := range g.rows {
			c := check{target: "decode with the limits ≤ 1.05× the decoder alone", row: "Decode/" + row}
			unit := cpuUnit
			if !g.get(row, "checked", unit).have {
				unit = "sec/op"
			}
			t, bt := g.get(row, "checked", unit), g.get(row, "raw", unit)
			a, ba := g.get(row, "checked", "allocs/op"), g.get(row, "raw", "allocs/op")
			if t.have && bt.have && bt.val > 0 {
				r := t.val / bt.val
				c.known, c.ok, c.noise = true, r <= 1.05 && (!a.have || !ba.have || a.val <= ba.val), noisy(t)
				c.measured = fmt.Sprintf("%.3f× %s", r, map[bool]string{true: "CPU time", false: "time"}[unit == cpuUnit])
				if w, bw := g.get(row, "checked", "sec/op"), g.get(row, "raw", "sec/op"); unit == cpuUnit && w.have && bw.have && bw.val > 0 {
					c.measured += fmt.Sprintf(" (%.3f× wall time)", w.val/bw.val)
				}
				if a.have && ba.have {
					c.measured += fmt.Sprintf(", %+g allocs/op", math.Round(a.val-ba.val))
				}
			}
			out = append(out, c)
		}
	}
	out = append(out, autoPipelineTargets(groups)...)
	perRow("HashInput", "lib", "jsonsha256", "HashInput ≤ 0.5× json.Marshal+sha256 time, ≤ 2 allocs/op",
		func(r, a, _ float64) bool { return r <= 0.5 && a <= 2 },
		func(r, a, _ float64) string { return fmt.Sprintf("%.2f× time, %s allocs/op", r, fmtNum(a)) })
	return append(out, nearCacheTargets(groups)...)
}

// nearCacheTargets evaluates the near cache's targets (issue 14): hot reads
// against rueidis DoCache in absolute time, allocations and ratio, and the
// invalidation delay's median and 99th percentile.
func nearCacheTargets(groups map[string]*group) []check {
	var out []check
	if g := groups["NearCache"]; g != nil {
		for _, row := range g.rows {
			lib, rue := g.get(row, "lib", "sec/op"), g.get(row, "rueidis", "sec/op")
			a := g.get(row, "lib", "allocs/op")
			str := strings.Contains(row, "read=string")
			c := check{target: "hot read of the prediction struct ≤ 250 ns, ≤ 1 alloc/op, ≥ 2× faster than rueidis DoCache + msgpack decode", row: "NearCache/" + row}
			if str {
				c.target = "hot read of a 200 B string ≤ 150 ns, 0 allocs/op, faster than rueidis DoCache"
			}
			if lib.have && rue.have && a.have && lib.val > 0 {
				speedup := rue.val / lib.val
				c.known, c.noise = true, noisy(lib)
				if str {
					c.ok = lib.val <= 150e-9 && a.val == 0 && speedup > 1
				} else {
					c.ok = lib.val <= 250e-9 && a.val <= 1 && speedup >= 2
				}
				c.measured = fmt.Sprintf("%s, %s allocs/op, %.1f× faster than rueidis", fmtTime(lib.val), fmtNum(a.val), speedup)
			}
			out = append(out, c)
		}
	}
	if g := groups["NearCacheInvalidation"]; g != nil {
		for _, row := range g.rows {
			p50, p99 := g.get(row, "lib", "p50-ms"), g.get(row, "lib", "p99-ms")
			c := check{target: "invalidation (another client's SET to the new value served) p50 ≤ 1 ms, p99 ≤ 5 ms", row: "NearCacheInvalidation"}
			if p50.have && p99.have {
				c.known, c.ok = true, p50.val <= 1 && p99.val <= 5
				c.measured = fmt.Sprintf("p50 %s ms, p99 %s ms (medians of the runs')", fmtNum(p50.val), fmtNum(p99.val))
			}
			out = append(out, c)
		}
	}
	return out
}

// autoPipelineTargets evaluates the targets of issue 15 (adaptive
// auto-pipelining) on GetString, SetString and Prediction: at 64 goroutines
// the library within 0.8× rueidis's time per op, at 8 within 1.1×, alone no
// slower than 1.05× the library without auto-pipelining (libdirect), and
// never more allocations per op than libdirect.
func autoPipelineTargets(groups map[string]*group) []check {
	var out []check
	limits := []struct {
		row, base string
		max       float64
	}{{"conc=p64", "rueidis", 0.8}, {"conc=p8", "rueidis", 1.1}, {"conc=seq", "libdirect", 1.05}}
	for _, name := range []string{"GetString", "SetString", "Prediction"} {
		g := groups[name]
		if g == nil {
			continue
		}
		for _, l := range limits {
			c := check{target: fmt.Sprintf("auto-pipelining: lib ≤ %g× %s time", l.max, l.base), row: name + "/" + l.row}
			t, bt := g.get(l.row, "lib", "sec/op"), g.get(l.row, l.base, "sec/op")
			if t.have && bt.have && bt.val > 0 {
				r := t.val / bt.val
				c.known, c.ok = true, r <= l.max
				c.measured = fmt.Sprintf("%.2f× (%s%s vs %s%s)", r, fmtTime(t.val), ci(t), fmtTime(bt.val), ci(bt))
			}
			out = append(out, c)
		}
		// The lone caller's cost without the network's noise: Overhead's
		// lib − libdirect CPU time against a libdirect call on loopback.
		if og, op := groups["Overhead"], overheadOp[name]; og != nil {
			c := check{target: "auto-pipelining: lone caller ≤ 1.05× libdirect (Overhead delta against a libdirect call)", row: "Overhead/op=" + op}
			l, d := og.get("op="+op, "lib", "sec/op"), og.get("op="+op, "libdirect", "sec/op")
			call := g.get("conc=seq", "libdirect", "sec/op")
			if l.have && d.have && call.have && call.val > 0 {
				delta := l.val - d.val
				c.known, c.ok, c.noise = true, delta <= 0.05*call.val, noisy(l)
				c.measured = fmt.Sprintf("%+.0f ns = %.2f%% of %s (%s conc=seq libdirect)", delta*1e9, 100*delta/call.val, fmtTime(call.val), name)
			}
			out = append(out, c)
		}
		for _, row := range g.rows {
			c := check{target: "auto-pipelining: lib allocs/op ≤ libdirect", row: name + "/" + row}
			a, ba := g.get(row, "lib", "allocs/op"), g.get(row, "libdirect", "allocs/op")
			if a.have && ba.have {
				c.known, c.ok = true, a.val <= ba.val
				c.measured = fmt.Sprintf("%s vs %s", fmtNum(a.val), fmtNum(ba.val))
			}
			out = append(out, c)
		}
	}
	return out
}

// overheadOp names the Overhead row of each network group.
var overheadOp = map[string]string{"GetString": "get", "SetString": "set", "Prediction": "prediction"}

func writeTargets(w io.Writer, checks []check) {
	fmt.Fprintln(w, "| target | case | measured | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, c := range checks {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.target, c.row, c.measured, verdict(c))
	}
}

// order is the order of the groups in the report.
var order = []string{"GetString", "SetString", "Prediction", "Concurrency", "Overhead", "Decode", "PythonCodec", "Batch", "Stampede", "PubSub", "StreamAdd", "StreamConsume", "HashInput", "NearCache", "NearCacheInvalidation"}

func main() {
	raw := flag.String("raw", "", "raw `file` of benchmark output, for the stampede's largest max-loads")
	svg := flag.String("svg", "", "write the Concurrency group's chart (time/op against goroutines) to `file`")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: report [-raw raw.txt] [-svg chart.svg] GROUP.csv...  (benchstat -format csv -col /impl output, one file per benchmark)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, *raw, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if *svg != "" {
		if err := chartFile(*svg, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
}

// chartTitle heads the concurrency chart.
const chartTitle = "GET and SET of a 200-byte string on one loopback redis-server: time per op (lower is better)"

// chartFile writes the chart of the Concurrency group among files to path.
func chartFile(path string, files []string) error {
	for _, f := range files {
		if strings.TrimSuffix(filepath.Base(f), ".csv") != "Concurrency" {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		g, err := parse("Concurrency", fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		out, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := writeChart(out, g, chartTitle); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	return errors.New("-svg: no Concurrency.csv among the files")
}

func run(w io.Writer, raw string, files []string) error {
	stampedeMax := -1.0
	if raw != "" {
		fh, err := os.Open(raw)
		if err != nil {
			return err
		}
		m, ok, err := maxMetric(fh, "BenchmarkStampede/impl=lib-", "max-loads")
		fh.Close()
		if err != nil {
			return err
		}
		if ok {
			stampedeMax = m
		}
	}
	groups := map[string]*group{}
	var names []string
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".csv")
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		g, err := parse(name, fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		groups[name] = g
		names = append(names, name)
	}
	sorted := make([]string, 0, len(names))
	for _, n := range order {
		if groups[n] != nil {
			sorted = append(sorted, n)
		}
	}
	for _, n := range names {
		sorted = appendNew(sorted, n)
	}
	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	writeTargets(w, checkTargets(groups, stampedeMax))
	for _, n := range sorted {
		fmt.Fprintf(w, "\n## %s\n\n", n)
		writeTable(w, groups[n])
	}
	return nil
}
