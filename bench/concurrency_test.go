package bench

import (
	"strconv"
	"testing"
)

// goroutineCounts are the x axis of the concurrency chart.
var goroutineCounts = []int{1, 2, 4, 8, 16, 32, 64, 128}

// chartImpls are the implementations the concurrency chart compares: raw
// go-redis, go-redis's AutoPipeliner, rueidis and the library (with its
// adaptive auto-pipelining).
var chartImpls = map[string]bool{"goredis": true, "goredisap": true, "rueidis": true, "lib": true}

// BenchmarkConcurrency runs GET and SET of the 200-byte string at 1 to 128
// goroutines, as BenchmarkConcurrency/op=O/g=N/impl=I. cmd/report draws
// time/op against goroutines from it (concurrency.svg), so where each
// implementation gains from concurrency, and where the library's adaptive
// auto-pipelining takes over from its direct path, shows at a glance.
func BenchmarkConcurrency(b *testing.B) {
	c := connect(b)
	ops := []struct {
		name  string
		impls []impl
	}{
		{"get", getStringOps(b, c)},
		{"set", setStringOps(c)},
	}
	for _, op := range ops {
		b.Run("op="+op.name, func(b *testing.B) {
			for _, g := range goroutineCounts {
				b.Run("g="+strconv.Itoa(g), func(b *testing.B) {
					for _, im := range op.impls {
						if !chartImpls[im.name] {
							continue
						}
						b.Run("impl="+im.name, func(b *testing.B) {
							if g == 1 {
								run(b, 0, im.op) // sequential: no RunParallel overhead
								return
							}
							run(b, g, im.op)
						})
					}
				})
			}
		})
	}
}
