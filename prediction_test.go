package redisclient

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModelPredictionRoundTrip(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		h, err := c.HashInput(map[string]any{"symbol": "AAPL", "window": 20})
		require.NoError(t, err)
		require.NoError(t, c.CacheModelPrediction(ctx, "lstm", h, samplePrediction(), time.Minute))

		raw, err := c.Redis().Exists(ctx, c.Name()+":model:lstm:"+h).Result()
		require.NoError(t, err)
		assert.Equal(t, int64(1), raw, "key layout {ns}:model:{model}:{hash}")

		var p prediction
		require.NoError(t, c.GetCachedModelPrediction(ctx, "lstm", h, &p))
		assert.Equal(t, samplePrediction(), p.norm())
		err = c.GetCachedModelPrediction(ctx, "gru", h, &p)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.Contains(t, err.Error(), ":model:gru:"+h)
	})
}

func TestPredictionKeyValidation(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	for _, tc := range []struct{ model, hash string }{{"", "h"}, {"a:b", "h"}, {"m", ""}, {"m", "x:y"}} {
		err := c.CacheModelPrediction(ctx, tc.model, tc.hash, 1, 0)
		assert.ErrorIs(t, err, ErrInvalidKey, "%q %q", tc.model, tc.hash)
		var v int
		assert.ErrorIs(t, c.GetCachedModelPrediction(ctx, tc.model, tc.hash, &v), ErrInvalidKey)
	}
	_, err := c.InvalidateModel(ctx, "")
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, _, err = GetModelPredictions[int](ctx, c, "m", []string{"ok", ""})
	assert.ErrorIs(t, err, ErrInvalidKey)
}

func TestBatchPredictions(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		in := map[string]any{}
		var hashes []string
		for i := range 300 {
			h := mustHash(t, []float64{float64(i)})
			p := samplePrediction()
			p.Value = float64(i)
			in[h] = p
			hashes = append(hashes, h)
		}
		require.NoError(t, c.CacheModelPredictions(ctx, "xgb", in, time.Minute))
		missingHash := mustHash(t, "never cached")
		query := append([]string{missingHash}, hashes...)
		found, missing, err := GetModelPredictions[prediction](ctx, c, "xgb", query)
		require.NoError(t, err)
		assert.Len(t, found, 300)
		assert.Equal(t, []string{missingHash}, missing)
		assert.Equal(t, 42.0, found[hashes[42]].Value)

		empty, missing, err := GetModelPredictions[prediction](ctx, c, "xgb", nil)
		require.NoError(t, err)
		assert.Empty(t, empty)
		assert.Empty(t, missing)
	})
}

func TestInvalidateModelTouchesOnlyThatModel(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		for i := range 700 {
			require.NoError(t, c.CacheModelPrediction(ctx, "m*", fmt.Sprint(i), i, 0))
		}
		require.NoError(t, c.CacheModelPrediction(ctx, "mx", "1", 1, 0))
		require.NoError(t, c.CacheModelPrediction(ctx, "m", "1", 1, 0))
		require.NoError(t, c.Set(ctx, "model:m*", "not a prediction", 0))
		n, err := c.InvalidateModel(ctx, "m*")
		require.NoError(t, err)
		assert.Equal(t, int64(700), n)
		var v int
		require.NoError(t, c.GetCachedModelPrediction(ctx, "mx", "1", &v))
		require.NoError(t, c.GetCachedModelPrediction(ctx, "m", "1", &v))
		var s string
		require.NoError(t, c.Get(ctx, "model:m*", &s))
		n, err = c.InvalidateModel(ctx, "m")
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
	})
}

func TestGetOrComputePrediction(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{})
	ctx := testCtx(t)
	var calls atomic.Int32
	compute := func(context.Context) (float64, error) { calls.Add(1); return 0.75, nil }
	input := map[string]any{"features": []float64{1, 2, 3}}
	for range 3 {
		v, err := GetOrComputePrediction(ctx, c, "rf", input, time.Minute, compute)
		require.NoError(t, err)
		assert.Equal(t, 0.75, v)
	}
	assert.Equal(t, int32(1), calls.Load())
	h, _ := c.HashInput(input)
	var v float64
	require.NoError(t, c.GetCachedModelPrediction(ctx, "rf", h, &v))
	assert.Equal(t, 0.75, v)
	_, err := GetOrComputePrediction(ctx, c, "rf", make(chan int), 0, compute)
	assert.Error(t, err)
}

// TestPackageHashInputSaysWhatItComputes: the package-level HashInput used
// to compute SHA-256 whatever the client's mode, so a service using
// PythonCompatOptions that called it got keys the Python service never
// wrote, silently. The package-level function is now named for its digest,
// and the only HashInput is the client's, which follows its mode.
func TestPackageHashInputSaysWhatItComputes(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				assert.NotEqual(t, "HashInput", fd.Name.Name, "%s: a package-level HashInput hides which digest it computes", fset.Position(fd.Pos()))
			}
		}
	}

	input := map[string]any{"symbol": "AAPL", "window": 20, "features": []float64{0.12, -1.5e-07, 3.0, 1e16}}
	sha, err := HashInputSHA256(input)
	require.NoError(t, err)
	def, _ := newMiniredisClient(t, Options{})
	h, err := def.HashInput(input)
	require.NoError(t, err)
	assert.Equal(t, sha, h, "HashInputSHA256 is the default mode's digest")
	py, _ := newMiniredisClient(t, PythonCompatOptions())
	h, err = py.HashInput(input)
	require.NoError(t, err)
	assert.Equal(t, "caeeb47995c2612d6bb969c80233326d", h, "the Python preset's client hashes as Python does")
}

// TestNoGetModelPredictionAlias: GetModelPrediction duplicated
// GetCachedModelPrediction; one name remains.
func TestNoGetModelPredictionAlias(t *testing.T) {
	_, ok := reflect.TypeFor[*Client]().MethodByName("GetModelPrediction")
	assert.False(t, ok, "GetModelPrediction is an alias of GetCachedModelPrediction")
	_, ok = reflect.TypeFor[*Client]().MethodByName("GetCachedModelPrediction")
	assert.True(t, ok)
}

func TestHashModeOption(t *testing.T) {
	_, err := New(Options{HashMode: 7})
	assert.ErrorIs(t, err, ErrInvalidOptions)
	c, _ := newMiniredisClient(t, Options{})
	h, err := c.HashInput("x")
	require.NoError(t, err)
	assert.Equal(t, mustHash(t, "x"), h)
	assert.Equal(t, "sha256", HashSHA256.String())
	assert.Equal(t, "python-md5", HashPythonMD5.String())
}
