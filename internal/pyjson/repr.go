package pyjson

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// appendString writes s as json.dumps does with ensure_ascii: printable
// ASCII as is, \" \\ \n \r \t \b \f, other characters as \uXXXX (lowercase
// hex, characters beyond the BMP as surrogate pairs). s must be valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		u1, u2 := r, rune(-1)
		if r >= 0x10000 {
			u1, u2 = utf16.EncodeRune(r)
		}
		for _, u := range [2]rune{u1, u2} {
			if u >= 0 {
				b = append(b, '\\', 'u', hexDigits[u>>12&0xf], hexDigits[u>>8&0xf], hexDigits[u>>4&0xf], hexDigits[u&0xf])
			}
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloatRepr writes Python's repr of a finite float: the shortest
// digits that round-trip, in exponent form when the decimal exponent is
// below -4 or at least 16 (1e-05, 1e+16), otherwise positional with at
// least one fractional digit (3.0, -0.0). strconv's 'e' form is Python's
// (a sign and at least two exponent digits); only the switch point differs.
func appendFloatRepr(b []byte, f float64) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // -d.ddde±dd
	if exp := decimalExponent(e); exp < -4 || exp >= 16 {
		return append(b, e...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if slices.Index(b[start:], '.') < 0 {
		b = append(b, ".0"...)
	}
	return b
}

// decimalExponent reads the exponent of strconv's 'e' form (…e±dd).
func decimalExponent(e []byte) int {
	i := slices.Index(e, 'e')
	exp := 0
	for _, c := range e[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[i+1] == '-' {
		return -exp
	}
	return exp
}

// appendJSONFloat writes a float as json.dumps does.
func appendJSONFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	return appendFloatRepr(b, f)
}

// AppendFloatStr writes a float as Python's str does.
func AppendFloatStr(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	return appendFloatRepr(b, f)
}

// appendBytesRepr writes Python's repr of a bytes object: b'...', with
// double quotes when the bytes hold a single quote and no double quote.
func appendBytesRepr(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b = append(b, 'b', quote)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote || c == '\\':
			b = append(b, '\\', c)
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, quote)
}

// Float32To64 widens a float32 by its shortest decimal digits, so 0.1f is
// Python's 0.1 rather than 0.10000000149011612.
func Float32To64(f float64) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return f
	}
	g, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
	return g
}
