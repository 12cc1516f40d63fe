package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/systemtrader/redisclient"
	"github.com/vmihailenco/msgpack/v5"
)

// PredictionKB is a prediction of about 1 KB as MessagePack: a feature
// vector, quantiles, labels and a map of metadata besides the scalar fields.
type PredictionKB struct {
	Model      string            `json:"model"`
	Symbol     string            `json:"symbol"`
	Signal     float64           `json:"signal"`
	Confidence float64           `json:"confidence"`
	Horizon    int64             `json:"horizon"`
	At         time.Time         `json:"at"`
	Features   []float64         `json:"features"`
	Quantiles  []float64         `json:"quantiles"`
	Labels     []string          `json:"labels"`
	Meta       map[string]string `json:"meta"`
}

func samplePredictionKB() PredictionKB { return samplePredictionFeatures(90) }

// samplePredictionFeatures is samplePredictionKB with n features.
func samplePredictionFeatures(n int) PredictionKB {
	p := PredictionKB{
		Model: "lstm-v3", Symbol: "BTC-USD", Signal: 0.731, Confidence: 0.92, Horizon: 300,
		At:        time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC),
		Quantiles: []float64{-0.012, -0.004, 0.003, 0.011, 0.019},
		Labels:    []string{"long", "momentum", "high-vol", "session:us"},
		Meta:      map[string]string{"source": "ticks", "venue": "coinbase", "run": "2026-11-25T09:00", "version": "3.1.4"},
	}
	for i := range n {
		p.Features = append(p.Features, float64(i)*0.0173-0.5)
	}
	return p
}

// rawMsgpack is a pooled MessagePack decoder naming fields by their json
// tags, as the library's is, without any of its checks.
type rawMsgpack struct {
	rd  bytes.Reader
	dec *msgpack.Decoder
}

var rawMsgpackPool = sync.Pool{New: func() any {
	d := &rawMsgpack{}
	d.dec = msgpack.NewDecoder(&d.rd)
	d.dec.SetCustomStructTag("json")
	return d
}}

func decodeRawMsgpack(data []byte, v any) error {
	d := rawMsgpackPool.Get().(*rawMsgpack)
	defer rawMsgpackPool.Put(d)
	d.rd.Reset(data)
	d.dec.ResetReader(&d.rd)
	return d.dec.Decode(v)
}

// BenchmarkDecode decodes a 1 KB prediction struct, the read side of every
// cached prediction and pub/sub message, with no Redis involved: raw is the
// decoder alone (pooled msgpack with json tags, or encoding/json), checked
// the library's serializer (the same decoder after its one pass over the
// bytes that checks framing, depth and expansion), lib the library's whole
// read path (Message.Decode: the layout table, the pickle check, the
// serializer). checked/raw is the cost of the checks. cpu-ns/op is the
// process's CPU time per op, steadier than wall time on a shared machine.
func BenchmarkDecode(b *testing.B) {
	type decodeImpl struct {
		name   string
		decode func(*PredictionKB) error
	}
	type decodeCase struct {
		name  string
		impls []decodeImpl
	}
	var cases []decodeCase
	// 90 features make the 1 KB prediction; 1500 a 14 KB one (16 KB of
	// JSON), long enough for every check to run in full.
	for _, features := range []int{90, 1500} {
		p := samplePredictionFeatures(features)
		mp, err := redisclient.MsgpackSerializer{}.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		js, err := redisclient.JSONSerializer{}.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		cases = append(cases,
			decodeCase{fmt.Sprintf("ser=msgpack/bytes=%d", len(mp)), []decodeImpl{
				{"raw", func(v *PredictionKB) error { return decodeRawMsgpack(mp, v) }},
				{"checked", func(v *PredictionKB) error { return redisclient.MsgpackSerializer{}.Unmarshal(mp, v) }},
				{"lib", func(v *PredictionKB) error { return redisclient.Message{Channel: "c", Payload: mp}.Decode(v) }},
			}},
			decodeCase{fmt.Sprintf("ser=json/bytes=%d", len(js)), []decodeImpl{
				{"raw", func(v *PredictionKB) error { return json.Unmarshal(js, v) }},
				{"checked", func(v *PredictionKB) error { return redisclient.JSONSerializer{}.Unmarshal(js, v) }},
			}})
	}
	for _, cs := range cases {
		b.Run(cs.name, func(b *testing.B) {
			for _, im := range cs.impls {
				b.Run("impl="+im.name, func(b *testing.B) {
					b.ReportAllocs()
					defer cpuPerOp(b)()
					for b.Loop() {
						var got PredictionKB
						if err := im.decode(&got); err != nil {
							b.Fatal(err)
						}
						if got.Symbol != "BTC-USD" || len(got.Features) == 0 || len(got.Meta) != 4 {
							b.Fatalf("decoded %+v", got)
						}
					}
				})
			}
		})
	}
}
