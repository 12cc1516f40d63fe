package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

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

// checkTargets evaluates the targets of issues 3, 9, 14, 15 and 18 on the
// groups present, one group's checks after another. stampedeMax is the
// largest max-loads of the library in any run, or -1 when unknown.
func checkTargets(groups map[string]*group, stampedeMax float64) []check {
	var out []check
	for _, part := range [][]check{
		wrapperTargets(groups),
		overheadTargets(groups),
		batchTargets(groups["Batch"]),
		stampedeTargets(groups["Stampede"], stampedeMax),
		pubSubTargets(groups["PubSub"]),
		streamAddTarget.perRow("StreamAdd", groups["StreamAdd"]),
		streamConsumeTargets(groups["StreamConsume"]),
		decodeTargets(groups["Decode"]),
		autoPipelineTargets(groups),
		hashInputTarget.perRow("HashInput", groups["HashInput"]),
		nearCacheTargets(groups),
	} {
		out = append(out, part...)
	}
	return out
}

// ratioTarget is a target on impl against base, checked on every row of a
// group: ok and show get the time ratio, impl's allocs/op and base's
// allocs/op.
type ratioTarget struct {
	impl, base, target string
	ok                 func(r, a, ba float64) bool
	show               func(r, a, ba float64) string
}

// perRow checks t on every row of g, the group called name; none if g is nil.
func (t ratioTarget) perRow(name string, g *group) []check {
	if g == nil {
		return nil
	}
	var out []check
	for _, row := range g.rows {
		tm, bt := g.get(row, t.impl, "sec/op"), g.get(row, t.base, "sec/op")
		a, ba := g.get(row, t.impl, "allocs/op"), g.get(row, t.base, "allocs/op")
		c := check{target: t.target, row: name + "/" + row}
		if tm.have && bt.have && a.have && ba.have && bt.val > 0 {
			r := tm.val / bt.val
			c.known, c.ok, c.noise = true, t.ok(r, a.val, ba.val), noisy(tm)
			c.measured = t.show(r, a.val, ba.val)
		}
		out = append(out, c)
	}
	return out
}

// wrapperTarget is issue 3's limit on the library against raw go-redis.
var wrapperTarget = ratioTarget{
	impl: "lib", base: "goredis", target: "lib ≤ 1.05× goredis time, ≤ +4 allocs/op",
	ok: func(r, a, ba float64) bool { return r <= 1.05 && a-ba <= 4 },
	show: func(r, a, ba float64) string {
		return fmt.Sprintf("%.2f× time, %+g allocs/op", r, math.Round(a-ba))
	},
}

// wrapperTargets checks wrapperTarget on GetString, SetString and Prediction.
func wrapperTargets(groups map[string]*group) []check {
	var out []check
	for _, name := range []string{"GetString", "SetString", "Prediction"} {
		out = append(out, wrapperTarget.perRow(name, groups[name])...)
	}
	return out
}

// overheadTargets checks the wrapper's own cost measured without the
// network, as a share of what a raw go-redis call costs on the network.
func overheadTargets(groups map[string]*group) []check {
	g := groups["Overhead"]
	if g == nil {
		return nil
	}
	var out []check
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
	return out
}

// batchTargets checks the batch of 1000 against go-redis's pipeline and
// against 1000 sequential gets, on the group's first row.
func batchTargets(g *group) []check {
	if g == nil {
		return nil
	}
	row := g.rows[0]
	lib, raw, seq := g.get(row, "lib", "sec/op"), g.get(row, "goredis", "sec/op"), g.get(row, "seq", "sec/op")
	pipe := check{target: "batch lib ≤ 1.10× goredis pipeline", row: "Batch"}
	if lib.have && raw.have {
		pipe.known, pipe.ok, pipe.noise = true, lib.val/raw.val <= 1.10, noisy(lib)
		pipe.measured = fmt.Sprintf("%.2f×", lib.val/raw.val)
	}
	gets := check{target: "batch lib ≥ 20× faster than 1000 sequential gets", row: "Batch"}
	if lib.have && seq.have {
		gets.known, gets.ok = true, seq.val/lib.val >= 20
		gets.measured = fmt.Sprintf("%.1f× faster", seq.val/lib.val)
	}
	return []check{pipe, gets}
}

// stampedeTargets checks that 64 callers of a missing key load it once:
// benchstat's median of loads/op and max-loads, and stampedeMax (the
// largest max-loads of any run, -1 when unknown).
func stampedeTargets(g *group, stampedeMax float64) []check {
	if g == nil {
		return nil
	}
	var out []check
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
	return out
}

// throughputTargets checks lib's msgs/s at least 0.9× goredis's on every
// row of g, the group called name.
func throughputTargets(name, target string, g *group) []check {
	if g == nil {
		return nil
	}
	var out []check
	for _, row := range g.rows {
		l, r := g.get(row, "lib", "msgs/s"), g.get(row, "goredis", "msgs/s")
		c := check{target: target, row: name + "/" + row}
		if l.have && r.have && r.val > 0 {
			c.known, c.ok = true, l.val/r.val >= 0.9
			c.noise = noisy(g.get(row, "lib", "sec/op"))
			c.measured = fmt.Sprintf("%.2f× (%s vs %s msgs/s)", l.val/r.val, fmtNum(l.val), fmtNum(r.val))
		}
		out = append(out, c)
	}
	return out
}

// pubSubTargets checks pub/sub throughput against a go-redis receive loop.
func pubSubTargets(g *group) []check {
	return throughputTargets("PubSub", "pub/sub lib ≥ 0.9× goredis throughput", g)
}

// streamAddTarget (issue 18): Add's throughput at least 0.9× a hand-written
// go-redis XADD loop, that is time per op at most 1/0.9 of it.
var streamAddTarget = ratioTarget{
	impl: "lib", base: "goredis", target: "stream Add lib ≥ 0.9× goredis XADD throughput",
	ok: func(r, _, _ float64) bool { return r <= 1/0.9 },
	show: func(r, a, ba float64) string {
		return fmt.Sprintf("%.2f× throughput (%.2f× time), %+g allocs/op", 1/r, r, math.Round(a-ba))
	},
}

// streamConsumeTargets (issue 18) checks consuming and acknowledging
// against a go-redis XREADGROUP+XACK loop.
func streamConsumeTargets(g *group) []check {
	return throughputTargets("StreamConsume", "stream consume+ack lib ≥ 0.9× goredis XREADGROUP+XACK throughput", g)
}

// decodeTargets checks what the decode limits cost: the serializer with its
// checks against the same decoder without them.
func decodeTargets(g *group) []check {
	if g == nil {
		return nil
	}
	var out []check
	for _, row := range g.rows {
		out = append(out, decodeCheck(g, row))
	}
	return out
}

// decodeCheck compares checked with raw on one row of Decode, by CPU time
// when measured (wall time swings with the machine's load).
func decodeCheck(g *group, row string) check {
	c := check{target: "decode with the limits ≤ 1.05× the decoder alone", row: "Decode/" + row}
	unit := cpuUnit
	if !g.get(row, "checked", unit).have {
		unit = "sec/op"
	}
	t, bt := g.get(row, "checked", unit), g.get(row, "raw", unit)
	a, ba := g.get(row, "checked", "allocs/op"), g.get(row, "raw", "allocs/op")
	if !(t.have && bt.have && bt.val > 0) {
		return c
	}
	r := t.val / bt.val
	c.known, c.ok, c.noise = true, r <= 1.05 && (!a.have || !ba.have || a.val <= ba.val), noisy(t)
	c.measured = fmt.Sprintf("%.3f× %s", r, map[bool]string{true: "CPU time", false: "time"}[unit == cpuUnit])
	if w, bw := g.get(row, "checked", "sec/op"), g.get(row, "raw", "sec/op"); unit == cpuUnit && w.have && bw.have && bw.val > 0 {
		c.measured += fmt.Sprintf(" (%.3f× wall time)", w.val/bw.val)
	}
	if a.have && ba.have {
		c.measured += fmt.Sprintf(", %+g allocs/op", math.Round(a.val-ba.val))
	}
	return c
}

// hashInputTarget (issue 9): HashInput against json.Marshal+sha256.
var hashInputTarget = ratioTarget{
	impl: "lib", base: "jsonsha256", target: "HashInput ≤ 0.5× json.Marshal+sha256 time, ≤ 2 allocs/op",
	ok:   func(r, a, _ float64) bool { return r <= 0.5 && a <= 2 },
	show: func(r, a, _ float64) string { return fmt.Sprintf("%.2f× time, %s allocs/op", r, fmtNum(a)) },
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
				c.known, c.ok, c.noise = true, r <= l.max, overlap(t, bt)
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

// overlap reports whether the confidence intervals of a and b overlap, so
// that their difference may be noise (benchstat compares each column with
// the base column only). Without both intervals it cannot tell: false.
func overlap(a, b cell) bool {
	pa, oka := ciFraction(a)
	pb, okb := ciFraction(b)
	if !oka || !okb {
		return false
	}
	lo, hi := a, b
	plo, phi := pa, pb
	if lo.val > hi.val {
		lo, hi, plo, phi = b, a, pb, pa
	}
	return lo.val*(1+plo) >= hi.val*(1-phi)
}

// ciFraction returns benchstat's interval "12%" as 0.12.
func ciFraction(c cell) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(c.ci, "%"), 64)
	if err != nil || !strings.HasSuffix(c.ci, "%") {
		return 0, false
	}
	return v / 100, true
}
