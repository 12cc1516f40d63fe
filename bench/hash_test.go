package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/systemtrader/redisclient"
)

// hashInputs are the model inputs hashed: a 256-element feature vector and a
// 20-key feature map as decoded from JSON (mostly numbers, a few strings).
func hashInputs() []struct {
	name  string
	input any
} {
	vec := make([]float64, 256)
	for i := range vec {
		vec[i] = float64(i)*0.0137 - 1.5 + 1/float64(i+3)
	}
	m := make(map[string]any, 20)
	for i := range 16 {
		m["feature_"+strconv.Itoa(i)] = float64(i)*1.25 + 0.001
	}
	m["symbol"] = "BTC-USD"
	m["exchange"] = "binance"
	m["interval"] = "5m"
	m["window"] = float64(288)
	return []struct {
		name  string
		input any
	}{{"vec256", vec}, {"map20", m}}
}

var hashSink string

// BenchmarkHashInput hashes a model input (no server needed):
//
//	jsonsha256   json.Marshal + sha256 + hex, the obvious hand-written way (the base)
//	lib          redisclient.HashInputSHA256 (canonical binary form + SHA-256)
//	python       Client.HashInput with HashMode HashPythonMD5 (md5 of Python's json.dumps)
func BenchmarkHashInput(b *testing.B) {
	py, err := redisclient.New(redisclient.Options{HashMode: redisclient.HashPythonMD5})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { py.Close() })
	impls := []struct {
		name string
		hash func(any) (string, error)
	}{
		{"jsonsha256", func(x any) (string, error) {
			data, err := json.Marshal(x)
			if err != nil {
				return "", err
			}
			sum := sha256.Sum256(data)
			return hex.EncodeToString(sum[:]), nil
		}},
		{"lib", redisclient.HashInputSHA256},
		{"python", py.HashInput},
	}
	for _, in := range hashInputs() {
		b.Run("input="+in.name, func(b *testing.B) {
			for _, im := range impls {
				b.Run("impl="+im.name, func(b *testing.B) {
					if _, err := im.hash(in.input); err != nil {
						b.Skipf("%s cannot hash %s: %v", im.name, in.name, err)
					}
					b.ReportAllocs()
					for b.Loop() {
						h, err := im.hash(in.input)
						if err != nil {
							b.Fatal(err)
						}
						hashSink = h
					}
				})
			}
		})
	}
}
