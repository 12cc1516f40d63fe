// Command predictions shows the model-prediction cache: hashing a feature
// vector with HashInput, cache-aside with GetOrComputePrediction (the model
// runs once per input), a batch lookup with GetModelPredictions, and
// InvalidateModel after the model is retrained.
//
// It uses REDIS_URL (and the library's other environment variables) when
// set; otherwise it starts an embedded miniredis so it runs anywhere:
//
//	go run ./examples/predictions
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/predictions
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/examples/internal/demo"
)

// model is the name predictions are cached under: trading:model:{model}:{hash}.
const model = "momentum-v1"

// Features is a model input: recent returns of one symbol.
type Features struct {
	Symbol  string    `json:"symbol"`
	Window  int       `json:"window"`
	Returns []float64 `json:"returns"`
}

// Prediction is a model output.
type Prediction struct {
	Signal string  `json:"signal"`
	Score  float64 `json:"score"`
}

// momentumModel stands in for an expensive model; it counts its runs.
type momentumModel struct{ calls atomic.Int64 }

func (m *momentumModel) predict(_ context.Context, f Features) (Prediction, error) {
	m.calls.Add(1)
	var sum float64
	for _, r := range f.Returns {
		sum += r
	}
	score := math.Round(sum/float64(len(f.Returns))*1e4) / 1e4
	switch {
	case score > 0.001:
		return Prediction{"BUY", score}, nil
	case score < -0.001:
		return Prediction{"SELL", score}, nil
	}
	return Prediction{"HOLD", score}, nil
}

var inputs = map[string]Features{
	"AAPL": {"AAPL", 5, []float64{0.004, 0.006, 0.002, 0.005, 0.003}},
	"MSFT": {"MSFT", 5, []float64{-0.003, -0.001, -0.002, -0.004, 0.0}},
	"TSLA": {"TSLA", 5, []float64{0.01, -0.012, 0.003, -0.001, 0.0}},
}

func main() { demo.Main("predictions", run) }

// run is the example; it writes what it does to w.
func run(ctx context.Context, w io.Writer) error {
	client, done, err := demo.Connect(w)
	if err != nil {
		return err
	}
	defer done()
	defer client.InvalidateModel(context.WithoutCancel(ctx), model)

	// The hash of the input names its cache entry. Equal inputs hash
	// equally, whatever their map order or number types (1 and 1.0).
	hash, err := client.HashInput(inputs["AAPL"])
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "AAPL features hash to %s\n", hash)
	fmt.Fprintf(w, "its prediction is cached under %s\n", client.Key("model", model, hash))

	m := &momentumModel{}
	predict := func(symbol string) error {
		before := m.calls.Load()
		p, err := redisclient.GetOrComputePrediction(ctx, client, model, inputs[symbol], 5*time.Minute,
			func(ctx context.Context) (Prediction, error) { return m.predict(ctx, inputs[symbol]) })
		if err != nil {
			return err
		}
		how := "from cache"
		if m.calls.Load() > before {
			how = "computed"
		}
		fmt.Fprintf(w, "%s: %s score=%.4f (%s, model runs so far: %d)\n", symbol, p.Signal, p.Score, how, m.calls.Load())
		return nil
	}
	for _, s := range []string{"AAPL", "MSFT", "AAPL"} {
		if err := predict(s); err != nil {
			return err
		}
	}

	// One round trip for many inputs: what is cached, and what is missing.
	symbols := []string{"AAPL", "MSFT", "TSLA"}
	hashes := make([]string, len(symbols))
	bySymbol := make(map[string]string, len(symbols))
	for i, s := range symbols {
		if hashes[i], err = client.HashInput(inputs[s]); err != nil {
			return err
		}
		bySymbol[hashes[i]] = s
	}
	found, missing, err := redisclient.GetModelPredictions[Prediction](ctx, client, model, hashes)
	if err != nil {
		return err
	}
	var hit, miss []string
	for i, h := range hashes {
		if _, ok := found[h]; ok {
			hit = append(hit, symbols[i])
		}
	}
	for _, h := range missing {
		miss = append(miss, bySymbol[h])
	}
	fmt.Fprintf(w, "batch lookup: %d cached (%s), %d missing (%s)\n", len(found), strings.Join(hit, ", "), len(missing), strings.Join(miss, ", "))

	// After retraining, drop every cached prediction of the model.
	n, err := client.InvalidateModel(ctx, model)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "invalidated %d cached predictions of %s\n", n, model)
	return predict("AAPL")
}
