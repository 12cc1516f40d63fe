package redisclient

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/systemtrader/redisclient/internal/testkit"
)

// BenchmarkAutoPipelineThreshold measures Get of a 200-byte string on the
// integration server at 1 to 64 goroutines with auto-pipelining off and on,
// for each candidate of minOthersInFlight (how many other commands must be
// in flight for a command to be batched). It is how the threshold was
// chosen (bench/RESULTS.md, "Auto-pipelining"):
//
//	go test -run '^$' -bench AutoPipelineThreshold -benchtime 5000x -count 6 . | tee t.txt
//	go tool benchstat -col /mode t.txt
func BenchmarkAutoPipelineThreshold(b *testing.B) {
	url := testkit.RequireEnv(b, testkit.EnvURL)
	ctx := context.Background()
	value := strings.Repeat("0123456789abcdefghij", 10)
	modes := []struct {
		name      string
		off       bool
		threshold int64
	}{{"off", true, 0}, {"min1", false, 1}, {"min2", false, 2}, {"min4", false, 4}}
	for _, g := range []int{1, 2, 4, 8, 16, 64} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("g=%d/mode=%s", g, m.name), func(b *testing.B) {
				c, err := New(Options{URL: url, Namespace: uniqueNamespace(b), DisableAutoPipeline: m.off,
					ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if c.shared.pipe != nil {
					c.shared.pipe.minOthers = m.threshold
				}
				if err := c.Set(ctx, "k", value, time.Hour); err != nil {
					b.Fatal(err)
				}
				get := func() {
					var s string
					if err := c.Get(ctx, "k", &s); err != nil || len(s) != len(value) {
						b.Errorf("get: %v (%d bytes)", err, len(s))
					}
				}
				for range 100 {
					get()
				}
				b.ReportAllocs()
				b.ResetTimer()
				if g == 1 {
					for range b.N {
						get()
					}
					return
				}
				b.SetParallelism((g + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						get()
					}
				})
			})
		}
	}
}
