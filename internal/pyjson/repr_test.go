package pyjson

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFloatRepr(t *testing.T) {
	// repr() of each float in Python 3.11.
	for f, want := range map[float64]string{
		0: "0.0", 1: "1.0", 0.5: "0.5", 100: "100.0", 3.14: "3.14",
		1e15: "1000000000000000.0", 1e16: "1e+16", 1.2345e16: "1.2345e+16",
		9999999999999998: "9999999999999998.0", 12345678: "12345678.0",
		0.0001: "0.0001", 1e-5: "1e-05", 1.5e-5: "1.5e-05", 1e-7: "1e-07",
		1e22: "1e+22", 1.5e300: "1.5e+300", 5e-324: "5e-324",
		math.MaxFloat64: "1.7976931348623157e+308", 2.2250738585072014e-308: "2.2250738585072014e-308",
		0.30000000000000004: "0.30000000000000004", 1.0 / 3: "0.3333333333333333",
		123456789012345.6: "123456789012345.6", 1 << 63: "9.223372036854776e+18",
	} {
		assert.Equal(t, want, string(appendFloatRepr(nil, f)), "%v", f)
		assert.Equal(t, "-"+want, string(appendFloatRepr(nil, -f)), "%v", -f)
	}
}
