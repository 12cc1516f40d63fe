package redisclient

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInteropStreamPythonToGo: entries redis-py's xadd wrote with a JSON
// (or text) "data" field are consumed by a Go consumer group and decode
// like values Python stored with set.
func TestInteropStreamPythonToGo(t *testing.T) {
	c, url, ns := interopClient(t)
	ctx := testCtx(t)
	var added struct {
		IDs      []string   `json:"ids"`
		Messages []pyTagged `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(runPython(t, ctx, nil, "pystream.py", url, ns, "add", "signals"), &added))
	require.Len(t, added.Messages, 3)

	got := make(chan StreamMessage, len(added.Messages))
	cs := consume(t, c.Stream("signals"), "go", "w", ConsumeOptions{}, func(_ context.Context, m StreamMessage) error {
		got <- m
		return nil
	})
	for i, tagged := range added.Messages {
		var m StreamMessage
		select {
		case m = <-got:
		case <-time.After(streamWait):
			t.Fatalf("message %d not consumed", i)
		}
		assert.Equal(t, added.IDs[i], m.ID)
		assert.Equal(t, "signals", m.Stream)
		want, err := tagged.canonical()
		require.NoError(t, err)
		var v any
		require.NoError(t, m.Decode(&v), "message %d", i)
		assertPyEqual(t, want, v, "message %d", i)
		if i == 0 {
			var sig struct {
				Signal string   `json:"signal"`
				Price  float64  `json:"price"`
				Qty    int      `json:"qty"`
				Score  float64  `json:"score"`
				Stop   float64  `json:"stop"`
				Note   string   `json:"note"`
				Tags   []string `json:"tags"`
			}
			require.NoError(t, m.Decode(&sig))
			assert.Equal(t, "BUY", sig.Signal)
			assert.Equal(t, 189.25, sig.Price)
			assert.Equal(t, 100, sig.Qty)
			assert.True(t, math.IsNaN(sig.Score))
			assert.Equal(t, math.Inf(-1), sig.Stop)
			assert.Equal(t, "caf\u00e9 \U0001F680", sig.Note)
			assert.Equal(t, []string{"momentum", "us"}, sig.Tags)
		}
	}
	require.Eventually(t, func() bool { return cs.Stats().Acked == 3 }, streamWait, 5*time.Millisecond)
}

// TestInteropStreamGoToPython: what Stream.Add writes is consumed by a
// redis-py consumer group and read with the Python client's decode.
func TestInteropStreamGoToPython(t *testing.T) {
	c, url, ns := interopClient(t)
	ctx := testCtx(t)
	messages := []struct {
		value any
		want  any
	}{
		{interopOrder{Symbol: "NVDA", Price: 120.5, Qty: 10, Score: math.Inf(1), Weights: []float64{}, Count: 1},
			map[string]any{"by": "", "symbol": "NVDA", "price": 120.5, "qty": int64(10), "score": math.Inf(1),
				"weights": []any{}, "count": "1", "placed": "0001-01-01T00:00:00Z", "parent": nil}},
		{[]any{1, 2.5, "three", math.NaN()}, []any{int64(1), 2.5, "three", math.NaN()}},
		{"plain text order \u2603", "plain text order \u2603"},
		{42, int64(42)},
	}
	s := c.Stream("orders")
	for _, m := range messages {
		_, err := s.Add(ctx, m.value)
		require.NoError(t, err)
	}
	out := runPython(t, ctx, nil, "pystream.py", url, ns, "consume", "orders", "py", "w", strconv.Itoa(len(messages)), "8")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, len(messages), "%s", out)
	for i, m := range messages {
		var tagged pyTagged
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &tagged))
		got, err := tagged.canonical()
		require.NoError(t, err)
		assertPyEqual(t, m.want, got, "message %d", i)
	}
	assert.Zero(t, groupPending(t, c, s, "py"), "Python acknowledged them")
}
