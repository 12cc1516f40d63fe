package redisclient

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMsgpackUsesJSONTagsAndRejectsTrailingBytes(t *testing.T) {
	type tagged struct {
		Price float64 `json:"px"`
	}
	b, err := MsgpackSerializer{}.Marshal(tagged{1.5})
	require.NoError(t, err)
	var m map[string]float64
	require.NoError(t, MsgpackSerializer{}.Unmarshal(b, &m))
	assert.Equal(t, map[string]float64{"px": 1.5}, m)
	var v tagged
	assert.Error(t, MsgpackSerializer{}.Unmarshal(append(b, 0x01), &v))
}

func TestEncodeValueNumbersAsText(t *testing.T) {
	for v, want := range map[any]string{
		42: "42", int64(-7): "-7", uint8(255): "255", 3.5: "3.5", float32(0.25): "0.25",
		1e21: "1e+21", math.Inf(1): "inf", math.Inf(-1): "-inf", 3.0: "3.0", 1e-5: "1e-05", 1e16: "1e+16",
	} {
		got, err := encodeValue(MsgpackSerializer{}, v)
		require.NoError(t, err)
		assert.Equal(t, want, got, "%T %v", v, v)
	}
	raw, err := encodeValue(JSONSerializer{}, []byte{1, 2})
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2}, raw)
}

func TestDecodeNumberLeavesDestinationOnError(t *testing.T) {
	n := 5
	require.Error(t, decodeValue(MsgpackSerializer{}, []byte("abc"), &n))
	assert.Equal(t, 5, n)
	var u uint
	require.Error(t, decodeValue(MsgpackSerializer{}, []byte("-1"), &u))
	var f float32
	require.NoError(t, decodeValue(MsgpackSerializer{}, []byte("inf"), &f))
	assert.True(t, math.IsInf(float64(f), 1))
	var i32 int32
	require.Error(t, decodeValue(MsgpackSerializer{}, []byte("99999999999"), &i32), "overflow")
}

// FuzzDecodeValue feeds arbitrary stored bytes to every kind of destination:
// decoding may fail but must never panic.
func FuzzDecodeValue(f *testing.F) {
	for _, seed := range []string{"", "42", "3.5", "hello", "\x80\x04\x95", "\x80", "{\"a\":1}", "\xde\xff\xff", "\x93\x01\x02", "\xc7\xff\xff\xff"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := jsonContainers(data)
		want, wantErr := naiveJSONContainers(data)
		if (err != nil) != (wantErr != nil) || (err == nil && n != want) {
			t.Fatalf("jsonContainers = %d, %v; a byte at a time: %d, %v", n, err, want, wantErr)
		}
		for _, s := range []Serializer{MsgpackSerializer{}, JSONSerializer{}, PythonJSONSerializer{}} {
			var (
				a   any
				str string
				n   int64
				fl  float64
				m   map[string]any
				sl  []prediction
				p   prediction
			)
			for _, dest := range []any{&a, &str, &n, &fl, &m, &sl, &p} {
				_ = decodeValue(s, data, dest)
			}
			var b []byte
			if err := decodeValue(s, data, &b); err != nil || string(b) != string(data) {
				t.Fatalf("raw bytes must round-trip: %v", err)
			}
		}
	})
}

func TestMsgpackRejectsLengthsBeyondThePayload(t *testing.T) {
	// Without the framing check these make the decoder allocate gigabytes.
	for _, in := range []string{"\xdd\x7f\xff\xff\xff", "\xdf\x7f\xff\xff\xff", "\xdb\x7f\xff\xff\xff", "\xc6\x7f\xff\xff\xff", "\x92\x01", "\xc1", "\x01\x02"} {
		var sl []prediction
		err := MsgpackSerializer{}.Unmarshal([]byte(in), &sl)
		assert.ErrorContains(t, err, "msgpack:", "%q", in)
	}
	valid, err := MsgpackSerializer{}.Marshal(map[string]any{"a": []any{1, "x", nil, 2.5, []byte{1}, map[string]any{}}, "t": samplePrediction()})
	require.NoError(t, err)
	require.NoError(t, checkMsgpack(valid, decodeWeights{1, 1}))
	for cut := range len(valid) {
		assert.Error(t, checkMsgpack(valid[:cut], decodeWeights{1, 1}), "truncated at %d", cut)
	}
}

func TestDecodeAnyNumbers(t *testing.T) {
	for text, want := range map[string]any{
		"42": int64(42), "-3.5": -3.5, "3.0": 3.0, "1e-05": 1e-05,
		"inf": "inf", "-inf": "-inf", "nan": "nan", "0x10": "0x10", "hello": "hello",
	} {
		var got any
		require.NoError(t, decodeValue(JSONSerializer{}, []byte(text), &got), text)
		assert.Equal(t, want, got, text)
	}
	var big any
	require.NoError(t, decodeValue(MsgpackSerializer{}, []byte("1180591620717411303424"), &big))
	assert.Equal(t, "1180591620717411303424", fmt.Sprint(big), "2**70 keeps every digit")
}

// naiveJSONContainers is jsonContainers a byte at a time, to check the
// word-at-a-time version against.
func naiveJSONContainers(data []byte) (int, error) {
	depth, n := 0, 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			if i = jsonStringEnd(data, i); i < 0 {
				return n, nil
			}
		case '[', '{':
			if depth++; depth > maxValueDepth {
				return 0, ErrValueTooComplex
			}
			n++
		case ']', '}':
			depth--
		}
	}
	return n, nil
}
