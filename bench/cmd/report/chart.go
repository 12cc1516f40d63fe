package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The concurrency chart: time/op of each implementation against the number
// of goroutines, one panel per operation, from the Concurrency group (rows
// "op=get/g=8"). Both axes are logarithmic: goroutines double from point to
// point, and time/op spans a round trip at one goroutine down to a few
// microseconds of shared pipelines.

// chartSeries is one implementation's line in one panel.
type chartSeries struct {
	impl   string
	points [][2]float64 // goroutines, seconds per op
}

// chartPanel is one operation's panel.
type chartPanel struct {
	op     string
	series []chartSeries
}

// chartColors gives each implementation a fixed colour (Okabe-Ito, readable
// by colour-blind readers); others get grey.
var chartColors = map[string]string{
	"lib":       "#d55e00",
	"rueidis":   "#0072b2",
	"goredisap": "#009e73",
	"goredis":   "#7f7f7f",
	"libdirect": "#cc79a7",
}

var chartNames = map[string]string{
	"lib":       "redisclient (auto-pipelining)",
	"rueidis":   "rueidis",
	"goredisap": "go-redis AutoPipeline",
	"goredis":   "go-redis",
	"libdirect": "redisclient, auto-pipelining off",
}

// chartPanels collects the panels of g, operations in order of appearance.
func chartPanels(g *group) []chartPanel {
	var panels []chartPanel
	index := map[string]int{}
	for _, row := range g.rows {
		op, n, ok := splitConcurrencyRow(row)
		if !ok {
			continue
		}
		i, seen := index[op]
		if !seen {
			i = len(panels)
			index[op] = i
			panels = append(panels, chartPanel{op: op})
		}
		p := &panels[i]
		for _, impl := range g.impls {
			c := g.get(row, impl, "sec/op")
			if !c.have {
				continue
			}
			j := -1
			for k := range p.series {
				if p.series[k].impl == impl {
					j = k
				}
			}
			if j < 0 {
				p.series = append(p.series, chartSeries{impl: impl})
				j = len(p.series) - 1
			}
			p.series[j].points = append(p.series[j].points, [2]float64{n, c.val})
		}
	}
	for i := range panels {
		for j := range panels[i].series {
			pts := panels[i].series[j].points
			sort.Slice(pts, func(a, b int) bool { return pts[a][0] < pts[b][0] })
		}
	}
	return panels
}

// splitConcurrencyRow splits "op=get/g=8" into "get" and 8.
func splitConcurrencyRow(row string) (op string, goroutines float64, ok bool) {
	a, b, found := strings.Cut(row, "/")
	if !found || !strings.HasPrefix(a, "op=") || !strings.HasPrefix(b, "g=") {
		return "", 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(b, "g="))
	if err != nil || n < 1 {
		return "", 0, false
	}
	return strings.TrimPrefix(a, "op="), float64(n), true
}

// Chart geometry, in SVG user units.
const (
	panelW, panelH         = 460, 380
	marginL, marginR       = 62, 16
	marginT, marginB       = 52, 120
	chartFont              = "font-family=\"sans-serif\" font-size=\"12\""
	legendLine, legendStep = 22, 18
)

// writeChart draws the panels of g as an SVG document.
func writeChart(w io.Writer, g *group, title string) error {
	panels := chartPanels(g)
	if len(panels) == 0 {
		return fmt.Errorf("%s: no op=O/g=N rows to draw", g.name)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	xmax := 1.0
	for _, p := range panels {
		for _, s := range p.series {
			for _, pt := range s.points {
				lo, hi = math.Min(lo, pt[1]), math.Max(hi, pt[1])
				xmax = math.Max(xmax, pt[0])
			}
		}
	}
	ylo, yhi := math.Pow(10, math.Floor(math.Log10(lo*1e6))), niceCeil(hi*1e6)
	width := panelW * len(panels)
	fmt.Fprintf(w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", width, panelH, width, panelH)
	fmt.Fprintf(w, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n")
	fmt.Fprintf(w, "<text x=\"%d\" y=\"18\" text-anchor=\"middle\" %s font-weight=\"bold\">%s</text>\n", width/2, chartFont, xmlEscape(title))
	for i, p := range panels {
		drawPanel(w, p, float64(i*panelW), xmax, ylo, yhi)
	}
	fmt.Fprintln(w, "</svg>")
	return nil
}

func drawPanel(w io.Writer, p chartPanel, x0, xmax, ylo, yhi float64) {
	left, right := x0+marginL, x0+panelW-marginR
	top, bottom := float64(marginT), float64(panelH-marginB)
	xOf := func(n float64) float64 { return left + (right-left)*math.Log2(n)/math.Log2(xmax) }
	yOf := func(sec float64) float64 {
		f := (math.Log10(sec*1e6) - math.Log10(ylo)) / (math.Log10(yhi) - math.Log10(ylo))
		return bottom - (bottom-top)*f
	}
	fmt.Fprintf(w, "<g>\n<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\" %s font-weight=\"bold\">%s</text>\n",
		(left+right)/2, top-8, chartFont, xmlEscape(strings.ToUpper(p.op)))
	// Horizontal grid at 1, 2 and 5 of each decade.
	for d := ylo; d <= yhi*1.0001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v > yhi*1.0001 {
				break
			}
			y := yOf(v / 1e6)
			fmt.Fprintf(w, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", left, y, right, y)
			fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" %s>%s</text>\n", left-4, y+4, chartFont, fmtNum(v))
		}
	}
	for n := 1.0; n <= xmax; n *= 2 {
		x := xOf(n)
		fmt.Fprintf(w, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", x, top, x, bottom)
		fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" %s>%s</text>\n", x, bottom+16, chartFont, fmtNum(n))
	}
	fmt.Fprintf(w, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", left, top, right-left, bottom-top)
	fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" %s>goroutines</text>\n", (left+right)/2, bottom+34, chartFont)
	fmt.Fprintf(w, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\" %s>time/op (µs, log scale)</text>\n",
		x0+16, (top+bottom)/2, chartFont)
	for i, s := range p.series {
		color := chartColors[s.impl]
		if color == "" {
			color = "#444"
		}
		var pts []string
		for _, pt := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(pt[0]), yOf(pt[1])))
		}
		fmt.Fprintf(w, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", strings.Join(pts, " "), color)
		for _, pt := range s.points {
			fmt.Fprintf(w, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s, %s goroutines: %s</title></circle>\n",
				xOf(pt[0]), yOf(pt[1]), color, xmlEscape(chartName(s.impl)), fmtNum(pt[0]), fmtTime(pt[1]))
		}
		ly := bottom + 52 + float64(i*legendStep)
		fmt.Fprintf(w, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", left, ly, left+legendLine, ly, color)
		fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%.1f\" %s>%s</text>\n", left+legendLine+6, ly+4, chartFont, xmlEscape(chartName(s.impl)))
	}
	fmt.Fprintln(w, "</g>")
}

// niceCeil returns the smallest 1, 2 or 5 times a power of ten that is at
// least v.
func niceCeil(v float64) float64 {
	d := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if d*m >= v {
			return d * m
		}
	}
	return d * 10
}

func chartName(impl string) string {
	if n := chartNames[impl]; n != "" {
		return n
	}
	return impl
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
