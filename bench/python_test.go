package bench

import (
	"encoding/json"
	"testing"

	"github.com/systemtrader/redisclient"
)

var pythonSink []byte

// BenchmarkPythonCodec encodes and decodes the 1 KB prediction in Python's
// layout (PythonJSONSerializer, the serializer of PythonCompatOptions), no
// Redis involved:
//
//	json     encoding/json Marshal or Unmarshal (the base)
//	python   PythonJSONSerializer: json.dumps's text, Python's types
//
// op=unmarshal-any decodes into an `any`, where the Python serializer
// builds Python's types (int64 for ints) and encoding/json float64s.
func BenchmarkPythonCodec(b *testing.B) {
	p := samplePredictionKB()
	py := redisclient.PythonJSONSerializer{}
	data, err := py.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	type codecImpl struct {
		name string
		run  func() error
	}
	ops := []struct {
		name  string
		impls []codecImpl
	}{
		{"marshal", []codecImpl{
			{"json", func() (err error) { pythonSink, err = json.Marshal(p); return err }},
			{"python", func() (err error) { pythonSink, err = py.Marshal(p); return err }},
		}},
		{"unmarshal", []codecImpl{
			{"json", func() error { var v PredictionKB; return json.Unmarshal(data, &v) }},
			{"python", func() error { var v PredictionKB; return py.Unmarshal(data, &v) }},
		}},
		{"unmarshal-any", []codecImpl{
			{"json", func() error { var v any; return json.Unmarshal(data, &v) }},
			{"python", func() error { var v any; return py.Unmarshal(data, &v) }},
		}},
	}
	for _, op := range ops {
		b.Run("op="+op.name, func(b *testing.B) {
			for _, im := range op.impls {
				b.Run("impl="+im.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if err := im.run(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
