package redisclient

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/systemtrader/redisclient/internal/pyjson"
)

// The codec itself is tested in internal/pyjson; these tests cover what
// the root adds: the preset, the limits, the pickle check, the sentinels and
// the error prefixes.

type pyOrderFeatures struct {
	Symbol string `json:"symbol"`
	Qty    int    `json:"qty"`
	Note   string `json:"note,omitempty"`
}

func TestPythonJSONSerializerAdapter(t *testing.T) {
	s := PythonJSONSerializer{}
	in := map[string]any{"b": 1, "a": []float64{1, 0.5, math.NaN()}, "o": pyOrderFeatures{Symbol: "é", Qty: 2}}
	b, err := s.Marshal(in)
	require.NoError(t, err)
	assert.Equal(t, `{"a": [1.0, 0.5, NaN], "b": 1, "o": {"symbol": "\u00e9", "qty": 2}}`, string(b))
	direct, err := pyjson.Marshal(in)
	require.NoError(t, err)
	assert.Equal(t, direct, b, "the serializer writes the codec's text")

	t.Run("codec errors name the codec", func(t *testing.T) {
		_, err := s.Marshal([]byte("x"))
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "python json: "), err.Error())
		var o pyOrderFeatures
		for _, data := range []string{`{"qty": "many"}`, `{"symbol": `, `[NaN]`} {
			err := s.Unmarshal([]byte(data), &o)
			require.Error(t, err, data)
			assert.True(t, strings.HasPrefix(err.Error(), "python json: "), err.Error())
		}
		err = s.Unmarshal([]byte(`1`), o)
		require.Error(t, err)
		assert.Equal(t, "python json: destination must be a non-nil pointer, got redisclient.pyOrderFeatures", err.Error())
	})
	t.Run("a pickle is ErrUnsupportedFormat for every destination", func(t *testing.T) {
		pickle := []byte("\x80\x04\x95\x00")
		for _, dest := range []any{new(any), new(string), new(pyOrderFeatures), new(map[string]any), new(bool)} {
			assert.ErrorIs(t, s.Unmarshal(pickle, dest), ErrUnsupportedFormat, "%T", dest)
		}
	})
	t.Run("the value limits apply", func(t *testing.T) {
		var deep any = 1
		for range maxValueDepth + 1 {
			deep = []any{deep}
		}
		_, err := s.Marshal(deep)
		assert.ErrorIs(t, err, ErrValueTooComplex)
		var v any
		err = s.Unmarshal([]byte(strings.Repeat("[", maxValueDepth+1)+strings.Repeat("]", maxValueDepth+1)), &v)
		assert.ErrorIs(t, err, ErrValueTooComplex)
	})
}

// TestPythonHashErrors: a value hash_input cannot hash is an error naming
// the Python hash, from the client as from the adapter, never a hash.
func TestPythonHashErrors(t *testing.T) {
	c, _ := newMiniredisClient(t, PythonCompatOptions())
	for _, input := range []any{make(chan int), "a\xffb", map[any]int{"a": 1, 2: 2}} {
		h, err := c.HashInput(input)
		require.Error(t, err, "%#v", input)
		assert.Empty(t, h)
		assert.True(t, strings.HasPrefix(err.Error(), "python hash: "), err.Error())
		_, direct := pythonHashInput(input)
		assert.Equal(t, err.Error(), direct.Error())
	}
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
