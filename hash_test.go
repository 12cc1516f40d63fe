package redisclient

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustHash(t testing.TB, v any) string {
	t.Helper()
	h, err := HashInputSHA256(v)
	require.NoError(t, err)
	return h
}

func TestHashInputDeterministic(t *testing.T) {
	h := mustHash(t, map[string]any{"symbol": "AAPL", "window": 20})
	assert.Len(t, h, 64)
	assert.Regexp(t, "^[0-9a-f]{64}$", h)
	for range 50 { // map iteration order is random in Go
		assert.Equal(t, h, mustHash(t, map[string]any{"window": 20, "symbol": "AAPL"}))
	}
	assert.NotEqual(t, h, mustHash(t, map[string]any{"symbol": "AAPL", "window": 21}))
}

func TestHashInputStructMatchesMap(t *testing.T) {
	type Inner struct {
		Lag int `json:"lag"`
	}
	type Features struct {
		Symbol  string    `json:"symbol"`
		Prices  []float64 `json:"prices"`
		Skip    string    `json:"-"`
		Empty   string    `json:"empty,omitempty"`
		Inner   Inner     `json:"inner"`
		private int
	}
	s := Features{Symbol: "AAPL", Prices: []float64{1, 2.5}, Skip: "x", Inner: Inner{3}, private: 9}
	m := map[string]any{"symbol": "AAPL", "prices": []any{1, 2.5}, "inner": map[string]any{"lag": 3}}
	assert.Equal(t, mustHash(t, m), mustHash(t, s))
	assert.Equal(t, mustHash(t, s), mustHash(t, &s))

	// The map decoded from the struct's JSON hashes alike too.
	b, _ := json.Marshal(s)
	var decoded map[string]any
	require.NoError(t, json.Unmarshal(b, &decoded))
	assert.Equal(t, mustHash(t, s), mustHash(t, decoded))

	type Embedded struct {
		Inner
		Name string `json:"name"`
	}
	assert.Equal(t, mustHash(t, map[string]any{"lag": 1, "name": "n"}), mustHash(t, Embedded{Inner{1}, "n"}))
}

func TestHashInputValues(t *testing.T) {
	distinct := []any{
		nil, true, false, "", "a", 0, 1, -1, 1.5, math.Inf(1), math.Inf(-1), math.NaN(),
		int64(1) << 60, uint64(1) << 63, []float64{}, []float64{1}, map[string]any{},
		[]any{nil}, []byte("a"), time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		map[string]any{"a": []any{map[string]any{"b": nil}}},
	}
	seen := map[string]int{}
	for i, v := range distinct {
		h := mustHash(t, v)
		if j, dup := seen[h]; dup {
			t.Errorf("inputs %d (%#v) and %d (%#v) collide", i, v, j, distinct[j])
		}
		seen[h] = i
		assert.Equal(t, h, mustHash(t, v), "stable for %#v", v)
	}
	assert.Equal(t, mustHash(t, 1), mustHash(t, 1.0), "numbers compare by value")
	assert.Equal(t, mustHash(t, int8(3)), mustHash(t, uint16(3)))
	assert.Equal(t, mustHash(t, json.Number("2")), mustHash(t, 2))
	assert.Equal(t, mustHash(t, math.Copysign(0, -1)), mustHash(t, 0.0))
	assert.Equal(t, mustHash(t, math.NaN()), mustHash(t, -math.NaN()))
	berlin := time.FixedZone("CET", 3600)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	assert.Equal(t, mustHash(t, at), mustHash(t, at.In(berlin)), "times hash by instant")
	assert.Equal(t, mustHash(t, map[int]string{1: "a"}), mustHash(t, map[string]string{"1": "a"}))
	assert.Equal(t, mustHash(t, []float64{1, 2}), mustHash(t, [2]float64{1, 2}))
	assert.NotEqual(t, mustHash(t, []string{"ab", "c"}), mustHash(t, []string{"a", "bc"}))
}

func TestHashInputRejectsUnsupported(t *testing.T) {
	type node struct {
		Next *node `json:"next"`
	}
	cyc := &node{}
	cyc.Next = cyc
	loop := map[string]any{}
	loop["self"] = loop
	for name, v := range map[string]any{
		"chan": make(chan int), "func": func() {}, "complex": complex(1, 2),
		"cycle": cyc, "map cycle": loop, "map key": map[[2]int]int{{1, 2}: 3},
		"nested chan": map[string]any{"c": make(chan int)},
	} {
		_, err := HashInputSHA256(v)
		assert.Error(t, err, name)
	}
}

func TestHashInputAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	vec := make([]float64, 256)
	for i := range vec {
		vec[i] = float64(i) * 1.01
	}
	m := map[string]any{}
	for i := range 20 {
		m[string(rune('a'+i))] = float64(i)
	}
	_, _ = HashInputSHA256(vec) // warm the pool
	assert.LessOrEqual(t, testing.AllocsPerRun(100, func() { _, _ = HashInputSHA256(vec) }), 2.0)
	assert.LessOrEqual(t, testing.AllocsPerRun(100, func() { _, _ = HashInputSHA256(m) }), 2.0)
}

func FuzzHashInput(f *testing.F) {
	f.Add(`{"a":1,"b":[1,2.5,"x",null,true]}`)
	f.Add(`[1e308,-0.0,{"z":{},"y":[]}]`)
	f.Add(`"\u00e9\ud83d\ude00"`)
	f.Fuzz(func(t *testing.T, doc string) {
		var v any
		d := json.NewDecoder(stringsReader(doc))
		d.UseNumber()
		if d.Decode(&v) != nil {
			return
		}
		h1, err := HashInputSHA256(v)
		if err != nil {
			t.Fatalf("JSON values are always hashable: %v", err)
		}
		// Re-decoding the same document must give the same hash.
		var w any
		d2 := json.NewDecoder(stringsReader(doc))
		d2.UseNumber()
		_ = d2.Decode(&w)
		if h2, _ := HashInputSHA256(w); h1 != h2 {
			t.Fatalf("same input, different hashes: %s %s", h1, h2)
		}
	})
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
