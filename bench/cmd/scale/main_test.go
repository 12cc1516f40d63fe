package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkScaleHashInput/size=10/impl=jsonsha256-2   	 100	      1000 ns/op	     100 B/op	       2 allocs/op
BenchmarkScaleHashInput/size=1000/impl=jsonsha256-2 	 100	    100000 ns/op	   10000 B/op	       2 allocs/op
BenchmarkScaleHashInput/size=10/impl=python-2       	 100	      1000 ns/op	      50 B/op	       1 allocs/op
BenchmarkScaleHashInput/size=1000/impl=python-2     	 100	   1000000 ns/op	      50 B/op	       1 allocs/op
BenchmarkScaleFlush/size=1000/impl=lib-2            	   1	   5000000 ns/op	  12 ping-p99-µs	 100 B/op	       1 allocs/op
BenchmarkScaleSubscribe/size=1000/impl=lib-2        	   1	   5000000 ns/op	   1.000 conns	   2.000 goroutines	 1234 heap-B/sub	 0.5000 stack-B/sub	 100 B/op	       1 allocs/op
`

func TestExponentAndRatio(t *testing.T) {
	curves, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(curves) != 4 {
		t.Fatalf("got %d curves, want 4", len(curves))
	}
	if e := exponent(curves[0]); math.Abs(e-1) > 1e-9 {
		t.Errorf("linear curve: exponent %v, want 1", e)
	}
	if e := exponent(curves[1]); math.Abs(e-1.5) > 1e-9 {
		t.Errorf("exponent %v, want 1.5", e)
	}
	var out bytes.Buffer
	write(&out, curves)
	for _, want := range []string{"| ScaleHashInput | python | 1000 | 1.00 ms | 1000.0 ns | 10.00x |", "ping-p99-µs 12", "| ScaleFlush | lib | NaN |",
		"conns 1, goroutines 2, heap-B/sub 1234, stack-B/sub 0.50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
