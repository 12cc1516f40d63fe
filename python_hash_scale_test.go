package redisclient

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPythonHashInputLargeInputsStream: hashing streams the text into the
// digest in pieces; the digest must be that of the whole text, for every
// kind of container that spills.
func TestPythonHashInputLargeInputsStream(t *testing.T) {
	vec := make([]float64, 20_000)
	for i := range vec {
		vec[i] = float64(i) * 1.0001
	}
	anyList := make([]any, 10_000)
	dict := make(map[string]any, 10_000)
	for i := range anyList {
		anyList[i] = map[string]any{"i": i, "s": "é"}
		dict[fmt.Sprint("k", i)] = []int{i, i + 1}
	}
	inputs := map[string]any{
		"float vector":  vec,
		"list of dicts": anyList,
		"dict of lists": dict,
		"json tree":     rawJSONList(4000),
	}
	for name, in := range inputs {
		text, err := pythonHashText(in)
		require.NoError(t, err, name)
		require.Greater(t, len(text), 64<<10, "%s must spill", name)
		sum := md5.Sum(text)
		got, err := pythonHashInput(in)
		require.NoError(t, err, name)
		assert.Equal(t, hex.EncodeToString(sum[:]), got, name)
	}
	// A failed hash leaves nothing behind in the pooled digest.
	_, err := pythonHashInput([]any{vec, make(chan int)})
	require.Error(t, err)
	again, err := pythonHashInput([]float64{1, 2})
	require.NoError(t, err)
	assert.Equal(t, md5Hex("[1.0, 2.0]"), again)
}

// rawJSONList is a list of json.RawMessage-like trees: the parsed-JSON path.
func rawJSONList(n int) jsonList {
	return jsonList(n)
}

type jsonList int

func (l jsonList) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i := range int(l) {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"b":%d,"a":"x%d"}`, i, i)
	}
	return append(b, ']'), nil
}

// TestPythonHashInputAllocationsFlat: pooled buffers over 64 KiB used to be
// dropped and regrown on every call, so a 1M-float vector cost about twice
// the allocations of a small one and 98 MiB of garbage.
func TestPythonHashInputAllocationsFlat(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	small := make([]float64, 1000)
	large := make([]float64, 1_000_000)
	for i := range large {
		large[i] = float64(i) * 1.0001
	}
	copy(small, large)
	_, _ = pythonHashInput(small) // warm the pool
	smallAllocs := testing.AllocsPerRun(20, func() { _, _ = pythonHashInput(small) })
	largeAllocs := testing.AllocsPerRun(3, func() { _, _ = pythonHashInput(large) })
	assert.LessOrEqual(t, largeAllocs, smallAllocs, "allocations grow with the input")
}
