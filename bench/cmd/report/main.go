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
