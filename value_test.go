package redisclient

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	am "github.com/systemtrader/redisclient/internal/codectest/a/m"
	bm "github.com/systemtrader/redisclient/internal/codectest/b/m"
)

// Named types of every layout, as services declare them.
type (
	qty     int
	lots    int8
	pxf     float32
	flags   uint16
	side    string
	blob    []byte
	enabled bool
)

type kindsInner struct {
	A int      `json:"a"`
	B []string `json:"b"`
}

type KindsEmbedded struct {
	E int `json:"e"`
}

type kindsOuter struct {
	KindsEmbedded
	Name   string                        `json:"name"`
	Qty    qty                           `json:"qty"`
	Px     pxf                           `json:"px"`
	Side   side                          `json:"side"`
	Inner  kindsInner                    `json:"inner"`
	Ptr    *kindsInner                   `json:"ptr"`
	Nil    *kindsInner                   `json:"nil"`
	Nums   map[string]float64            `json:"nums"`
	Nested map[string]map[string][]int64 `json:"nested"`
	Opt    string                        `json:"opt,omitempty"`
	Skip   string                        `json:"-"`
}

// serializers are the three built-in serializers, by name.
var serializers = []struct {
	name string
	ser  Serializer
}{{"msgpack", MsgpackSerializer{}}, {"json", JSONSerializer{}}, {"pyjson", PythonJSONSerializer{}}}

type kindCase struct {
	name      string
	v         any
	refusedBy string // serializers that refuse it at Set ("msgpack json pyjson"), "" for none
	stored    string // the exact bytes in Redis, when they do not depend on the serializer
}

func kindCases() []kindCase {
	i := 7
	ip := &i
	s := "text"
	inner := kindsInner{A: 1, B: []string{"x", "y"}}
	return []kindCase{
		{name: "int", v: -42, stored: "-42"},
		{name: "int8", v: int8(-7), stored: "-7"},
		{name: "int8 min", v: int8(math.MinInt8), stored: "-128"},
		{name: "int16", v: int16(12), stored: "12"},
		{name: "int32", v: int32(-99999), stored: "-99999"},
		{name: "int64 min", v: int64(math.MinInt64), stored: "-9223372036854775808"},
		{name: "uint", v: uint(42), stored: "42"},
		{name: "uint8", v: uint8(7), stored: "7"},
		{name: "uint8 max", v: uint8(255), stored: "255"},
		{name: "uint16", v: uint16(65), stored: "65"},
		{name: "uint32", v: uint32(12), stored: "12"},
		{name: "uint64 max", v: uint64(math.MaxUint64), stored: "18446744073709551615"},
		{name: "uintptr", v: uintptr(42), stored: "42"},
		{name: "float32", v: float32(3), stored: "3.0"},
		{name: "float32 tenth", v: float32(0.1), stored: "0.1"},
		{name: "float32 max", v: float32(math.MaxFloat32), stored: "3.4028235e+38"},
		{name: "float32 inf", v: float32(math.Inf(1)), stored: "inf"},
		{name: "float32 -inf", v: float32(math.Inf(-1)), stored: "-inf"},
		{name: "float32 nan", v: float32(math.NaN()), stored: "nan"},
		{name: "float64", v: 3.0, stored: "3.0"},
		{name: "float64 tiny", v: 1e-05, stored: "1e-05"},
		{name: "float64 subnormal", v: 5e-324, stored: "5e-324"},
		{name: "float64 huge", v: 1e16, stored: "1e+16"},
		{name: "float64 -0", v: math.Copysign(0, -1), stored: "-0.0"},
		{name: "float64 nan", v: math.NaN(), stored: "nan"},
		{name: "named int", v: qty(42), stored: "42"},
		{name: "named int8", v: lots(-3), stored: "-3"},
		{name: "named float32", v: pxf(187.25), stored: "187.25"},
		{name: "named uint16", v: flags(65), stored: "65"},
		{name: "duration", v: 1500 * time.Millisecond, stored: "1500000000"},
		{name: "month", v: time.March, stored: "3"},
		{name: "string", v: "h\u00e9llo", stored: "h\u00e9llo"},
		{name: "empty string", v: "", stored: ""},
		{name: "named string", v: side("buy"), stored: "buy"},
		{name: "bytes", v: []byte{0x80, 0x04, 0xff}, stored: "\x80\x04\xff"},
		{name: "named bytes", v: blob("raw"), stored: "raw"},
		{name: "bool", v: true},
		{name: "named bool", v: enabled(false)},
		{name: "pointer to int", v: ip, stored: "7"},
		{name: "pointer to pointer", v: &ip, stored: "7"},
		{name: "pointer to string", v: &s, stored: "text"},
		{name: "pointer to struct", v: &inner},
		{name: "nil pointer to struct", v: (*kindsInner)(nil)},
		{name: "slice of ints", v: []int{1, -2, 3}},
		{name: "empty slice", v: []int{}},
		{name: "slice of float32", v: []float32{0.1, 2.5}},
		{name: "slice of strings", v: []string{"a", "", "\u00e9"}},
		{name: "slice of slices", v: [][]int{{1}, {}, {2, 3}}},
		{name: "slice of any", v: []any{"a", true, nil}},
		{name: "array", v: [3]int{1, 2, 3}},
		{name: "byte array", v: [4]byte{1, 2, 3, 4}},
		{name: "map", v: map[string]int{"b": 2, "a": 1, "c": 3}},
		{name: "map int keys", v: map[int]string{10: "x", 9: "y"}},
		{name: "map of any", v: map[string]any{"s": "x", "list": []any{"a", "b"}}},
		{name: "nested struct", v: kindsOuter{
			KindsEmbedded: KindsEmbedded{E: 5}, Name: "n", Qty: 3, Px: 0.5, Side: "sell",
			Inner: inner, Ptr: &inner, Nums: map[string]float64{"z": 1.5, "a": -2},
			Nested: map[string]map[string][]int64{"x": {"y": {1, 2}}}}},
		{name: "struct with bytes", v: struct {
			B []byte `json:"b"`
		}{[]byte{1, 2}}, refusedBy: "pyjson"},
		{name: "struct with nan", v: struct {
			F float64 `json:"f"`
		}{math.NaN()}, refusedBy: "json"},
		{name: "time", v: time.Date(2026, 11, 25, 9, 30, 0, 123456789, time.UTC)},
		{name: "complex64", v: complex64(1), refusedBy: "msgpack json pyjson"},
		{name: "complex128", v: complex(1, 2), refusedBy: "msgpack json pyjson"},
		{name: "chan", v: make(chan int), refusedBy: "msgpack json pyjson"},
		{name: "func", v: func() {}, refusedBy: "msgpack json pyjson"},
		{name: "unsafe pointer", v: unsafe.Pointer(&i), refusedBy: "msgpack json pyjson"},
		{name: "nil", v: nil, refusedBy: "msgpack json pyjson"},
		{name: "nil pointer to int", v: (*int)(nil), refusedBy: "msgpack json pyjson"},
		{name: "nil pointer to string", v: (*string)(nil), refusedBy: "msgpack json pyjson"},
	}
}

// sameValue is equality for round trips: NaN equals NaN, times compare as
// instants (MessagePack keeps no zone), the rest deeply.
func sameValue(want, got any) bool {
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	if w.IsValid() && g.IsValid() && w.Type() == g.Type() {
		switch w.Kind() {
		case reflect.Float32, reflect.Float64:
			if math.IsNaN(w.Float()) {
				return math.IsNaN(g.Float())
			}
		case reflect.Struct:
			if wt, ok := want.(time.Time); ok {
				return wt.Equal(got.(time.Time))
			}
			if w.NumField() == 1 && w.Field(0).Kind() == reflect.Float64 && math.IsNaN(w.Field(0).Float()) {
				return math.IsNaN(g.Field(0).Float())
			}
		}
	}
	return reflect.DeepEqual(want, got)
}

// TestValueKindsRoundTrip is the property of the codec: every Go kind,
// named or not, written with Set and read with Get into its own type, comes
// back equal through every serializer, on miniredis and on a real server,
// or is refused by Set with nothing written. Values with a fixed layout
// have the documented bytes in Redis.
func TestValueKindsRoundTrip(t *testing.T) {
	for _, s := range serializers {
		t.Run(s.name, func(t *testing.T) {
			backends(t, Options{Serializer: s.ser}, func(t *testing.T, c *Client) {
				ctx := testCtx(t)
				for _, tc := range kindCases() {
					key := "k:" + tc.name
					err := c.Set(ctx, key, tc.v, 0)
					if refused := tc.refusedBy != "" && containsWord(tc.refusedBy, s.name); refused {
						require.Error(t, err, tc.name)
						assert.Contains(t, err.Error(), c.Key(key), tc.name)
						n, err := c.Exists(ctx, key)
						require.NoError(t, err)
						assert.Zero(t, n, "%s: nothing written", tc.name)
						continue
					}
					require.NoError(t, err, tc.name)
					dest := reflect.New(reflect.TypeOf(tc.v))
					require.NoError(t, c.Get(ctx, key, dest.Interface()), tc.name)
					assert.True(t, sameValue(tc.v, dest.Elem().Interface()), "%s: wrote %#v, read %#v", tc.name, tc.v, dest.Elem().Interface())
					if tc.stored != "" || tc.name == "empty string" {
						raw, err := c.Redis().Get(ctx, c.Key(key)).Result()
						require.NoError(t, err)
						assert.Equal(t, tc.stored, raw, "%s: bytes in Redis", tc.name)
					}
				}
			})
		})
	}
}

func containsWord(list, w string) bool {
	for start := 0; start < len(list); {
		end := start
		for end < len(list) && list[end] != ' ' {
			end++
		}
		if list[start:end] == w {
			return true
		}
		start = end + 1
	}
	return false
}

// TestNumericKindsOnEveryReadPath covers the small and named numeric kinds
// that used to be written as text and read as MessagePack (uint16(7) read
// back as 55, two digits as "1 trailing bytes").
func TestNumericKindsOnEveryReadPath(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		require.NoError(t, c.Set(ctx, "u16", uint16(7), 0))
		require.NoError(t, c.Set(ctx, "u16b", uint16(42), 0))
		got, err := MGet[uint16](ctx, c, "u16", "u16b")
		require.NoError(t, err)
		assert.Equal(t, map[string]uint16{"u16": 7, "u16b": 42}, got)

		var q qty
		require.NoError(t, c.Set(ctx, "qty", qty(12), 0))
		require.NoError(t, c.Get(ctx, "qty", &q))
		assert.Equal(t, qty(12), q)

		_, err = c.HSet(ctx, "h", "f", int8(-5))
		require.NoError(t, err)
		var i8 int8
		require.NoError(t, c.HGet(ctx, "h", "f", &i8))
		assert.Equal(t, int8(-5), i8)

		_, err = c.RPush(ctx, "l", uint8(7), uint8(200), lots(-1))
		require.NoError(t, err)
		var u8s []uint8
		require.NoError(t, c.LRange(ctx, "l", 0, 1, &u8s))
		assert.Equal(t, []uint8{7, 200}, u8s)

		n, err := c.Incr(ctx, "counter", 12)
		require.NoError(t, err)
		require.Equal(t, int64(12), n)
		var u32 uint32
		require.NoError(t, c.Get(ctx, "counter", &u32))
		assert.Equal(t, uint32(12), u32, "INCR then Get into *uint32")

		var loads atomic.Int32
		for range 3 {
			v, err := GetOrSet(ctx, c, "gos", time.Minute, func(context.Context) (uint16, error) {
				loads.Add(1)
				return 7, nil
			})
			require.NoError(t, err)
			assert.Equal(t, uint16(7), v)
		}
		assert.Equal(t, int32(1), loads.Load(), "GetOrSet of a uint16 hits")

		var f32 float32
		require.NoError(t, Message{Channel: "c", Payload: []byte("3.0")}.Decode(&f32))
		assert.Equal(t, float32(3), f32)
		var u16 uint16
		require.NoError(t, Message{Channel: "c", Payload: []byte("7")}.Decode(&u16))
		assert.Equal(t, uint16(7), u16)
	})
}

// TestNilAndInvalidDestinations: a nil pointer, a non-pointer or an
// unsupported destination is an error naming the key, for every read
// method, never a panic.
func TestNilAndInvalidDestinations(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "k", "7", 0))
	_, err := c.HSet(ctx, "h", "f", "7")
	require.NoError(t, err)
	_, err = c.RPush(ctx, "l", "7", "8")
	require.NoError(t, err)
	_, err = c.SAdd(ctx, "s", "7")
	require.NoError(t, err)
	_, err = c.ZAdd(ctx, "z", 1, "7")
	require.NoError(t, err)
	mr.Set("trading:model:m:h1", "7")
	members, err := c.ZRangeWithScores(ctx, "z", 0, -1, false)
	require.NoError(t, err)
	require.Len(t, members, 1)

	var n int
	bad := map[string]any{
		"nil":            nil,
		"nil *string":    (*string)(nil),
		"nil *[]byte":    (*[]byte)(nil),
		"nil *int":       (*int)(nil),
		"nil *float64":   (*float64)(nil),
		"nil *int64":     (*int64)(nil),
		"nil *any":       (*any)(nil),
		"nil *uint16":    (*uint16)(nil),
		"nil *struct":    (*kindsInner)(nil),
		"nil *map":       (*map[string]int)(nil),
		"non-pointer":    n,
		"struct value":   kindsInner{},
		"*chan":          new(chan int),
		"*func":          new(func()),
		"*complex128":    new(complex128),
		"*unsafe.Ptr":    new(unsafe.Pointer),
		"nil **int":      (**int)(nil),
		"nil *kindsPtr":  (*qty)(nil),
		"nil *[]uint16":  (*[]uint16)(nil),
		"nil *map[s]int": (*map[string]int)(nil),
	}
	type reader struct {
		name, key string
		read      func(dest any) error
	}
	readers := []reader{
		{"Get", "trading:k", func(d any) error { return c.Get(ctx, "k", d) }},
		{"HGet", "trading:h", func(d any) error { return c.HGet(ctx, "h", "f", d) }},
		{"LPop", "trading:l", func(d any) error { return c.LPop(ctx, "l", d) }},
		{"RPop", "trading:l", func(d any) error { return c.RPop(ctx, "l", d) }},
		{"GetCachedModelPrediction", "trading:model:m:h1", func(d any) error { return c.GetCachedModelPrediction(ctx, "m", "h1", d) }},
		{"Message.Decode", "trading:ch", func(d any) error {
			return Message{Channel: "ch", full: "trading:ch", Payload: []byte("7")}.Decode(d)
		}},
		{"ScoredMember.Decode", "trading:z", func(d any) error { return members[0].Decode(d) }},
		{"StreamMessage.Decode", "trading:st", func(d any) error {
			return StreamMessage{ID: "1-0", Stream: "st", key: "trading:st", Payload: []byte("7")}.Decode(d)
		}},
		{"LRange", "trading:l", func(d any) error { return c.LRange(ctx, "l", 0, -1, d) }},
		{"SMembers", "trading:s", func(d any) error { return c.SMembers(ctx, "s", d) }},
		{"ZRange", "trading:z", func(d any) error { return c.ZRange(ctx, "z", 0, -1, false, d) }},
		{"HGetAll", "trading:h", func(d any) error { return c.HGetAll(ctx, "h", d) }},
	}
	for _, r := range readers {
		for name, dest := range bad {
			_, _ = c.RPush(ctx, "l", "7", "8") // keep the list non-empty for the pops
			var err error
			require.NotPanics(t, func() { err = r.read(dest) }, "%s into %s", r.name, name)
			require.Error(t, err, "%s into %s", r.name, name)
			assert.Contains(t, err.Error(), r.key, "%s into %s", r.name, name)
		}
	}
	// Typed batch reads refuse an element type that cannot be decoded.
	_, err = MGet[chan int](ctx, c, "k")
	require.ErrorIs(t, err, ErrUnsupportedType)
	assert.Contains(t, err.Error(), "trading:k")
	_, _, err = GetModelPredictions[func()](ctx, c, "m", []string{"h1"})
	require.ErrorIs(t, err, ErrUnsupportedType)
	assert.Contains(t, err.Error(), "trading:model:m:h1")
	// A nil pointer of a decodable kind is ErrUnsupportedType.
	assert.ErrorIs(t, c.Get(ctx, "k", (*string)(nil)), ErrUnsupportedType)
	assert.ErrorIs(t, c.Get(ctx, "k", (*float64)(nil)), ErrUnsupportedType)
}

// TestPointerDestinationsAllocate: a destination that points to a nil
// pointer receives a new value; on error it is left alone.
func TestPointerDestinationsAllocate(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "n", 7, 0))
	var p *uint16
	require.NoError(t, c.Get(ctx, "n", &p))
	require.NotNil(t, p)
	assert.Equal(t, uint16(7), *p)
	require.NoError(t, c.Set(ctx, "text", "abc", 0))
	var q *int
	require.Error(t, c.Get(ctx, "text", &q))
	assert.Nil(t, q, "left alone on error")
	u := uint8(3)
	require.Error(t, c.Get(ctx, "text", &u))
	assert.Equal(t, uint8(3), u)
	require.NoError(t, c.Set(ctx, "big", 300, 0))
	assert.ErrorContains(t, c.Get(ctx, "big", &u), "out of range for a 8-bit unsigned integer")
}

type cyclicNode struct {
	Name string      `json:"name"`
	Next *cyclicNode `json:"next"`
}

type selfPointer *selfPointer

// TestCyclicAndDeepValuesRefusedBeforeWrite: a cyclic value (once a stack
// overflow) and one nested deeper than 1000 levels are ErrValueTooComplex
// naming the key, on every write path and with every serializer, and
// nothing is written. 1000 levels are fine.
func TestCyclicAndDeepValuesRefusedBeforeWrite(t *testing.T) {
	node := &cyclicNode{Name: "n"}
	node.Next = node
	selfMap := map[string]any{"a": 1}
	selfMap["self"] = selfMap
	twice := map[string]any{}
	twice["a"], twice["b"] = twice, twice
	selfSlice := []any{1, nil}
	selfSlice[1] = selfSlice
	var sp selfPointer
	sp = &sp
	var boxed any
	boxed = &boxed
	deep, ok := nestedList(maxValueDepth+1), nestedList(maxValueDepth)
	deepTyped := &cyclicNode{}
	for n, i := deepTyped, 0; i < maxValueDepth; i++ {
		n.Next = &cyclicNode{}
		n = n.Next
	}
	bad := map[string]any{
		"struct cycle": node, "map cycle": selfMap, "map cycle twice": twice, "slice cycle": selfSlice,
		"pointer cycle": sp, "interface cycle": &boxed, "1001 lists": deep, "1001 structs": deepTyped,
		"in a struct": struct {
			V any `json:"v"`
		}{selfMap},
	}
	for _, s := range serializers {
		t.Run(s.name, func(t *testing.T) {
			c, _ := newMiniredisClient(t, Options{Serializer: s.ser})
			ctx := testCtx(t)
			for name, v := range bad {
				writes := map[string]func() error{
					"set":  func() error { return c.Set(ctx, "k", v, 0) },
					"mset": func() error { return c.MSet(ctx, map[string]any{"k": v}, 0) },
					"hset": func() error { _, err := c.HSet(ctx, "k", "f", v); return err },
					"push": func() error { _, err := c.LPush(ctx, "k", v); return err },
					"sadd": func() error { _, err := c.SAdd(ctx, "k", v); return err },
					"zadd": func() error { _, err := c.ZAdd(ctx, "k", 1, v); return err },
					"publish": func() error {
						_, err := c.Publish(ctx, "k", v)
						return err
					},
					"stream": func() error {
						_, err := c.Stream("k").Add(ctx, v)
						return err
					},
					"prediction": func() error { return c.CacheModelPrediction(ctx, "m", "k", v, 0) },
					"getorset": func() error {
						_, err := GetOrSet(ctx, c, "k", 0, func(context.Context) (any, error) { return v, nil })
						return err
					},
				}
				for op, write := range writes {
					var err error
					require.NotPanics(t, func() { err = write() })
					require.ErrorIs(t, err, ErrValueTooComplex, "%s %s", op, name)
					assert.Regexp(t, `trading:(k|model:m:k)`, err.Error(), "%s %s", op, name)
				}
				n, err := c.Exists(ctx, "k", "model:m:k")
				require.NoError(t, err)
				require.Zero(t, n, "%s: nothing written", name)
			}
			require.NoError(t, c.Set(ctx, "ok", ok, 0), "1000 levels are allowed")
			var back any
			require.NoError(t, c.Get(ctx, "ok", &back))
			assert.Equal(t, maxValueDepth, listDepth(back))
		})
	}
}

// nestedList returns depth lists nested in each other around a 1.
func nestedList(depth int) any {
	var v any = 1
	for range depth {
		v = []any{v}
	}
	return v
}

func listDepth(v any) int {
	d := 0
	for {
		l, ok := v.([]any)
		if !ok || len(l) != 1 {
			return d
		}
		d, v = d+1, l[0]
	}
}

// TestEqualMapsAreEqualBytes: equal values give equal bytes with every
// serializer, so set and sorted-set members deduplicate and SRem finds
// them (MessagePack used to follow Go's random map order).
func TestEqualMapsAreEqualBytes(t *testing.T) {
	member := func() any {
		return map[string]any{
			"symbol": "AAPL", "px": 187.25, "qty": 100, "side": "buy", "venue": "X",
			"levels": map[string]float64{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6},
			"ids":    map[int]string{1: "a", 2: "b", 3: "c", 4: "d", 5: "e"},
			"nested": []any{map[string]int{"x": 1, "y": 2, "z": 3, "w": 4}},
			"typed":  kindsOuter{Nums: map[string]float64{"p": 1, "q": 2, "r": 3, "s": 4}},
		}
	}
	for _, s := range serializers {
		t.Run(s.name, func(t *testing.T) {
			backends(t, Options{Serializer: s.ser}, func(t *testing.T, c *Client) {
				ctx := testCtx(t)
				for range 50 {
					_, err := c.SAdd(ctx, "set", member())
					require.NoError(t, err)
					_, err = c.ZAdd(ctx, "zset", 1, member())
					require.NoError(t, err)
				}
				var members []string
				require.NoError(t, c.SMembers(ctx, "set", &members))
				assert.Equal(t, 1, len(members), "members")
				n, err := c.ZCard(ctx, "zset")
				require.NoError(t, err)
				assert.Equal(t, int64(1), n)
				ok, err := c.SIsMember(ctx, "set", member())
				require.NoError(t, err)
				assert.True(t, ok)
				removed, err := c.SRem(ctx, "set", member())
				require.NoError(t, err)
				assert.Equal(t, int64(1), removed)
				removed, err = c.ZRem(ctx, "zset", member())
				require.NoError(t, err)
				assert.Equal(t, int64(1), removed)
			})
		})
	}
}

func TestMsgpackMapOrder(t *testing.T) {
	b, err := MsgpackSerializer{}.Marshal(map[string]int{"b": 2, "aa": 1, "a": 0})
	require.NoError(t, err)
	assert.Equal(t, "\x83\xa1a\x00\xa2aa\x01\xa1b\x02", string(b), "keys sorted by their bytes")
	b, err = MsgpackSerializer{}.Marshal(map[any]int{2: 0, "x": 1, 1: 2, false: 3})
	require.NoError(t, err)
	assert.Equal(t, "\x84\xa1x\x01\x01\x02\x02\x00\xc2\x03", string(b), "strings first, then by encoding")
	var back map[string]int
	b, _ = MsgpackSerializer{}.Marshal(map[string]int{"b": 2, "aa": 1, "a": 0})
	require.NoError(t, MsgpackSerializer{}.Unmarshal(b, &back))
	assert.Equal(t, map[string]int{"b": 2, "aa": 1, "a": 0}, back)
	// A struct without maps keeps its field order.
	b, err = MsgpackSerializer{}.Marshal(kindsInner{A: 1})
	require.NoError(t, err)
	assert.Equal(t, "\x82\xa1a\x01\xa1b\xc0", string(b))
}

// TestGetOrSetTwoPackagesSameTypeName: two types printed m.P (from two
// packages) waiting on one key each get their own type; the flight used to
// be keyed by the printed name and panicked with "interface {} is m.P, not
// m.P".
func TestGetOrSetTwoPackagesSameTypeName(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		release := make(chan struct{})
		var loads atomic.Int32
		var wg sync.WaitGroup
		var pa am.P
		var pb bm.P
		var errA, errB error
		wg.Go(func() {
			pa, errA = GetOrSet(ctx, c, "px", time.Minute, func(context.Context) (am.P, error) {
				loads.Add(1)
				<-release
				return am.P{Symbol: "AAPL", Px: 187.25}, nil
			})
		})
		require.Eventually(t, func() bool { return loads.Load() == 1 }, 5*time.Second, time.Millisecond)
		wg.Go(func() {
			pb, errB = GetOrSet(ctx, c, "px", time.Minute, func(context.Context) (bm.P, error) {
				loads.Add(1)
				return bm.P{Symbol: "other"}, nil
			})
		})
		require.Eventually(t, func() bool { return c.CacheStats().Misses == 2 }, 5*time.Second, time.Millisecond)
		close(release)
		wg.Wait()
		require.NoError(t, errA)
		require.NoError(t, errB)
		assert.Equal(t, am.P{Symbol: "AAPL", Px: 187.25}, pa)
		assert.Equal(t, bm.P{Symbol: "AAPL", Px: 187.25}, pb, "decoded from the shared load into its own type")
		assert.Equal(t, int32(1), loads.Load(), "one load for both")
	})
}

// TestGetOrSetWaitersGetOwnCopies: the waiters of one load share no maps or
// slices; the first caller gets the loaded value itself.
func TestGetOrSetWaitersGetOwnCopies(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	release := make(chan struct{})
	var loads atomic.Int32
	loaded := map[string][]float64{"v": {1, 2}}
	load := func(context.Context) (map[string][]float64, error) {
		loads.Add(1)
		<-release
		return loaded, nil
	}
	const n = 8
	results := make([]map[string][]float64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := GetOrSet(ctx, c, "m", time.Minute, load)
			assert.NoError(t, err)
			results[i] = v
		})
	}
	require.Eventually(t, func() bool { return c.CacheStats().Misses == n }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	require.Equal(t, int32(1), loads.Load())
	owners := 0
	for i, r := range results {
		require.Equal(t, map[string][]float64{"v": {1, 2}}, r, "waiter %d", i)
		if reflect.ValueOf(r).UnsafePointer() == reflect.ValueOf(loaded).UnsafePointer() {
			owners++
		}
	}
	assert.Equal(t, 1, owners, "only the caller whose load ran holds the loaded map")
	results[0]["v"][0] = 99
	results[0]["w"] = nil
	for i, r := range results[1:] {
		if reflect.ValueOf(r).UnsafePointer() != reflect.ValueOf(results[0]).UnsafePointer() {
			assert.Equal(t, map[string][]float64{"v": {1, 2}}, r, "waiter %d unaffected", i+1)
		}
	}
}

// TestGetOrSetUnencodableValue: a loaded value that cannot be stored is an
// error for every waiter, naming the key.
func TestGetOrSetUnencodableValue(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	_, err := GetOrSet(ctx, c, "ch", 0, func(context.Context) (chan int, error) { return make(chan int), nil })
	require.ErrorIs(t, err, ErrUnsupportedType)
	assert.Contains(t, err.Error(), "trading:ch")
	v, err := GetOrSet(ctx, c, "nilptr", 0, func(context.Context) (*kindsInner, error) { return nil, nil })
	require.NoError(t, err, "a nil pointer to a struct is stored as the serializer's null")
	assert.Nil(t, v)
	v, err = GetOrSet(ctx, c, "nilptr", 0, func(context.Context) (*kindsInner, error) { return &kindsInner{}, nil })
	require.NoError(t, err)
	assert.Nil(t, v, "and read back as nil")
}

// FuzzSetGetRoundTrip writes values built from fuzz input with Set, reads
// them back with Get into their own type through every serializer, and
// checks they are equal (or refused by Set). The corpus is in
// testdata/fuzz/FuzzSetGetRoundTrip.
func FuzzSetGetRoundTrip(f *testing.F) {
	f.Add(uint8(0), []byte("7"), int64(7), 3.0)
	f.Add(uint8(3), []byte("\x80\x04"), int64(-1), math.Inf(1))
	f.Add(uint8(7), []byte("{\"a\": [1]}"), int64(math.MaxInt64), math.NaN())
	clients := make([]*Client, len(serializers))
	for i, s := range serializers {
		clients[i], _ = newMiniredisClient(f, Options{Serializer: s.ser})
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte, n int64, fl float64) {
		str := string(data)
		values := []any{
			n, int8(n), int16(n), int32(n), uint8(n), uint16(n), uint32(n), uint64(n), qty(n), lots(n), flags(n),
			fl, float32(fl), pxf(fl), str, side(str), data, blob(data), n%2 == 0,
			[]float64{fl, float64(n)}, map[string]int64{str: n, "k": -n},
			kindsInner{A: int(n), B: []string{str}}, &kindsInner{A: 1},
			map[string]map[string]float64{str: {"x": fl}},
			[]string{str, str}, [2]int32{int32(n), 1}, time.Unix(0, n).UTC(),
		}
		v := values[int(kind)%len(values)]
		ctx := context.Background()
		for i, c := range clients {
			if serializers[i].name == "json" && !utf8.Valid(data) {
				continue // encoding/json writes invalid UTF-8 as U+FFFD, by design
			}
			key := fmt.Sprint("fuzz", kind)
			if err := c.Set(ctx, key, v, time.Minute); err != nil {
				continue // refused, for example invalid UTF-8 for Python JSON or NaN in JSON
			}
			dest := reflect.New(reflect.TypeOf(v))
			if err := c.Get(ctx, key, dest.Interface()); err != nil {
				t.Fatalf("%s: %T %#v written but not read: %v", serializers[i].name, v, v, err)
			}
			if got := dest.Elem().Interface(); !sameFuzzValue(v, got) {
				t.Fatalf("%s: wrote %#v, read %#v", serializers[i].name, v, got)
			}
		}
	})
}

// sameFuzzValue is sameValue, with NaN also equal inside containers, and
// nil slices and maps equal to empty ones (Python JSON writes them as [] and
// {}, Python having no null list).
func sameFuzzValue(want, got any) bool {
	want, got = emptyNils(reflect.ValueOf(want)).Interface(), emptyNils(reflect.ValueOf(got)).Interface()
	if sameValue(want, got) {
		return true
	}
	return fmt.Sprintf("%v", want) == fmt.Sprintf("%v", got) && containsNaN(want)
}

// emptyNils returns a copy of v with nil slices and maps made empty.
func emptyNils(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(emptyNils(v.Index(i)))
		}
		return out
	case reflect.Map:
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), emptyNils(it.Value()))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(emptyNils(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(emptyNils(v.Field(i)))
			}
		}
		return out
	}
	return v
}

func containsNaN(v any) bool {
	s := fmt.Sprintf("%v", v)
	for i := 0; i+3 <= len(s); i++ {
		if s[i:i+3] == "NaN" {
			return true
		}
	}
	return false
}

// TestPickleRefusedForEveryInterpretingDestination: the one pickle check in
// decode covers every read path and every destination that interprets the
// bytes (numbers, named numbers, pointers to them, *any, serialized kinds),
// with every serializer; raw destinations receive the pickle's bytes, and
// invalid destinations keep their own error.
func TestPickleRefusedForEveryInterpretingDestination(t *testing.T) {
	// pickle.dumps([1, 2], protocol=2)
	const pickle = "\x80\x02]q\x00(K\x01K\x02e."
	type name string
	type blob []byte
	for _, s := range serializers {
		t.Run(s.name, func(t *testing.T) {
			refused := []any{new(int), new(int64), new(float64), new(float32), new(uint8), new(qty), new(*int),
				new(any), new(bool), new(kindsInner), new(map[string]any), new([]float64), new([2]int), new(time.Time)}
			for _, dest := range refused {
				assert.ErrorIs(t, decodeString(s.ser, pickle, dest), ErrUnsupportedFormat, "%T", dest)
				assert.ErrorIs(t, decodeValue(s.ser, []byte(pickle), dest), ErrUnsupportedFormat, "%T", dest)
			}
			var str string
			var raw []byte
			var n name
			var b blob
			for _, dest := range []any{&str, &raw, &n, &b} {
				require.NoError(t, decodeString(s.ser, pickle, dest), "%T", dest)
			}
			assert.Equal(t, pickle, str)
			assert.Equal(t, pickle, string(raw))
			assert.Equal(t, pickle, string(n))
			assert.Equal(t, pickle, string(b))
			for _, dest := range []any{nil, (*int)(nil), 7, new(chan int)} {
				assert.ErrorIs(t, decodeString(s.ser, pickle, dest), ErrUnsupportedType, "%T", dest)
			}
		})
	}
}
