package redisclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hostile values, as any other writer of a key or publisher on a channel
// may store them.

// msgpackNested is n arrays of one element nested in each other around a
// nil: 0x91 0x91 ... 0xc0. With n = 2.1 million it used to overflow the
// reader's stack (a fatal error, not a panic).
func msgpackNested(n int) []byte { return append(bytes.Repeat([]byte{0x91}, n), 0xc0) }

// msgpackFlatMaps is one array of n empty maps: n+5 bytes on the wire, n Go
// maps in memory (10 MB used to allocate about 620 MB).
func msgpackFlatMaps(n int) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(n))
	return append(b, bytes.Repeat([]byte{0x80}, n)...)
}

func jsonNested(n int) []byte {
	return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
}

func jsonFlatObjects(n int) []byte {
	return []byte("[" + strings.Repeat("{},", n-1) + "{}]")
}

type hostileValue struct {
	name string
	data []byte
	// complex: the value breaks the limits (ErrValueTooComplex); otherwise
	// it is merely malformed (some error).
	complex bool
}

// hostileValues returns the hostile values in ser's own format.
func hostileValues(ser string) []hostileValue {
	valid, _ := MsgpackSerializer{}.Marshal(samplePrediction())
	if ser != "msgpack" {
		valid, _ = JSONSerializer{}.Marshal(samplePrediction())
	}
	truncated := hostileValue{"truncated", valid[:len(valid)/2], false}
	if ser == "msgpack" {
		return []hostileValue{
			{"nested bomb", msgpackNested(2_100_000), true},
			{"1001 levels", msgpackNested(maxValueDepth + 1), true},
			{"flat amplifier", msgpackFlatMaps(1 << 20), true},
			truncated,
			{"short array", []byte("\xdd\x00\x00\x00\x05\x01"), false},
		}
	}
	return []hostileValue{
		{"nested bomb", jsonNested(1_050_000), true},
		{"1001 levels", jsonNested(maxValueDepth + 1), true},
		{"flat amplifier", jsonFlatObjects(700_000), true}, // 2.1 MB, 56 MB estimated
		truncated,
	}
}

// TestHostileValuesOnEveryReadPath stores each hostile value where every
// read method finds it and checks that each returns an error naming the
// key (ErrValueTooComplex for values beyond the limits), never crashing;
// GetOrSet and GetOrComputePrediction treat it as a miss and reload.
func TestHostileValuesOnEveryReadPath(t *testing.T) {
	for _, s := range serializers {
		t.Run(s.name, func(t *testing.T) {
			backends(t, Options{Serializer: s.ser}, func(t *testing.T, c *Client) {
				rdb := c.Redis()
				for _, hv := range hostileValues(s.name) {
					// Megabytes through every path, under -race on a busy
					// machine: a generous deadline for each value.
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					defer cancel()
					check := func(path, key string, err error) {
						t.Helper()
						require.Error(t, err, "%s: %s", hv.name, path)
						assert.Contains(t, err.Error(), key, "%s: %s", hv.name, path)
						if hv.complex {
							assert.ErrorIs(t, err, ErrValueTooComplex, "%s: %s", hv.name, path)
						}
					}
					v := string(hv.data)
					k := c.Key("v")
					require.NoError(t, rdb.Set(ctx, k, v, time.Minute).Err())
					require.NoError(t, rdb.Set(ctx, c.Key("model", "m", "h"), v, time.Minute).Err())
					require.NoError(t, rdb.HSet(ctx, c.Key("h"), "f", v).Err())
					require.NoError(t, rdb.Del(ctx, c.Key("l"), c.Key("s"), c.Key("z")).Err())
					require.NoError(t, rdb.RPush(ctx, c.Key("l"), v, v).Err())
					require.NoError(t, rdb.SAdd(ctx, c.Key("s"), v).Err())
					require.NoError(t, rdb.ZAdd(ctx, c.Key("z"), redis.Z{Score: 1, Member: v}).Err())

					// *any falls back to the text for a value that is merely
					// malformed, as Python's get does; typed destinations fail.
					var a any
					var p prediction
					var m map[string]any
					dests := []any{&p, &m}
					if hv.complex {
						dests = append(dests, &a)
					}
					for _, dest := range dests {
						require.NoError(t, rdb.LPush(ctx, c.Key("l"), v).Err())
						check("get", k, c.Get(ctx, "v", dest))
						check("hget", c.Key("h"), c.HGet(ctx, "h", "f", dest))
						check("lpop", c.Key("l"), c.LPop(ctx, "l", dest))
						check("get prediction", c.Key("model", "m", "h"), c.GetCachedModelPrediction(ctx, "m", "h", dest))
						check("message", "trading:ch", Message{Channel: "ch", full: "trading:ch", Payload: hv.data, ser: s.ser}.Decode(dest))
						check("stream message", "trading:st", StreamMessage{ID: "1-0", Stream: "st", key: "trading:st", Payload: hv.data, ser: s.ser}.Decode(dest))
					}
					var ps []prediction
					check("lrange", c.Key("l"), c.LRange(ctx, "l", 0, -1, &ps))
					check("smembers", c.Key("s"), c.SMembers(ctx, "s", &ps))
					check("zrange", c.Key("z"), c.ZRange(ctx, "z", 0, -1, false, &ps))
					var hm map[string]prediction
					check("hgetall", c.Key("h"), c.HGetAll(ctx, "h", &hm))
					members, err := c.ZRangeWithScores(ctx, "z", 0, -1, false)
					require.NoError(t, err)
					check("scored member", c.Key("z"), members[0].Decode(&p))
					_, err = MGet[prediction](ctx, c, "v")
					check("mget", k, err)
					if hv.complex {
						var as []any
						check("lrange any", c.Key("l"), c.LRange(ctx, "l", 0, -1, &as))
						check("smembers any", c.Key("s"), c.SMembers(ctx, "s", &as))
						check("zrange any", c.Key("z"), c.ZRange(ctx, "z", 0, -1, false, &as))
						var ha map[string]any
						check("hgetall any", c.Key("h"), c.HGetAll(ctx, "h", &ha))
						check("scored member any", c.Key("z"), members[0].Decode(&a))
						_, err = MGet[any](ctx, c, "v")
						check("mget any", k, err)
					}
					_, _, err = GetModelPredictions[prediction](ctx, c, "m", []string{"h"})
					check("get predictions", c.Key("model", "m", "h"), err)

					before := c.CacheStats().Loads
					got, err := GetOrSet(ctx, c, "v", time.Minute, func(context.Context) (prediction, error) { return samplePrediction(), nil })
					require.NoError(t, err, "%s: getorset reloads", hv.name)
					assert.Equal(t, samplePrediction(), got)
					h, err := c.HashInput("input")
					require.NoError(t, err)
					require.NoError(t, rdb.Set(ctx, c.Key("model", "m", h), v, time.Minute).Err())
					_, err = GetOrComputePrediction(ctx, c, "m", "input", time.Minute,
						func(context.Context) (prediction, error) { return samplePrediction(), nil })
					require.NoError(t, err, "%s: compute prediction reloads", hv.name)
					assert.Equal(t, before+2, c.CacheStats().Loads)
				}
			})
		})
	}
}

// TestHostileMessageDoesNotStopSubscriber publishes the hostile values on a
// subscribed channel: the handler's Decode fails with ErrValueTooComplex
// and the subscriber goes on to decode the next message.
func TestHostileMessageDoesNotStopSubscriber(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	var tooComplex, decoded atomic.Int32
	sub, err := c.Subscribe(ctx, func(_ context.Context, msg Message) error {
		var v any
		err := msg.Decode(&v)
		switch {
		case errors.Is(err, ErrValueTooComplex) && strings.Contains(err.Error(), "trading:signals"):
			tooComplex.Add(1)
		case err == nil && v == int64(42):
			decoded.Add(1)
		}
		return err
	}, "signals")
	require.NoError(t, err)
	defer sub.Close()
	for _, hv := range hostileValues("msgpack") {
		if hv.complex {
			_, err := c.Publish(ctx, "signals", hv.data)
			require.NoError(t, err)
		}
	}
	_, err = c.Publish(ctx, "signals", 42)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return decoded.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, int32(3), tooComplex.Load())
}

// TestDecodeLimitsBoundAllocation: refusing a hostile value costs no more
// than a few kilobytes, where decoding it used to take hundreds of MB.
func TestDecodeLimitsBoundAllocation(t *testing.T) {
	for name, data := range map[string][]byte{
		"msgpack flat 10 MB":   msgpackFlatMaps(10 << 20),
		"msgpack nested 1 MB":  msgpackNested(1 << 20),
		"msgpack nested 2 MB":  msgpackNested(2_100_000),
		"json flat 10 MB":      jsonFlatObjects(10 << 20 / 3),
		"json nested 1 MB":     jsonNested(1 << 19),
		"msgpack flat 1M maps": msgpackFlatMaps(1 << 20),
	} {
		ser := Serializer(MsgpackSerializer{})
		if strings.HasPrefix(name, "json") {
			ser = PythonJSONSerializer{}
		}
		msg := Message{Channel: "c", Payload: data, ser: ser}
		var v any
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		err := msg.Decode(&v)
		runtime.ReadMemStats(&ms)
		require.ErrorIs(t, err, ErrValueTooComplex, name)
		assert.Less(t, ms.TotalAlloc-before, uint64(1<<20), "%s: bytes allocated", name)
	}
}

// TestDecodeLimitsAllowRealValues: values at the limits, and large values
// of ordinary shapes, decode.
func TestDecodeLimitsAllowRealValues(t *testing.T) {
	var v any
	require.NoError(t, MsgpackSerializer{}.Unmarshal(msgpackNested(maxValueDepth), &v), "1000 levels")
	require.NoError(t, JSONSerializer{}.Unmarshal(jsonNested(maxValueDepth), &v))
	require.NoError(t, PythonJSONSerializer{}.Unmarshal(jsonNested(maxValueDepth), &v))

	floats := make([]float64, 1<<20) // 9 MB of MessagePack, 8 MB decoded
	for i := range floats {
		floats[i] = float64(i) + 0.5
	}
	for _, s := range serializers {
		b, err := s.ser.Marshal(floats)
		require.NoError(t, err)
		var back []float64
		require.NoError(t, s.ser.Unmarshal(b, &back), s.name)
		require.Equal(t, floats, back)
		var anyBack any
		require.NoError(t, s.ser.Unmarshal(b, &anyBack), "%s: into any", s.name)
	}
	// 200,000 small records: 5 MB of JSON, typed and untyped.
	type rec struct {
		Px  float64 `json:"px"`
		Qty int     `json:"qty"`
	}
	recs := make([]rec, 200_000)
	for i := range recs {
		recs[i] = rec{float64(i) / 4, i}
	}
	for _, s := range serializers {
		b, err := s.ser.Marshal(recs)
		require.NoError(t, err)
		var back []rec
		require.NoError(t, s.ser.Unmarshal(b, &back), s.name)
		var anyBack any
		require.NoError(t, s.ser.Unmarshal(b, &anyBack), "%s: into any", s.name)
	}
	// A small flat amplifier is within the floor of 16 MiB.
	var flat any
	require.NoError(t, MsgpackSerializer{}.Unmarshal(msgpackFlatMaps(100_000), &flat))
}

// TestDecodeLimitsCountTypedElements: a slice of large structs filled from
// one-byte nils is refused, as decoding it would allocate each struct.
func TestDecodeLimitsCountTypedElements(t *testing.T) {
	type big struct{ Fields [64]float64 } // 512 bytes each
	n := 1 << 20
	data := binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(n))
	data = append(data, bytes.Repeat([]byte{0xc0}, n)...)
	var out []big
	require.ErrorIs(t, MsgpackSerializer{}.Unmarshal(data, &out), ErrValueTooComplex)
	var small []int8
	require.NoError(t, MsgpackSerializer{}.Unmarshal(data, &small), "1 MB into 1 MB is fine")
}

func TestCheckJSONSkipsStrings(t *testing.T) {
	w := decodeWeights{elementCost, containerCost}
	deepInString := `["` + strings.Repeat("[", 5000) + `", "\"[[[", "\\", "{\\\"", {"k": "]]]"}]`
	require.NoError(t, checkJSON([]byte(deepInString), w))
	var v any
	require.NoError(t, JSONSerializer{}.Unmarshal([]byte(deepInString), &v))
	require.NoError(t, checkJSON([]byte(`"unterminated [[[`), w), "left to the decoder")
	require.ErrorIs(t, checkJSON(jsonNested(maxValueDepth+1), w), ErrValueTooComplex)
	// Closers right after strings, across word boundaries, at every offset.
	for pad := range 8 {
		wide := "[" + strings.Repeat(" ", pad) + strings.Repeat(`["a"],{"k":"v"},`, 2*maxValueDepth) + `[]]`
		require.NoError(t, checkJSON([]byte(wide), w), "pad %d", pad)
		require.NoError(t, JSONSerializer{}.Unmarshal([]byte(wide), &v))
	}
	// For a destination with large elements the bound from the length is
	// too coarse, so the elements are counted: 1000 long ones pass, 5000
	// short ones (20 MB for 10 KB) do not.
	big := decodeWeights{element: 4096, container: 4096}
	long := []byte("[" + strings.Repeat(`"twenty characters..",`, 999) + `"twenty characters.."]`)
	require.NoError(t, checkJSON(long, big))
	short := []byte("[" + strings.Repeat("1,", 5000) + "1]")
	require.ErrorIs(t, checkJSON(short, big), ErrValueTooComplex)
}

func TestCheckMsgpackDepthIsExact(t *testing.T) {
	w := decodeWeights{1, 1}
	require.NoError(t, checkMsgpack(msgpackNested(maxValueDepth), w))
	require.ErrorIs(t, checkMsgpack(msgpackNested(maxValueDepth+1), w), ErrValueTooComplex)
	// Maps count as levels too.
	deepMaps := append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, maxValueDepth), 0x80)
	require.ErrorIs(t, checkMsgpack(deepMaps, w), ErrValueTooComplex)
	require.NoError(t, checkMsgpack(deepMaps[3:], w))
}
