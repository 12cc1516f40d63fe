// Command scale prints the cost curves of the Scale benchmarks: for each
// benchmark and implementation, the median time, bytes and allocations per
// op at each size, the time per unit of size, the ratio to the group's base
// implementation (the first one in the output), and the growth exponent, the
// least-squares slope of log time against log size (1 is linear, 2
// quadratic), so a regression in how cost grows shows as a number. The
// extra column has the medians of the benchmark's own metrics (the PING
// p99 during a flush, the connections and memory subscriptions hold).
//
//	go test -run '^$' -bench Scale -benchmem -count 6 . | tee scale.txt
//	go run ./cmd/scale scale.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// line matches BenchmarkScaleX/size=N/impl=I-P and its measurements.
var line = regexp.MustCompile(`^Benchmark(Scale\w+)/size=(\d+)/impl=([\w-]+?)(?:-\d+)?\s+\d+\s+(.*)$`)

type point struct {
	ns, bytes, allocs []float64
	extra             map[string][]float64 // by unit: p99-µs, conns, ...
}

type curve struct {
	bench, impl string
	sizes       map[int]*point
	extraUnits  []string // in the order first seen
}

func main() {
	in := io.Reader(os.Stdin)
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	curves, err := parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	if len(curves) == 0 {
		fmt.Fprintln(os.Stderr, "scale: no BenchmarkScale results in the input")
		os.Exit(1)
	}
	write(os.Stdout, curves)
}

func parse(r io.Reader) ([]*curve, error) {
	var curves []*curve
	byName := map[string]*curve{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		size, _ := strconv.Atoi(m[2])
		name := m[1] + "/" + m[3]
		c := byName[name]
		if c == nil {
			c = &curve{bench: m[1], impl: m[3], sizes: map[int]*point{}}
			byName[name] = c
			curves = append(curves, c)
		}
		p := c.sizes[size]
		if p == nil {
			p = &point{extra: map[string][]float64{}}
			c.sizes[size] = p
		}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", sc.Text(), err)
			}
			switch unit := f[i+1]; unit {
			case "ns/op":
				p.ns = append(p.ns, v)
			case "B/op":
				p.bytes = append(p.bytes, v)
			case "allocs/op":
				p.allocs = append(p.allocs, v)
			default:
				if !slices.Contains(c.extraUnits, unit) {
					c.extraUnits = append(c.extraUnits, unit)
				}
				p.extra[unit] = append(p.extra[unit], v)
			}
		}
	}
	return curves, sc.Err()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// exponent is the least-squares slope of log(ns) against log(size).
func exponent(c *curve) float64 {
	var xs, ys []float64
	for size, p := range c.sizes {
		if ns := median(p.ns); size > 0 && ns > 0 {
			xs = append(xs, math.Log(float64(size)))
			ys = append(ys, math.Log(ns))
		}
	}
	if len(xs) < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(xs))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	return num / den
}

func write(w io.Writer, curves []*curve) {
	base := map[string]*curve{}
	for _, c := range curves {
		if base[c.bench] == nil {
			base[c.bench] = c
		}
	}
	fmt.Fprintln(w, "| benchmark | impl | size | time/op | per unit | ratio to base | B/op | allocs/op | allocs/unit | extra | runs |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range curves {
		sizes := slices.Sorted(func(yield func(int) bool) {
			for s := range c.sizes {
				if !yield(s) {
					return
				}
			}
		})
		for _, s := range sizes {
			p := c.sizes[s]
			ns := median(p.ns)
			ratio := "base"
			if b := base[c.bench]; b != c {
				if bp := b.sizes[s]; bp != nil {
					ratio = fmt.Sprintf("%.2fx", ns/median(bp.ns))
				} else {
					ratio = "-"
				}
			}
			var extra []string
			for _, unit := range c.extraUnits {
				vs := p.extra[unit]
				switch {
				case len(vs) == 0:
				case unit == "cpu-ns/op":
					extra = append(extra, "cpu "+duration(median(vs)))
				default:
					extra = append(extra, fmt.Sprintf("%s %s", unit, number(median(vs))))
				}
			}
			allocs := median(p.allocs)
			fmt.Fprintf(w, "| %s | %s | %d | %s | %.1f ns | %s | %.0f | %.0f | %.2f | %s | %d |\n",
				c.bench, c.impl, s, duration(ns), ns/float64(s), ratio, median(p.bytes), allocs, allocs/float64(s), strings.Join(extra, ", "), len(p.ns))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| benchmark | impl | growth exponent |")
	fmt.Fprintln(w, "|---|---|---:|")
	for _, c := range curves {
		fmt.Fprintf(w, "| %s | %s | %.2f |\n", c.bench, c.impl, exponent(c))
	}
}

// number prints a metric: whole numbers as such, small fractions with two
// decimals.
func number(v float64) string {
	if v == math.Trunc(v) || math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
