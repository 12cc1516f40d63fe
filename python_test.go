package redisclient

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustPyHash(t testing.TB, v any) string {
	t.Helper()
	h, err := pythonHashInput(v)
	require.NoError(t, err, "%T %#v", v, v)
	return h
}

func mustPyText(t testing.TB, v any) string {
	t.Helper()
	b, err := pythonHashText(v)
	require.NoError(t, err, "%T %#v", v, v)
	return string(b)
}

type pyOrderFeatures struct {
	Symbol string `json:"symbol"`
	Qty    int    `json:"qty"`
	Note   string `json:"note,omitempty"`
}

// Hashes computed with Debian's /usr/bin/python3 (3.11) running the
// original's hash_input on the Python expression in each comment.
func TestPythonHashInputKnownHashes(t *testing.T) {
	tests := []struct {
		name  string
		input any
		want  string
	}{
		// {"symbol": "AAPL", "window": 20, "features": [0.12, -1.5e-07, 3.0, 1e16]}
		{"dict", map[string]any{"symbol": "AAPL", "window": 20, "features": []float64{0.12, -1.5e-07, 3.0, 1e16}}, "caeeb47995c2612d6bb969c80233326d"},
		// [1, 2.5, "x", None, True]
		{"list", []any{1, 2.5, "x", nil, true}, "94a11a86a59d1cfd7e4c49f177cc4e15"},
		// "AAPL"
		{"str", "AAPL", "8b10e4ae9eeb5684921a9ab27e4d87aa"},
		// 42
		{"int", 42, "a1d0c6e83f027327d8461063f4ac58a6"},
		// 3.0
		{"integral float", 3.0, "55c82b601deae028c1c5e87fd820923d"},
		// 1e-05
		{"tiny float", 1e-05, "0e6c77caff4e0ac45fc1951e85bbff6a"},
		// 1e16
		{"huge float", 1e16, "17ad58a7ab5201decb18b0996a327592"},
		// float('inf')
		{"inf", math.Inf(1), "ee7b630995e7a36b6420696989441e2d"},
		// float('nan')
		{"nan", math.NaN(), "a3d2de7675556553a5f08e4c88d2c228"},
		// True
		{"bool", true, "f827cf462f62848df37c5e1e94a4da74"},
		// None
		{"none", nil, "6adf97f83acf6453d4a6a4b1070f3754"},
		// {"é": "😀"}
		{"unicode", map[string]string{"é": "😀"}, "d4e271c0396ead999c85a790a5d237ff"},
		// {10: "a", 9: "b"}
		{"int keys", map[int]string{10: "a", 9: "b"}, "f682fe096c19f53002f3ab1a1d181699"},
		// {2.5: "x", 1: "y"}
		{"number keys", map[any]string{2.5: "x", 1: "y"}, "a686db258e94319fc28519e53da7fa7c"},
		// [float('nan'), float('-inf'), -0.0]
		{"special floats", []float64{math.NaN(), math.Inf(-1), math.Copysign(0, -1)}, "86ec50fb86af127ca9112232f16b572c"},
		// 2**70
		{"big int", new(big.Int).Lsh(big.NewInt(1), 70), "c7c1c5d64bce4c71d16a7fdb65d3d378"},
		// {"symbol": "AAPL", "qty": 5}
		{"struct", pyOrderFeatures{Symbol: "AAPL", Qty: 5}, "7600b21440f8861b2ae428880a0e1fff"},
		// (1, "a")
		{"tuple", [2]any{1, "a"}, "236c4e452659b818b49463f47cae759a"},
		// []
		{"empty list", []int{}, "d751713988987e9331980363e24189ce"},
		// {}
		{"empty dict", map[string]int{}, "99914b932bd37a50b983c5e7c90ae93b"},
		// ""
		{"empty str", "", "d41d8cd98f00b204e9800998ecf8427e"},
		// b"a'b"
		{"bytes", []byte("a'b"), "8f32d644676f5a6e654d3b3a0507ef2d"},
		// "2024-06-01T13:30:00Z"
		{"time", time.Date(2024, 6, 1, 13, 30, 0, 0, time.UTC), "e66375e019074ac81ab42ff41f63b3b2"},
		// 2**53 + 1
		{"int beyond 2^53", int64(1<<53 + 1), "322d1e02970a2deaaf671adaf4e026c7"},
		// 0.1
		{"float32", float32(0.1), "cb5ae17636e975f9bf71ddf5bc542075"},
		// {"b": {"d": 1, "c": [True, False]}, "a": None}
		{"nested", map[string]any{"b": map[string]any{"d": 1, "c": []bool{true, false}}, "a": nil}, "d09c0acb1476ff0d75ab06deafe52813"},
		// {None: 1}
		{"none key", map[any]int{nil: 1}, "9803506998ca566daa45037ab9f06dcd"},
		// {True: 1, False: 0}
		{"bool keys", map[bool]int{true: 1, false: 0}, "6726ff1f2f5e3ecccaedcdce341168a0"},
		// 123456789.125
		{"float digits", 123456789.125, "10549462475c217e26b32b00785f76b8"},
		// -2.5e-10
		{"negative tiny", -2.5e-10, "2728972a1bb80a6a8c709d5ceffde331"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, mustPyHash(t, tt.input))
		})
	}
}

// The text json.dumps(x, sort_keys=True) or str(x) writes, from Python.
func TestPythonHashText(t *testing.T) {
	tests := []struct {
		input any
		want  string
	}{
		{map[string]any{"symbol": "AAPL", "window": 20, "features": []float64{0.12, -1.5e-07, 3.0, 1e16}},
			`{"features": [0.12, -1.5e-07, 3.0, 1e+16], "symbol": "AAPL", "window": 20}`},
		{[]any{"tab\t \"q\" \\ \x7f\u2028\b\f\n\r\x00\x1f/"}, `["tab\t \"q\" \\ \u007f\u2028\b\f\n\r\u0000\u001f/"]`},
		{"tab\t \"q\" \\ \x7f\u2028", "tab\t \"q\" \\ \x7f\u2028"},
		{[]string{"é😀\U0010FFFF"}, `["\u00e9\ud83d\ude00\udbff\udfff"]`},
		{[]float64{math.NaN(), math.Inf(1), math.Inf(-1)}, `[NaN, Infinity, -Infinity]`},
		{math.Inf(-1), "-inf"},
		{false, "False"},
		{map[uint64]int{math.MaxUint64: 1, 0: 2}, `{"0": 2, "18446744073709551615": 1}`},
		{map[float64]int{1.0: 1, -0.5: 2, math.Inf(-1): 3}, `{"-Infinity": 3, "-0.5": 2, "1.0": 1}`},
		{map[any]int{int64(3): 1, 2.5: 2, uint64(1): 3, new(big.Int).Lsh(big.NewInt(1), 80): 4, false: 5},
			`{"false": 5, "1": 3, "2.5": 2, "3": 1, "1208925819614629174706176": 4}`},
		{[]byte("\x00\xff\\\t'"), `b"\x00\xff\\\t'"`},
		{[]byte(`'"`), `b'\'"'`},
		{[]byte(nil), `b''`},
		{json.Number("12"), "12"},
		{json.Number("-0"), "0"},
		{json.Number("1E5"), "100000.0"},
		{json.Number("1e400"), "inf"},
		{json.Number(""), "0"},
		{json.RawMessage(`{"b": [1, 2.50, 1e2], "a": "\u00e9", "a": "dup"}`), `{"a": "dup", "b": [1, 2.5, 100.0]}`},
		{json.RawMessage(`"text"`), "text"},
		{json.RawMessage(`NaN`), "nan"},
		{json.RawMessage(nil), "None"},
		{map[netip.Addr]int{netip.MustParseAddr("10.0.0.2"): 1, netip.MustParseAddr("10.0.0.10"): 2}, `{"10.0.0.10": 2, "10.0.0.2": 1}`},
		{netip.MustParseAddr("::1"), "::1"},
		{[]any{[]any{}, map[string]any{}, [0]int{}}, `[[], {}, []]`},
		{[]int(nil), "[]"},
		{map[string]int(nil), "{}"},
		{(*int)(nil), "None"},
		{[]*int{nil}, "[null]"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, mustPyText(t, tt.input), "%T %#v", tt.input, tt.input)
	}
}

func TestPythonFloatRepr(t *testing.T) {
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
		assert.Equal(t, want, string(appendPyFloatRepr(nil, f)), "%v", f)
		assert.Equal(t, "-"+want, string(appendPyFloatRepr(nil, -f)), "%v", -f)
	}
}

func TestPythonHashInputGoTypes(t *testing.T) {
	// Every Go integer type is a Python int.
	want := mustPyHash(t, 7)
	for _, v := range []any{int8(7), int16(7), int32(7), int64(7), uint(7), uint8(7), uint16(7), uint32(7), uint64(7), uintptr(7), big.NewInt(7), *big.NewInt(7), json.Number("7")} {
		assert.Equal(t, want, mustPyHash(t, v), "%T", v)
	}
	// Floats by value, float32 by its shortest digits.
	assert.Equal(t, mustPyHash(t, 0.1), mustPyHash(t, json.Number("0.1")))
	assert.Equal(t, mustPyHash(t, 2.5), mustPyHash(t, float32(2.5)))
	assert.NotEqual(t, mustPyHash(t, 3), mustPyHash(t, 3.0), "int 3 and float 3.0 differ, as in Python")
	// Named types, pointers and interfaces stand for their values.
	type side string
	s := "buy"
	assert.Equal(t, mustPyHash(t, "buy"), mustPyHash(t, side("buy")))
	assert.Equal(t, mustPyHash(t, "buy"), mustPyHash(t, &s))
	ps := &s
	assert.Equal(t, mustPyHash(t, "buy"), mustPyHash(t, &ps))
	var iface any = []any{1}
	assert.Equal(t, mustPyHash(t, []int{1}), mustPyHash(t, &iface))
	// Lists: slices and arrays alike, typed or not.
	assert.Equal(t, mustPyHash(t, []any{1.5, 2.0}), mustPyHash(t, [2]float64{1.5, 2}))
	assert.Equal(t, mustPyHash(t, []any{"a", 1}), mustPyHash(t, &[]any{"a", 1}))
	// time.Time is its RFC 3339 text.
	ts := time.Date(2024, 6, 1, 13, 30, 0, 500, time.FixedZone("", 2*3600))
	assert.Equal(t, mustPyHash(t, "2024-06-01T13:30:00.0000005+02:00"), mustPyHash(t, ts))
	assert.Equal(t, mustPyText(t, map[string]any{"t": "2024-06-01T13:30:00.0000005+02:00"}), mustPyText(t, map[string]any{"t": ts}))
}

type pyBase struct {
	ID    int    `json:"id"`
	Shade string `json:"shade"`
}

type pyInner struct {
	Deep string
}

type pyMarshaled struct{ v int }

func (m pyMarshaled) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`{"v": %d, "kind": "custom"}`, m.v)), nil
}

type pyPtrMarshaled struct{ v float64 }

func (m *pyPtrMarshaled) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(m.v, 'g', -1, 64) + ".0"), nil
}

type pyZeroable struct{ set bool }

func (z pyZeroable) IsZero() bool                 { return !z.set }
func (z pyZeroable) MarshalJSON() ([]byte, error) { return []byte(`"set"`), nil }

type pyRich struct {
	pyBase
	*pyInner
	Shade     string         `json:"shade_outer"`
	Name      string         `json:"name"`
	Untagged  float64        //
	Skip      string         `json:"-"`
	Dash      string         `json:"-,"`
	Empty     []int          `json:"empty,omitempty"`
	ZeroOmit  pyZeroable     `json:"zero,omitzero"`
	SetOmit   pyZeroable     `json:"set,omitzero"`
	Count     int64          `json:"count,string"`
	Flag      *bool          `json:"flag,string"`
	Custom    pyMarshaled    `json:"custom"`
	PtrCustom pyPtrMarshaled `json:"ptr_custom"`
	Any       any            `json:"any"`
	private   int
}

func TestPythonHashInputStructs(t *testing.T) {
	r := pyRich{
		pyBase:    pyBase{ID: 1, Shade: "hidden by the outer field? no: different names"},
		pyInner:   &pyInner{Deep: "promoted"},
		Shade:     "outer",
		Name:      "n",
		Untagged:  2,
		Skip:      "skipped",
		Dash:      "dash",
		SetOmit:   pyZeroable{set: true},
		Count:     12,
		Custom:    pyMarshaled{v: 3},
		PtrCustom: pyPtrMarshaled{v: 4},
		Any:       []any{nil},
		private:   9,
	}
	asMap := map[string]any{
		"id": 1, "shade": "hidden by the outer field? no: different names", "Deep": "promoted",
		"shade_outer": "outer", "name": "n", "Untagged": 2.0, "-": "dash", "set": "set",
		"count": "12", "flag": nil, "custom": map[string]any{"v": 3, "kind": "custom"},
		"ptr_custom": 4.0, "any": []any{nil},
	}
	// A struct hashes as the dict of its JSON object; the pointer-receiver
	// MarshalJSON is used whether or not the struct is addressable.
	assert.Equal(t, mustPyText(t, asMap), mustPyText(t, r))
	assert.Equal(t, mustPyHash(t, asMap), mustPyHash(t, &r))

	// A nil embedded pointer hides its fields.
	r.pyInner = nil
	delete(asMap, "Deep")
	assert.Equal(t, mustPyText(t, asMap), mustPyText(t, r))

	// Conflicting untagged names at one depth vanish, tagged names win.
	type a struct{ X, Y int }
	type b struct {
		X int
		Y int `json:"Y"`
	}
	type both struct {
		a
		b
	}
	assert.Equal(t, `{"Y": 4}`, mustPyText(t, both{a{1, 2}, b{3, 4}}))

	// Encoding/json and Python agree on the JSON of plain structs.
	type plain struct {
		Symbol string            `json:"symbol"`
		Prices []float64         `json:"prices"`
		Meta   map[string]string `json:"meta"`
	}
	p := plain{"AAPL", []float64{1.5, 2.25}, map[string]string{"b": "2", "a": "1"}}
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Equal(t, mustPyHash(t, p), mustPyHash(t, json.RawMessage(raw)))
}

func TestPythonHashInputMapOrder(t *testing.T) {
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d-é-%c", i, rune(0x1F600+i%50))
	}
	build := func(order []int) map[string]any {
		m := make(map[string]any, len(order))
		for _, i := range order {
			m[keys[i]] = map[int]float64{i: float64(i) / 7, -i: 1e-5 * float64(i)}
		}
		return m
	}
	fwd := make([]int, len(keys))
	rev := make([]int, len(keys))
	for i := range keys {
		fwd[i], rev[len(keys)-1-i] = i, i
	}
	want := mustPyHash(t, build(fwd))
	for range 20 {
		assert.Equal(t, want, mustPyHash(t, build(rev)))
		assert.Equal(t, want, mustPyHash(t, build(fwd)))
	}
	// Python sorts str keys by code point; Go's byte order of UTF-8 agrees,
	// also across the BMP/astral boundary where UTF-16 order would not.
	assert.Equal(t, `{"a": 1, "\uffff": 2, "\ud83d\ude00": 3}`,
		mustPyText(t, map[string]int{"\U0001F600": 3, "\uffff": 2, "a": 1}))
}

func TestPythonHashInputErrors(t *testing.T) {
	type node struct {
		Next *node `json:"next"`
	}
	loop := &node{}
	loop.Next = loop
	selfMap := map[string]any{}
	selfMap["me"] = selfMap
	selfSlice := []any{nil}
	selfSlice[0] = selfSlice
	type ptrLoop *ptrLoop
	var pl ptrLoop
	pl = &pl
	var selfAny any
	selfAny = &selfAny
	x := 1
	for name, input := range map[string]any{
		"chan":                   make(chan int),
		"func":                   func() {},
		"complex":                complex(1, 2),
		"unsafe pointer":         unsafe.Pointer(&x),
		"chan in list":           []any{make(chan int)},
		"pointer cycle":          loop,
		"map cycle":              selfMap,
		"slice cycle":            selfSlice,
		"pointer to itself":      pl,
		"interface to itself":    selfAny,
		"invalid UTF-8":          "a\xffb",
		"invalid UTF-8 in list":  []string{"\xc3"},
		"invalid UTF-8 key":      map[string]int{"\xff": 1},
		"str and int keys":       map[any]int{"a": 1, 2: 2},
		"None and str keys":      map[any]int{nil: 1, "a": 2},
		"NaN key among others":   map[float64]int{math.NaN(): 1, 1: 2},
		"two NaN keys":           map[float64]int{math.NaN(): 1, math.NaN(): 2},
		"1 and 1.0 keys":         map[any]int{1: 1, 1.0: 2},
		"true and 1 keys":        map[any]int{true: 1, int8(1): 2},
		"struct key":             map[[2]int]int{{1, 2}: 1},
		"str and text key alike": map[any]int{"::1": 1, netip.MustParseAddr("::1"): 2},
		"pointer key":            map[*int]int{&x: 1},
		"bytes in a list":        [][]byte{[]byte("a")},
		"bad json.Number":        json.Number("1x"),
		"bad RawMessage":         json.RawMessage(`{"a":`),
		"lone surrogate":         json.RawMessage(`"\ud800"`),
		"MarshalJSON error":      pyFailingMarshaler{},
		"invalid MarshalJSON":    pyInvalidMarshaler{},
		"NaN in ,string field": struct {
			F float64 `json:",string"`
		}{math.NaN()},
		"func field":             struct{ F func() }{func() {}},
		"MarshalText not UTF-8":  pyBadText{},
		"TextMarshaler key fail": map[pyBadText]int{{}: 1},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := pythonHashInput(input)
			require.Error(t, err, "hash %s", h)
			assert.Empty(t, h)
			assert.True(t, strings.HasPrefix(err.Error(), "python hash: "), err.Error())
		})
	}
}

type pyFailingMarshaler struct{}

func (pyFailingMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("boom") }

type pyInvalidMarshaler struct{}

func (pyInvalidMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{`), nil }

type pyBadText struct{}

func (pyBadText) MarshalText() ([]byte, error) { return []byte{0xff}, nil }

func TestPythonHashInputDeepButAcyclic(t *testing.T) {
	// Deep nesting is not mistaken for a cycle, and shared (non-cyclic)
	// references are fine.
	var v any = "leaf"
	for range 3000 {
		v = []any{v}
	}
	text := mustPyText(t, v)
	assert.Equal(t, strings.Repeat("[", 3000)+`"leaf"`+strings.Repeat("]", 3000), text)
	shared := []int{1}
	assert.Equal(t, "[[1], [1]]", mustPyText(t, [][]int{shared, shared}))
}

func TestPythonJSONSerializerMarshal(t *testing.T) {
	s := PythonJSONSerializer{}
	tests := []struct {
		input any
		want  string
	}{
		{map[string]any{"b": 1, "a": []float64{1, 0.5, math.NaN()}}, `{"a": [1.0, 0.5, NaN], "b": 1}`},
		{pyOrderFeatures{Symbol: "é", Qty: 2}, `{"symbol": "\u00e9", "qty": 2}`}, // field order, not sorted
		{true, "true"},
		{(*int)(nil), "null"},
		{[]any{}, "[]"},
		{map[int]string{10: "a", 9: "b"}, `{"9": "b", "10": "a"}`},
		{map[any]int{"a": 1, 2: 2, nil: 3}, `{"null": 3, "2": 2, "a": 1}`}, // Python writes these unsorted; Go orders them
		{json.RawMessage(`{"z":1,"a":2}`), `{"z": 1, "a": 2}`},             // a marshaler's key order is kept
		{time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), `"2024-06-01T00:00:00Z"`},
	}
	for _, tt := range tests {
		b, err := s.Marshal(tt.input)
		require.NoError(t, err, "%#v", tt.input)
		assert.Equal(t, tt.want, string(b), "%#v", tt.input)
	}
	for _, bad := range []any{[]byte("x"), make(chan int), map[[1]int]int{{1}: 1}, "a\xff"} {
		_, err := s.Marshal(bad)
		assert.Error(t, err, "%T", bad)
	}
}

type PyDecodeBase struct {
	ID int `json:"id"`
}

type pyDecodeTarget struct {
	Symbol  string             `json:"symbol"`
	Price   float64            `json:"price"`
	Score   float32            `json:"score"`
	Series  []float64          `json:"series"`
	Fixed   [2]float64         `json:"fixed"`
	ByName  map[string]float64 `json:"by_name"`
	ByID    map[int]any        `json:"by_id"`
	Extra   any                `json:"extra"`
	Ptr     *float64           `json:"ptr"`
	Count   int                `json:"count,string"`
	Stamp   time.Time          `json:"stamp"`
	Nested  *pyDecodeNested    `json:"nested"`
	Ignored string             `json:"-"`
}

type pyDecodeNested struct {
	*PyDecodeBase
	Value float64 `json:"value"`
}

func TestPythonJSONSerializerUnmarshal(t *testing.T) {
	s := PythonJSONSerializer{}
	t.Run("any gets Python's types", func(t *testing.T) {
		var v any
		require.NoError(t, s.Unmarshal([]byte(`{"i": 1, "f": 1.0, "big": 1180591620717411303424, "n": NaN, "l": [true, null, -Infinity], "s": "\u00e9\ud83d\ude00"}`), &v))
		m := v.(map[string]any)
		assert.Equal(t, int64(1), m["i"])
		assert.Equal(t, 1.0, m["f"])
		assert.Equal(t, "1180591620717411303424", m["big"].(*big.Int).String())
		assert.True(t, math.IsNaN(m["n"].(float64)))
		assert.Equal(t, []any{true, nil, math.Inf(-1)}, m["l"])
		assert.Equal(t, "é😀", m["s"])
		// Decoded values hash as Python hashes what json.loads returned.
		var py any
		require.NoError(t, s.Unmarshal([]byte(`{"features": [0.12, -1.5e-07, 3.0, 1e+16], "symbol": "AAPL", "window": 20}`), &py))
		assert.Equal(t, "caeeb47995c2612d6bb969c80233326d", mustPyHash(t, py))
	})
	t.Run("any falls back to text like Python's get", func(t *testing.T) {
		for _, text := range []string{"hello", "True", "nan", "inf", "{not json", "", "1 2"} {
			var v any
			require.NoError(t, s.Unmarshal([]byte(text), &v), text)
			assert.Equal(t, text, v)
		}
		var v any
		assert.Error(t, s.Unmarshal([]byte{0xff, 0xfe}, &v), "neither JSON nor text")
	})
	t.Run("string", func(t *testing.T) {
		var str string
		require.NoError(t, s.Unmarshal([]byte(`"a\nb"`), &str))
		assert.Equal(t, "a\nb", str)
		require.NoError(t, s.Unmarshal([]byte(`plain`), &str))
		assert.Equal(t, "plain", str)
		require.NoError(t, s.Unmarshal([]byte(`[1]`), &str))
		assert.Equal(t, "[1]", str)
	})
	t.Run("bool as Python stores it", func(t *testing.T) {
		var b bool
		require.NoError(t, s.Unmarshal([]byte("True"), &b))
		assert.True(t, b)
		require.NoError(t, s.Unmarshal([]byte("false"), &b))
		assert.False(t, b)
		require.NoError(t, s.Unmarshal([]byte("False"), &b))
		assert.False(t, b)
	})
	t.Run("struct with NaN, Infinity and interfaces", func(t *testing.T) {
		var d pyDecodeTarget
		d.Ignored = "kept"
		data := `{"symbol": "AAPL", "price": NaN, "score": -Infinity, "series": [1.0, Infinity, 2],
			"fixed": [NaN], "by_name": {"a": NaN, "b": 1.5}, "by_id": {"7": [1, 2.0]}, "extra": {"k": 3},
			"ptr": Infinity, "count": "42", "stamp": "2024-06-01T13:30:00Z", "unknown": NaN,
			"nested": {"id": 5, "value": NaN}, "SYMBOL": "case-insensitive duplicate"}`
		require.NoError(t, s.Unmarshal([]byte(data), &d))
		assert.Equal(t, "case-insensitive duplicate", d.Symbol)
		assert.True(t, math.IsNaN(d.Price))
		assert.True(t, math.IsInf(float64(d.Score), -1))
		assert.Equal(t, []float64{1, math.Inf(1), 2}, d.Series)
		assert.True(t, math.IsNaN(d.Fixed[0]))
		assert.Zero(t, d.Fixed[1])
		assert.True(t, math.IsNaN(d.ByName["a"]))
		assert.Equal(t, 1.5, d.ByName["b"])
		assert.Equal(t, map[int]any{7: []any{int64(1), 2.0}}, d.ByID)
		assert.Equal(t, map[string]any{"k": int64(3)}, d.Extra)
		assert.Equal(t, math.Inf(1), *d.Ptr)
		assert.Equal(t, 42, d.Count)
		assert.True(t, d.Stamp.Equal(time.Date(2024, 6, 1, 13, 30, 0, 0, time.UTC)))
		require.NotNil(t, d.Nested)
		require.NotNil(t, d.Nested.PyDecodeBase, "embedded pointer allocated")
		assert.Equal(t, 5, d.Nested.ID)
		assert.True(t, math.IsNaN(d.Nested.Value))
		assert.Equal(t, "kept", d.Ignored)
	})
	t.Run("plain JSON goes through encoding/json", func(t *testing.T) {
		var d pyOrderFeatures
		require.NoError(t, s.Unmarshal([]byte(`{"symbol": "X", "qty": 3}`), &d))
		assert.Equal(t, pyOrderFeatures{Symbol: "X", Qty: 3}, d)
		var bi big.Int
		require.NoError(t, s.Unmarshal([]byte(`1180591620717411303424`), &bi))
		assert.Equal(t, "1180591620717411303424", bi.String())
		var m map[string][]any
		require.NoError(t, s.Unmarshal([]byte(`{"a": [1, 1.5, "x"]}`), &m))
		assert.Equal(t, map[string][]any{"a": {int64(1), 1.5, "x"}}, m)
	})
	t.Run("errors", func(t *testing.T) {
		var d pyOrderFeatures
		assert.Error(t, s.Unmarshal([]byte(`{"qty": "many"}`), &d))
		assert.Error(t, s.Unmarshal([]byte(`{"qty": NaN}`), &d))
		assert.Error(t, s.Unmarshal([]byte(`{"symbol": `), &d))
		var i int
		assert.Error(t, s.Unmarshal([]byte(`[NaN]`), &i))
		assert.Error(t, s.Unmarshal([]byte(`1`), d), "not a pointer")
		assert.Error(t, s.Unmarshal([]byte(`1`), (*int)(nil)))
		var v any
		err := s.Unmarshal([]byte("\x80\x04\x95\x00"), &v)
		assert.ErrorIs(t, err, ErrUnsupportedFormat)
	})
	t.Run("round trip", func(t *testing.T) {
		in := map[string]any{"a": []any{int64(1), 2.5, math.Inf(1), "é"}, "b": map[string]any{"c": nil, "d": true}}
		b, err := s.Marshal(in)
		require.NoError(t, err)
		var out any
		require.NoError(t, s.Unmarshal(b, &out))
		assert.Equal(t, in, out)
	})
}

func TestPythonCompatOptions(t *testing.T) {
	o := PythonCompatOptions()
	assert.Equal(t, "trading", o.Namespace)
	assert.Equal(t, ":", o.Separator)
	assert.Equal(t, 86400*time.Second, o.DefaultTTL)
	assert.Equal(t, PythonJSONSerializer{}, o.Serializer)
	assert.Equal(t, HashPythonMD5, o.HashMode)

	c, mr := newMiniredisClient(t, o)
	ctx := testCtx(t)
	// Values land where and as Python writes them.
	require.NoError(t, c.Set(ctx, "order", pyOrderFeatures{Symbol: "AAPL", Qty: 5}, 0))
	raw, err := mr.Get("trading:order")
	require.NoError(t, err)
	assert.Equal(t, `{"symbol": "AAPL", "qty": 5}`, raw)
	assert.InDelta(t, 86400, mr.TTL("trading:order").Seconds(), 1)
	require.NoError(t, c.Set(ctx, "flags", []any{true, nil, 1.0}, 0))
	raw, _ = mr.Get("trading:flags")
	assert.Equal(t, `[true, null, 1.0]`, raw)

	// Values as Python writes them are read back.
	require.NoError(t, mr.Set("trading:py_bool", "True"))
	var b bool
	require.NoError(t, c.Get(ctx, "py_bool", &b))
	assert.True(t, b)
	require.NoError(t, mr.Set("trading:py_dict", `{"symbol": "MSFT", "qty": 7, "score": NaN}`))
	var any1 any
	require.NoError(t, c.Get(ctx, "py_dict", &any1))
	assert.Equal(t, int64(7), any1.(map[string]any)["qty"])
	require.NoError(t, mr.Set("trading:py_pickle", "\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01K\x02\x90."))
	err = c.Get(ctx, "py_pickle", &any1)
	require.ErrorIs(t, err, ErrUnsupportedFormat)
	assert.Contains(t, err.Error(), "trading:py_pickle")

	// The client's HashInput is the Python hash.
	h, err := c.HashInput(map[string]any{"symbol": "AAPL", "window": 20, "features": []float64{0.12, -1.5e-07, 3.0, 1e16}})
	require.NoError(t, err)
	assert.Equal(t, "caeeb47995c2612d6bb969c80233326d", h)
	require.NoError(t, c.CacheModelPrediction(ctx, "m1", h, map[string]float64{"p": 0.5}, 0))
	raw, err = mr.Get("trading:model:m1:" + h)
	require.NoError(t, err)
	assert.Equal(t, `{"p": 0.5}`, raw)
}

// pyRefQuote is json.dumps's ensure_ascii string form, written from the
// UTF-16 code units independently of appendPyString.
func pyRefQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, u := range utf16.Encode([]rune(s)) {
		switch {
		case u == '"':
			b.WriteString(`\"`)
		case u == '\\':
			b.WriteString(`\\`)
		case u == '\n':
			b.WriteString(`\n`)
		case u == '\r':
			b.WriteString(`\r`)
		case u == '\t':
			b.WriteString(`\t`)
		case u == '\b':
			b.WriteString(`\b`)
		case u == '\f':
			b.WriteString(`\f`)
		case u < 0x20 || u > 0x7e:
			fmt.Fprintf(&b, `\u%04x`, u)
		default:
			b.WriteByte(byte(u))
		}
	}
	b.WriteByte('"')
	return b.String()
}

func FuzzPythonHashInput(f *testing.F) {
	f.Add("AAPL", 0.1, int64(42))
	f.Add("é😀\"\\\x00\x7f\u2028", math.Inf(-1), int64(math.MinInt64))
	f.Add("", 1e16, int64(1<<53+1))
	f.Add("\xff", math.NaN(), int64(-1))
	f.Add("k", 5e-324, int64(0))
	f.Fuzz(func(t *testing.T, s string, x float64, i int64) {
		inputs := []any{s, x, i, []any{s, x, i}, map[string]any{s: x, "i": i}, map[any]any{x: s}, map[int64]float64{i: x}}
		for _, in := range inputs {
			h1, err1 := pythonHashInput(in)
			h2, err2 := pythonHashInput(in)
			if (err1 == nil) != (err2 == nil) || h1 != h2 {
				t.Fatalf("hash of %#v not deterministic: %q %v / %q %v", in, h1, err1, h2, err2)
			}
			if err1 == nil && len(h1) != 32 {
				t.Fatalf("hash %q", h1)
			}
		}
		if !utf8.ValidString(s) {
			if _, err := pythonHashInput(s); err == nil {
				t.Fatalf("invalid UTF-8 %q hashed", s)
			}
			return
		}
		// str(s) is s; json.dumps of a list is the reference quoting.
		if got := mustPyHash(t, s); got != md5Hex(s) {
			t.Fatalf("str(%q): %s", s, got)
		}
		if got, want := mustPyText(t, []string{s}), "["+pyRefQuote(s)+"]"; got != want {
			t.Fatalf("json.dumps([%q]) = %s, want %s", s, got, want)
		}
		// The same string through encoding/json and the JSON parser.
		raw, err := json.Marshal(map[string][]string{s: {s}})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := mustPyHash(t, map[string][]string{s: {s}}), mustPyHash(t, json.RawMessage(raw)); a != b {
			t.Fatalf("map vs its JSON for %q: %s %s", s, a, b)
		}
		// Float repr: round-trips, and Python's exponent rule.
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			r := string(appendPyFloatRepr(nil, x))
			back, err := strconv.ParseFloat(r, 64)
			if err != nil || back != x || math.Signbit(back) != math.Signbit(x) {
				t.Fatalf("repr(%v) = %q does not round-trip", x, r)
			}
			exp := 0
			if x != 0 {
				exp, _ = strconv.Atoi(strings.SplitN(strconv.FormatFloat(x, 'e', -1, 64), "e", 2)[1])
			}
			if strings.Contains(r, "e") != (exp < -4 || exp >= 16) || !strings.ContainsAny(r, ".e") {
				t.Fatalf("repr(%v) = %q", x, r)
			}
		}
	})
}

func FuzzPythonJSONSerializer(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5, NaN, -Infinity, null, true, "\u00e9"]}`, `[]`, `"x"`, `1e400`, `-0`, `{"a":1,"a":2}`, `[[[[`, "True", "\x80\x04"} {
		f.Add([]byte(s))
	}
	s := PythonJSONSerializer{}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := s.Unmarshal(data, &v); err != nil {
			return
		}
		var d pyDecodeTarget
		_ = s.Unmarshal(data, &d)
		var m map[string]any
		_ = s.Unmarshal(data, &m)
		if _, isText := v.(string); isText {
			return
		}
		// A decoded value encodes and decodes to itself.
		b, err := s.Marshal(v)
		if err != nil {
			t.Fatalf("marshal %#v: %v", v, err)
		}
		var back any
		if err := s.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %q: %v", b, err)
		}
		b2, err := s.Marshal(back)
		if err != nil || string(b) != string(b2) {
			t.Fatalf("round trip %q -> %q (%v)", b, b2, err)
		}
	})
}
