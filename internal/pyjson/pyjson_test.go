package pyjson

import (
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMarshal: the text json.dumps writes, from Python 3.11.
func TestMarshal(t *testing.T) {
	tests := []struct {
		input any
		want  string
	}{
		{map[string]any{"b": 1, "a": []float64{1, 0.5, math.NaN()}}, `{"a": [1.0, 0.5, NaN], "b": 1}`},
		{orderFeatures{Symbol: "é", Qty: 2}, `{"symbol": "\u00e9", "qty": 2}`}, // field order, not sorted
		{true, "true"},
		{(*int)(nil), "null"},
		{[]any{}, "[]"},
		{map[int]string{10: "a", 9: "b"}, `{"9": "b", "10": "a"}`},
		{map[any]int{"a": 1, 2: 2, nil: 3}, `{"null": 3, "2": 2, "a": 1}`}, // Python writes these unsorted; Go orders them
		{json.RawMessage(`{"z":1,"a":2}`), `{"z": 1, "a": 2}`},             // a marshaler's key order is kept
		{time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), `"2024-06-01T00:00:00Z"`},
	}
	for _, tt := range tests {
		b, err := Marshal(tt.input)
		require.NoError(t, err, "%#v", tt.input)
		assert.Equal(t, tt.want, string(b), "%#v", tt.input)
	}
	for _, bad := range []any{[]byte("x"), make(chan int), map[[1]int]int{{1}: 1}, "a\xff"} {
		_, err := Marshal(bad)
		assert.Error(t, err, "%T", bad)
	}
}

type DecodeBase struct {
	ID int `json:"id"`
}

type decodeTarget struct {
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
	Nested  *decodeNested      `json:"nested"`
	Ignored string             `json:"-"`
}

type decodeNested struct {
	*DecodeBase
	Value float64 `json:"value"`
}

func TestUnmarshal(t *testing.T) {
	t.Run("any gets Python's types", func(t *testing.T) {
		var v any
		require.NoError(t, Unmarshal([]byte(`{"i": 1, "f": 1.0, "big": 1180591620717411303424, "n": NaN, "l": [true, null, -Infinity], "s": "\u00e9\ud83d\ude00"}`), &v))
		m := v.(map[string]any)
		assert.Equal(t, int64(1), m["i"])
		assert.Equal(t, 1.0, m["f"])
		assert.Equal(t, "1180591620717411303424", m["big"].(*big.Int).String())
		assert.True(t, math.IsNaN(m["n"].(float64)))
		assert.Equal(t, []any{true, nil, math.Inf(-1)}, m["l"])
		assert.Equal(t, "é😀", m["s"])
		// Decoded values hash as Python hashes what json.loads returned.
		var py any
		require.NoError(t, Unmarshal([]byte(`{"features": [0.12, -1.5e-07, 3.0, 1e+16], "symbol": "AAPL", "window": 20}`), &py))
		assert.Equal(t, "caeeb47995c2612d6bb969c80233326d", mustHash(t, py))
	})
	t.Run("any falls back to text like Python's get", func(t *testing.T) {
		for _, text := range []string{"hello", "True", "nan", "inf", "{not json", "", "1 2"} {
			var v any
			require.NoError(t, Unmarshal([]byte(text), &v), text)
			assert.Equal(t, text, v)
		}
		var v any
		assert.Error(t, Unmarshal([]byte{0xff, 0xfe}, &v), "neither JSON nor text")
	})
	t.Run("string", func(t *testing.T) {
		var str string
		require.NoError(t, Unmarshal([]byte(`"a\nb"`), &str))
		assert.Equal(t, "a\nb", str)
		require.NoError(t, Unmarshal([]byte(`plain`), &str))
		assert.Equal(t, "plain", str)
		require.NoError(t, Unmarshal([]byte(`[1]`), &str))
		assert.Equal(t, "[1]", str)
	})
	t.Run("bool as Python stores it", func(t *testing.T) {
		var b bool
		require.NoError(t, Unmarshal([]byte("True"), &b))
		assert.True(t, b)
		require.NoError(t, Unmarshal([]byte("false"), &b))
		assert.False(t, b)
		require.NoError(t, Unmarshal([]byte("False"), &b))
		assert.False(t, b)
	})
	t.Run("struct with NaN, Infinity and interfaces", func(t *testing.T) {
		var d decodeTarget
		d.Ignored = "kept"
		data := `{"symbol": "AAPL", "price": NaN, "score": -Infinity, "series": [1.0, Infinity, 2],
			"fixed": [NaN], "by_name": {"a": NaN, "b": 1.5}, "by_id": {"7": [1, 2.0]}, "extra": {"k": 3},
			"ptr": Infinity, "count": "42", "stamp": "2024-06-01T13:30:00Z", "unknown": NaN,
			"nested": {"id": 5, "value": NaN}, "SYMBOL": "case-insensitive duplicate"}`
		require.NoError(t, Unmarshal([]byte(data), &d))
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
		require.NotNil(t, d.Nested.DecodeBase, "embedded pointer allocated")
		assert.Equal(t, 5, d.Nested.ID)
		assert.True(t, math.IsNaN(d.Nested.Value))
		assert.Equal(t, "kept", d.Ignored)
	})
	t.Run("plain JSON goes through encoding/json", func(t *testing.T) {
		var d orderFeatures
		require.NoError(t, Unmarshal([]byte(`{"symbol": "X", "qty": 3}`), &d))
		assert.Equal(t, orderFeatures{Symbol: "X", Qty: 3}, d)
		var bi big.Int
		require.NoError(t, Unmarshal([]byte(`1180591620717411303424`), &bi))
		assert.Equal(t, "1180591620717411303424", bi.String())
		var m map[string][]any
		require.NoError(t, Unmarshal([]byte(`{"a": [1, 1.5, "x"]}`), &m))
		assert.Equal(t, map[string][]any{"a": {int64(1), 1.5, "x"}}, m)
	})
	t.Run("errors", func(t *testing.T) {
		var d orderFeatures
		assert.Error(t, Unmarshal([]byte(`{"qty": "many"}`), &d))
		assert.Error(t, Unmarshal([]byte(`{"qty": NaN}`), &d))
		assert.Error(t, Unmarshal([]byte(`{"symbol": `), &d))
		var i int
		assert.Error(t, Unmarshal([]byte(`[NaN]`), &i))
		assert.Error(t, Unmarshal([]byte(`1`), d), "not a pointer")
		assert.Error(t, Unmarshal([]byte(`1`), (*int)(nil)))
	})
	t.Run("nesting beyond MaxDepth", func(t *testing.T) {
		nested := func(n int) []byte {
			return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
		}
		var v any
		require.NoError(t, Unmarshal(nested(MaxDepth), &v))
		assert.IsType(t, []any{}, v, "parsed, not taken as text")
		var d []any
		err := Unmarshal(nested(MaxDepth+2), &d)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "nested too deeply")
	})
	t.Run("round trip", func(t *testing.T) {
		in := map[string]any{"a": []any{int64(1), 2.5, math.Inf(1), "é"}, "b": map[string]any{"c": nil, "d": true}}
		b, err := Marshal(in)
		require.NoError(t, err)
		var out any
		require.NoError(t, Unmarshal(b, &out))
		assert.Equal(t, in, out)
	})
}

// FuzzUnmarshal: no input panics, and whatever decodes into an any encodes
// and decodes back to itself.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5, NaN, -Infinity, null, true, "\u00e9"]}`, `[]`, `"x"`, `1e400`, `-0`, `{"a":1,"a":2}`, `[[[[`, "True", "\x80\x04"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := Unmarshal(data, &v); err != nil {
			return
		}
		var d decodeTarget
		_ = Unmarshal(data, &d)
		var m map[string]any
		_ = Unmarshal(data, &m)
		if _, isText := v.(string); isText {
			return
		}
		// A decoded value encodes and decodes to itself.
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("marshal %#v: %v", v, err)
		}
		var back any
		if err := Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %q: %v", b, err)
		}
		b2, err := Marshal(back)
		if err != nil || string(b) != string(b2) {
			t.Fatalf("round trip %q -> %q (%v)", b, b2, err)
		}
	})
}

// TestUnmarshalPlainStructAllocations: decoding plain JSON into a struct
// without interfaces goes through encoding/json and allocates no more than
// it does (a stray escape once cost one allocation per call).
func TestUnmarshalPlainStructAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	data := []byte(`{"symbol": "AAPL", "qty": 5, "note": "n"}`)
	var o orderFeatures
	base := testing.AllocsPerRun(100, func() { _ = json.Unmarshal(data, &o) })
	got := testing.AllocsPerRun(100, func() { _ = Unmarshal(data, &o) })
	assert.LessOrEqual(t, got, base)
}

// BenchmarkUnmarshalAnyNumbers decodes numbers into Python's types, the
// parser's path: each float is parsed from the text and boxed, each int
// kept as its text.
func BenchmarkUnmarshalAnyNumbers(b *testing.B) {
	data := []byte(`[0.5, 1.25, -3.75, 1e-05, 2.5e+16, 123456.789, 0.1, 42, -7, 1000000]`)
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}
