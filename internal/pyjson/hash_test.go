package pyjson

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

func mustHash(t testing.TB, v any) string {
	t.Helper()
	h, err := Hash(v)
	require.NoError(t, err, "%T %#v", v, v)
	return h
}

func mustText(t testing.TB, v any) string {
	t.Helper()
	b, err := hashInputText(v)
	require.NoError(t, err, "%T %#v", v, v)
	return string(b)
}

// hashInputText returns the text hash_input hashes: json.dumps(x,
// sort_keys=True) for containers, str(x) otherwise.
func hashInputText(input any) ([]byte, error) {
	e := &encoder{sortKeys: true}
	if err := e.hashText(input); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type orderFeatures struct {
	Symbol string `json:"symbol"`
	Qty    int    `json:"qty"`
	Note   string `json:"note,omitempty"`
}

// Hashes computed with Debian's /usr/bin/python3 (3.11) running the
// original's hash_input on the Python expression in each comment.
func TestHashKnownHashes(t *testing.T) {
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
		{"struct", orderFeatures{Symbol: "AAPL", Qty: 5}, "7600b21440f8861b2ae428880a0e1fff"},
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
			assert.Equal(t, tt.want, mustHash(t, tt.input))
		})
	}
}

// The text json.dumps(x, sort_keys=True) or str(x) writes, from Python.
func TestHashText(t *testing.T) {
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
		assert.Equal(t, tt.want, mustText(t, tt.input), "%T %#v", tt.input, tt.input)
	}
}

func TestHashGoTypes(t *testing.T) {
	// Every Go integer type is a Python int.
	want := mustHash(t, 7)
	for _, v := range []any{int8(7), int16(7), int32(7), int64(7), uint(7), uint8(7), uint16(7), uint32(7), uint64(7), uintptr(7), big.NewInt(7), *big.NewInt(7), json.Number("7")} {
		assert.Equal(t, want, mustHash(t, v), "%T", v)
	}
	// Floats by value, float32 by its shortest digits.
	assert.Equal(t, mustHash(t, 0.1), mustHash(t, json.Number("0.1")))
	assert.Equal(t, mustHash(t, 2.5), mustHash(t, float32(2.5)))
	assert.NotEqual(t, mustHash(t, 3), mustHash(t, 3.0), "int 3 and float 3.0 differ, as in Python")
	// Named types, pointers and interfaces stand for their values.
	type side string
	s := "buy"
	assert.Equal(t, mustHash(t, "buy"), mustHash(t, side("buy")))
	assert.Equal(t, mustHash(t, "buy"), mustHash(t, &s))
	ps := &s
	assert.Equal(t, mustHash(t, "buy"), mustHash(t, &ps))
	var iface any = []any{1}
	assert.Equal(t, mustHash(t, []int{1}), mustHash(t, &iface))
	// Lists: slices and arrays alike, typed or not.
	assert.Equal(t, mustHash(t, []any{1.5, 2.0}), mustHash(t, [2]float64{1.5, 2}))
	assert.Equal(t, mustHash(t, []any{"a", 1}), mustHash(t, &[]any{"a", 1}))
	// time.Time is its RFC 3339 text.
	ts := time.Date(2024, 6, 1, 13, 30, 0, 500, time.FixedZone("", 2*3600))
	assert.Equal(t, mustHash(t, "2024-06-01T13:30:00.0000005+02:00"), mustHash(t, ts))
	assert.Equal(t, mustText(t, map[string]any{"t": "2024-06-01T13:30:00.0000005+02:00"}), mustText(t, map[string]any{"t": ts}))
}

type base struct {
	ID    int    `json:"id"`
	Shade string `json:"shade"`
}

type inner struct {
	Deep string
}

type marshaled struct{ v int }

func (m marshaled) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`{"v": %d, "kind": "custom"}`, m.v)), nil
}

type ptrMarshaled struct{ v float64 }

func (m *ptrMarshaled) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(m.v, 'g', -1, 64) + ".0"), nil
}

type zeroable struct{ set bool }

func (z zeroable) IsZero() bool                 { return !z.set }
func (z zeroable) MarshalJSON() ([]byte, error) { return []byte(`"set"`), nil }

type rich struct {
	base
	*inner
	Shade     string       `json:"shade_outer"`
	Name      string       `json:"name"`
	Untagged  float64      //
	Skip      string       `json:"-"`
	Dash      string       `json:"-,"`
	Empty     []int        `json:"empty,omitempty"`
	ZeroOmit  zeroable     `json:"zero,omitzero"`
	SetOmit   zeroable     `json:"set,omitzero"`
	Count     int64        `json:"count,string"`
	Flag      *bool        `json:"flag,string"`
	Custom    marshaled    `json:"custom"`
	PtrCustom ptrMarshaled `json:"ptr_custom"`
	Any       any          `json:"any"`
	private   int
}

func TestHashStructs(t *testing.T) {
	r := rich{
		base:      base{ID: 1, Shade: "hidden by the outer field? no: different names"},
		inner:     &inner{Deep: "promoted"},
		Shade:     "outer",
		Name:      "n",
		Untagged:  2,
		Skip:      "skipped",
		Dash:      "dash",
		SetOmit:   zeroable{set: true},
		Count:     12,
		Custom:    marshaled{v: 3},
		PtrCustom: ptrMarshaled{v: 4},
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
	assert.Equal(t, mustText(t, asMap), mustText(t, r))
	assert.Equal(t, mustHash(t, asMap), mustHash(t, &r))

	// A nil embedded pointer hides its fields.
	r.inner = nil
	delete(asMap, "Deep")
	assert.Equal(t, mustText(t, asMap), mustText(t, r))

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
	assert.Equal(t, `{"Y": 4}`, mustText(t, both{a{1, 2}, b{3, 4}}))

	// Encoding/json and Python agree on the JSON of plain structs.
	type plain struct {
		Symbol string            `json:"symbol"`
		Prices []float64         `json:"prices"`
		Meta   map[string]string `json:"meta"`
	}
	p := plain{"AAPL", []float64{1.5, 2.25}, map[string]string{"b": "2", "a": "1"}}
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Equal(t, mustHash(t, p), mustHash(t, json.RawMessage(raw)))
}

func TestHashMapOrder(t *testing.T) {
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
	want := mustHash(t, build(fwd))
	for range 20 {
		assert.Equal(t, want, mustHash(t, build(rev)))
		assert.Equal(t, want, mustHash(t, build(fwd)))
	}
	// Python sorts str keys by code point; Go's byte order of UTF-8 agrees,
	// also across the BMP/astral boundary where UTF-16 order would not.
	assert.Equal(t, `{"a": 1, "\uffff": 2, "\ud83d\ude00": 3}`,
		mustText(t, map[string]int{"\U0001F600": 3, "\uffff": 2, "a": 1}))
}

func TestHashErrors(t *testing.T) {
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
		"MarshalJSON error":      failingMarshaler{},
		"invalid MarshalJSON":    invalidMarshaler{},
		"NaN in ,string field": struct {
			F float64 `json:",string"`
		}{math.NaN()},
		"func field":             struct{ F func() }{func() {}},
		"MarshalText not UTF-8":  badText{},
		"TextMarshaler key fail": map[badText]int{{}: 1},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := Hash(input)
			require.Error(t, err, "hash %s", h)
			assert.Empty(t, h)
		})
	}
}

type failingMarshaler struct{}

func (failingMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("boom") }

type invalidMarshaler struct{}

func (invalidMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{`), nil }

type badText struct{}

func (badText) MarshalText() ([]byte, error) { return []byte{0xff}, nil }

func TestHashDeepButAcyclic(t *testing.T) {
	// Deep nesting is not mistaken for a cycle, and shared (non-cyclic)
	// references are fine.
	var v any = "leaf"
	for range 3000 {
		v = []any{v}
	}
	text := mustText(t, v)
	assert.Equal(t, strings.Repeat("[", 3000)+`"leaf"`+strings.Repeat("]", 3000), text)
	shared := []int{1}
	assert.Equal(t, "[[1], [1]]", mustText(t, [][]int{shared, shared}))
}

// TestHashLargeInputsStream: hashing streams the text into the
// digest in pieces; the digest must be that of the whole text, for every
// kind of container that spills.
func TestHashLargeInputsStream(t *testing.T) {
	vec := make([]float64, 20_000)
	for i := range vec {
		vec[i] = float64(i) * 1.0001
	}
	anyList := make([]any, 10_000)
	dict := make(map[string]any, 10_000)
	for i := range anyList {
		anyList[i] = map[string]any{"i": i, "s": "é"}
		dict[fmt.Sprint("k", i)] = []int{i, i + 1}
	}
	inputs := map[string]any{
		"float vector":  vec,
		"list of dicts": anyList,
		"dict of lists": dict,
		"json tree":     rawJSONList(4000),
	}
	for name, in := range inputs {
		text, err := hashInputText(in)
		require.NoError(t, err, name)
		require.Greater(t, len(text), 64<<10, "%s must spill", name)
		sum := md5.Sum(text)
		got, err := Hash(in)
		require.NoError(t, err, name)
		assert.Equal(t, hex.EncodeToString(sum[:]), got, name)
	}
	// A failed hash leaves nothing behind in the pooled digest.
	_, err := Hash([]any{vec, make(chan int)})
	require.Error(t, err)
	again, err := Hash([]float64{1, 2})
	require.NoError(t, err)
	assert.Equal(t, md5Hex("[1.0, 2.0]"), again)
}

// rawJSONList is a list of json.RawMessage-like trees: the parsed-JSON path.
func rawJSONList(n int) jsonList {
	return jsonList(n)
}

type jsonList int

func (l jsonList) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i := range int(l) {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"b":%d,"a":"x%d"}`, i, i)
	}
	return append(b, ']'), nil
}

// TestHashAllocationsFlat: pooled buffers over 64 KiB used to be
// dropped and regrown on every call, so a 1M-float vector cost about twice
// the allocations of a small one and 98 MiB of garbage.
func TestHashAllocationsFlat(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	small := make([]float64, 1000)
	large := make([]float64, 1_000_000)
	for i := range large {
		large[i] = float64(i) * 1.0001
	}
	copy(small, large)
	_, _ = Hash(small) // warm the pool
	smallAllocs := testing.AllocsPerRun(20, func() { _, _ = Hash(small) })
	largeAllocs := testing.AllocsPerRun(3, func() { _, _ = Hash(large) })
	assert.LessOrEqual(t, largeAllocs, smallAllocs, "allocations grow with the input")
}

// refQuote is json.dumps's ensure_ascii string form, written from the
// UTF-16 code units independently of appendString.
func refQuote(s string) string {
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

func FuzzHash(f *testing.F) {
	f.Add("AAPL", 0.1, int64(42))
	f.Add("é😀\"\\\x00\x7f\u2028", math.Inf(-1), int64(math.MinInt64))
	f.Add("", 1e16, int64(1<<53+1))
	f.Add("\xff", math.NaN(), int64(-1))
	f.Add("k", 5e-324, int64(0))
	f.Fuzz(func(t *testing.T, s string, x float64, i int64) {
		inputs := []any{s, x, i, []any{s, x, i}, map[string]any{s: x, "i": i}, map[any]any{x: s}, map[int64]float64{i: x}}
		for _, in := range inputs {
			h1, err1 := Hash(in)
			h2, err2 := Hash(in)
			if (err1 == nil) != (err2 == nil) || h1 != h2 {
				t.Fatalf("hash of %#v not deterministic: %q %v / %q %v", in, h1, err1, h2, err2)
			}
			if err1 == nil && len(h1) != 32 {
				t.Fatalf("hash %q", h1)
			}
		}
		if !utf8.ValidString(s) {
			if _, err := Hash(s); err == nil {
				t.Fatalf("invalid UTF-8 %q hashed", s)
			}
			return
		}
		// str(s) is s; json.dumps of a list is the reference quoting.
		if got := mustHash(t, s); got != md5Hex(s) {
			t.Fatalf("str(%q): %s", s, got)
		}
		if got, want := mustText(t, []string{s}), "["+refQuote(s)+"]"; got != want {
			t.Fatalf("json.dumps([%q]) = %s, want %s", s, got, want)
		}
		// The same string through encoding/json and the JSON parser.
		raw, err := json.Marshal(map[string][]string{s: {s}})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := mustHash(t, map[string][]string{s: {s}}), mustHash(t, json.RawMessage(raw)); a != b {
			t.Fatalf("map vs its JSON for %q: %s %s", s, a, b)
		}
		// Float repr: round-trips, and Python's exponent rule.
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			r := string(appendFloatRepr(nil, x))
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
