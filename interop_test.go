package redisclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/pyjson"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// Interop tests run the Python side with Debian's interpreter, which has the
// redis module (python3-redis); the python3 first on PATH may be another one.
// Without it they skip, and with REDISCLIENT_INTEGRATION=1 they fail.
const pythonInterpreter = "/usr/bin/python3"

// requirePython skips the test (fails it under REDISCLIENT_INTEGRATION=1)
// unless pythonInterpreter runs and imports modules.
func requirePython(t testing.TB, modules ...string) {
	t.Helper()
	imports := strings.Join(append([]string{"json", "hashlib"}, modules...), ", ")
	out, err := exec.Command(pythonInterpreter, "-E", "-s", "-c", "import "+imports).CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("interop test needs %s with modules %s: %v %s", pythonInterpreter, imports, err, bytes.TrimSpace(out))
	testkit.Unavailable(t, "%s", msg)
}

// runPython runs a script of testdata/interop and returns its stdout.
func runPython(t testing.TB, ctx context.Context, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	cmd := pythonCommand(ctx, script, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s: %s", script, stderr.String())
	return stdout.Bytes()
}

func pythonCommand(ctx context.Context, script string, args ...string) *exec.Cmd {
	// -B -E -s: no .pyc files, no PYTHON* variables, no user site-packages; the script's
	// directory stays on sys.path for pyclient.py.
	return exec.CommandContext(ctx, pythonInterpreter, append([]string{"-B", "-E", "-s", "testdata/interop/" + script}, args...)...)
}

// pyTagged is a Python value as testdata/interop/pyclient.py's tag writes
// it: one field set, naming the Python type.
type pyTagged struct {
	None    bool           `json:"none,omitempty"`
	Bool    *bool          `json:"bool,omitempty"`
	Int     *string        `json:"int,omitempty"`
	Float   *string        `json:"float,omitempty"`
	Str     *string        `json:"str,omitempty"`
	List    *[]pyTagged    `json:"list,omitempty"`
	Tuple   *[]pyTagged    `json:"tuple,omitempty"`
	Dict    *[][2]pyTagged `json:"dict,omitempty"`
	Other   *string        `json:"other,omitempty"`
	Missing bool           `json:"missing,omitempty"`
}

func (p pyTagged) String() string {
	b, _ := json.Marshal(p)
	return string(b)
}

func (p pyTagged) int() (*big.Int, error) {
	n, ok := new(big.Int).SetString(*p.Int, 10)
	if !ok {
		return nil, fmt.Errorf("bad int %q", *p.Int)
	}
	return n, nil
}

func (p pyTagged) float() (float64, error) {
	return strconv.ParseFloat(*p.Float, 64) // repr: digits, inf, -inf, nan
}

// canonical returns the Go value PythonJSONSerializer decodes the Python
// value into with a *any destination.
func (p pyTagged) canonical() (any, error) {
	switch {
	case p.None:
		return nil, nil
	case p.Bool != nil:
		return *p.Bool, nil
	case p.Int != nil:
		n, err := p.int()
		if err != nil || !n.IsInt64() {
			return n, err
		}
		return n.Int64(), nil
	case p.Float != nil:
		return p.float()
	case p.Str != nil:
		return *p.Str, nil
	case p.List != nil || p.Tuple != nil:
		items := p.List
		if items == nil {
			items = p.Tuple
		}
		out := make([]any, len(*items))
		for i, it := range *items {
			v, err := it.canonical()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case p.Dict != nil:
		out := make(map[string]any, len(*p.Dict))
		for _, kv := range *p.Dict {
			if kv[0].Str == nil {
				return nil, fmt.Errorf("dict key %s is not a str", kv[0])
			}
			v, err := kv[1].canonical()
			if err != nil {
				return nil, err
			}
			out[*kv[0].Str] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("no Go value for %s", p)
}

// pyEqual compares values with Python's types: floats by bits except that
// every NaN is equal, big ints by value.
func pyEqual(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y))
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !pyEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !pyEqual(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func assertPyEqual(t *testing.T, want, got any, msgAndArgs ...any) {
	t.Helper()
	if !pyEqual(want, got) {
		assert.Fail(t, fmt.Sprintf("values differ\nwant: %#v\ngot:  %#v", want, got), msgAndArgs...)
	}
}

// pyTestStr is a named string type for the parity variants.
type pyTestStr string

var pyAnyType = reflect.TypeFor[any]()

// goValue builds a Go value standing for the Python value p, choosing among
// the Go types that represent it (typed slices, structs, pointers,
// json.Number, *big.Int, float32, ...) with r.
func (p pyTagged) goValue(r *rand.Rand) (any, error) {
	v, err := p.goValueInner(r)
	if err != nil || v == nil || r.IntN(6) != 0 {
		return v, err
	}
	ptr := reflect.New(reflect.TypeOf(v))
	ptr.Elem().Set(reflect.ValueOf(v))
	return ptr.Interface(), nil
}

func (p pyTagged) goValueInner(r *rand.Rand) (any, error) {
	switch {
	case p.None:
		return []any{nil, (*int)(nil), (*struct{})(nil), (*map[string]any)(nil)}[r.IntN(4)], nil
	case p.Bool != nil:
		return *p.Bool, nil
	case p.Int != nil:
		n, err := p.int()
		if err != nil {
			return nil, err
		}
		opts := []any{json.Number(n.String()), n}
		if n.IsInt64() {
			i := n.Int64()
			opts = append(opts, i, int(i), i, i)
			if i == int64(int32(i)) {
				opts = append(opts, int32(i))
			}
			if i >= 0 {
				opts = append(opts, uint64(i))
			}
		} else if n.IsUint64() {
			opts = append(opts, n.Uint64(), n.Uint64())
		}
		return opts[r.IntN(len(opts))], nil
	case p.Float != nil:
		f, err := p.float()
		if err != nil {
			return nil, err
		}
		opts := []any{f, f, f}
		if g := float32(f); pyjson.Float32To64(float64(g)) == f {
			opts = append(opts, g)
		}
		if !math.IsInf(f, 0) && !math.IsNaN(f) {
			opts = append(opts, json.Number(*p.Float))
		}
		return opts[r.IntN(len(opts))], nil
	case p.Str != nil:
		s := *p.Str
		raw, _ := json.Marshal(s)
		return []any{s, s, pyTestStr(s), json.RawMessage(raw)}[r.IntN(4)], nil
	case p.Tuple != nil:
		items, err := pyGoValues(*p.Tuple, r)
		if err != nil {
			return nil, err
		}
		if r.IntN(2) == 0 {
			return items, nil
		}
		arr := reflect.New(reflect.ArrayOf(len(items), pyAnyType)).Elem()
		for i, it := range items {
			if it != nil {
				arr.Index(i).Set(reflect.ValueOf(it))
			}
		}
		return arr.Interface(), nil
	case p.List != nil:
		return p.goList(r)
	case p.Dict != nil:
		return p.goDict(r)
	}
	return nil, fmt.Errorf("no Go value for %s", p)
}

func pyGoValues(items []pyTagged, r *rand.Rand) ([]any, error) {
	out := make([]any, len(items))
	for i, it := range items {
		v, err := it.goValue(r)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (p pyTagged) goList(r *rand.Rand) (any, error) {
	items := *p.List
	allOf := func(ok func(pyTagged) bool) bool {
		for _, it := range items {
			if !ok(it) {
				return false
			}
		}
		return len(items) > 0
	}
	switch choice := r.IntN(4); {
	case choice == 0 && allOf(func(it pyTagged) bool { return it.Float != nil }):
		out := make([]float64, len(items))
		for i, it := range items {
			out[i], _ = it.float()
		}
		return out, nil
	case choice == 0 && allOf(func(it pyTagged) bool {
		if it.Int == nil {
			return false
		}
		n, err := it.int()
		return err == nil && n.IsInt64()
	}):
		out := make([]int64, len(items))
		for i, it := range items {
			n, _ := it.int()
			out[i] = n.Int64()
		}
		return out, nil
	case choice == 0 && allOf(func(it pyTagged) bool { return it.Str != nil }):
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = *it.Str
		}
		return out, nil
	case choice == 1:
		if canon, err := p.canonical(); err == nil {
			raw, err := PythonJSONSerializer{}.Marshal(canon)
			if err != nil {
				return nil, err
			}
			return json.RawMessage(raw), nil
		}
	}
	return pyGoValues(items, r)
}

func (p pyTagged) goDict(r *rand.Rand) (any, error) {
	pairs := *p.Dict
	var strs, ints, floats, bools, nones int
	for _, kv := range pairs {
		switch k := kv[0]; {
		case k.Str != nil:
			strs++
		case k.Int != nil:
			ints++
		case k.Float != nil:
			floats++
		case k.Bool != nil:
			bools++
		case k.None:
			nones++
		default:
			return nil, fmt.Errorf("dict key %s", k)
		}
	}
	n := len(pairs)
	if strs == n {
		return p.goStrDict(r)
	}
	if r.IntN(2) == 0 {
		switch n {
		case ints:
			if m, ok, err := goInt64Dict(pairs, r); ok {
				return m, err
			}
		case floats:
			return pyFillMap(map[float64]any{}, pairs, r, func(k pyTagged) (float64, error) { return k.float() })
		case bools:
			return pyFillMap(map[bool]any{}, pairs, r, func(k pyTagged) (bool, error) { return *k.Bool, nil })
		}
	}
	return pyFillMap(map[any]any{}, pairs, r, pyTagged.goAnyKey)
}

// goStrDict represents a dict whose keys are all str: a struct, JSON text,
// map[any]any or map[string]any.
func (p pyTagged) goStrDict(r *rand.Rand) (any, error) {
	pairs := *p.Dict
	switch r.IntN(4) {
	case 0:
		if s, ok, err := p.goStruct(r); ok || err != nil {
			return s, err
		}
	case 1:
		if canon, err := p.canonical(); err == nil { // nested dicts may have non-str keys
			raw, err := PythonJSONSerializer{}.Marshal(canon)
			return json.RawMessage(raw), err
		}
	case 2:
		return pyFillMap(map[any]any{}, pairs, r, func(k pyTagged) (any, error) { return *k.Str, nil })
	}
	return pyFillMap(map[string]any{}, pairs, r, func(k pyTagged) (string, error) { return *k.Str, nil })
}

// goInt64Dict represents a dict of int keys as a map[int64]any; ok is false
// when a key does not fit in int64.
func goInt64Dict(pairs [][2]pyTagged, r *rand.Rand) (any, bool, error) {
	for _, kv := range pairs {
		if v, _ := kv[0].int(); !v.IsInt64() {
			return nil, false, nil
		}
	}
	m, err := pyFillMap(map[int64]any{}, pairs, r, func(k pyTagged) (int64, error) { v, err := k.int(); return v.Int64(), err })
	return m, true, err
}

// goIntKey is an int key as int64, uint64 or *big.Int, whichever holds it.
func (k pyTagged) goIntKey() (any, error) {
	n, err := k.int()
	switch {
	case err != nil:
		return nil, err
	case n.IsInt64():
		return n.Int64(), nil
	case n.IsUint64():
		return n.Uint64(), nil
	}
	return n, nil
}

// goAnyKey is a dict key of any kind as a key of map[any]any.
func (k pyTagged) goAnyKey() (any, error) {
	switch {
	case k.Int != nil:
		return k.goIntKey()
	case k.Float != nil:
		return k.float()
	case k.Bool != nil:
		return *k.Bool, nil
	}
	return nil, nil
}

func pyFillMap[K comparable](m map[K]any, pairs [][2]pyTagged, r *rand.Rand, key func(pyTagged) (K, error)) (any, error) {
	for _, kv := range pairs {
		k, err := key(kv[0])
		if err != nil {
			return nil, err
		}
		v, err := kv[1].goValue(r)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// jsonTagUsable reports whether encoding/json names a field tagged k with
// k, so that a struct with that tag is the dict with that key.
func jsonTagUsable(k string) bool {
	field := reflect.StructField{Name: "F", Type: pyAnyType, Tag: reflect.StructTag(`json:` + strconv.Quote(k))}
	asStruct, err1 := json.Marshal(reflect.New(reflect.StructOf([]reflect.StructField{field})).Elem().Interface())
	asMap, err2 := json.Marshal(map[string]any{k: nil})
	return err1 == nil && err2 == nil && string(asStruct) == string(asMap)
}

// goStruct builds a struct type whose json tags are the dict's keys, plus a
// skipped field and an empty omitempty field; ok is false when a key cannot
// be a json tag name.
func (p pyTagged) goStruct(r *rand.Rand) (any, bool, error) {
	pairs := *p.Dict
	fields := make([]reflect.StructField, 0, len(pairs)+2)
	for i, kv := range pairs {
		k := *kv[0].Str
		if !jsonTagUsable(k) {
			return nil, false, nil
		}
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: pyAnyType,
			Tag:  reflect.StructTag(`json:` + strconv.Quote(k)),
		})
	}
	fields = append(fields,
		reflect.StructField{Name: "Skipped", Type: reflect.TypeFor[string](), Tag: `json:"-"`},
		reflect.StructField{Name: "Empty", Type: reflect.TypeFor[[]int](), Tag: `json:"empty_field,omitempty"`},
	)
	sv := reflect.New(reflect.StructOf(fields)).Elem()
	for i, kv := range pairs {
		v, err := kv[1].goValue(r)
		if err != nil {
			return nil, false, err
		}
		if v != nil {
			sv.Field(i).Set(reflect.ValueOf(v))
		}
	}
	sv.Field(len(pairs)).SetString("never hashed")
	return sv.Interface(), true, nil
}

// TestPythonHashInputParity has Debian's Python generate inputs with the
// original hash_input's md5, and checks that pythonHashInput reproduces
// every hash from two differently typed Go values per input. It needs only
// the interpreter, not Redis.
func TestPythonHashInputParity(t *testing.T) {
	requirePython(t)
	seed := uint64(20240601)
	if s := os.Getenv("REDISCLIENT_PARITY_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	const count = 1000
	out := runPython(t, testCtx(t), nil, "pyhashes.py", strconv.FormatUint(seed, 10), strconv.Itoa(count))

	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	inputs, checked := 0, 0
	for sc.Scan() {
		var line struct {
			Input pyTagged `json:"input"`
			MD5   string   `json:"md5"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		inputs++
		for variant := range uint64(2) {
			r := rand.New(rand.NewPCG(seed, uint64(inputs)<<1|variant))
			v, err := line.Input.goValue(r)
			require.NoError(t, err)
			got, err := pythonHashInput(v)
			if !assert.NoError(t, err, "input %d %s as %T", inputs, line.Input, v) {
				continue
			}
			if assert.Equal(t, line.MD5, got, "input %d %s as %T %#v", inputs, line.Input, v, v) {
				checked++
			}
		}
	}
	require.NoError(t, sc.Err())
	require.GreaterOrEqual(t, inputs, 200)
	t.Logf("hash parity: %d Python inputs (seed %d), %d Go values matched", inputs, seed, checked)
}

// interopClient returns a client with the Python preset on the integration
// server, in a namespace of its own.
func interopClient(t *testing.T) (*Client, string, string) {
	t.Helper()
	url := testkit.RequireEnv(t, testkit.EnvURL)
	requirePython(t, "redis")
	opts := PythonCompatOptions()
	opts.Namespace = uniqueNamespace(t)
	c := newRealClient(t, opts)
	return c, url, opts.Namespace
}

// interopFeatures is PREDICTION_INPUT of testdata/interop/pyclient.py as a
// Go struct.
type interopFeatures struct {
	Symbol   string      `json:"symbol"`
	Window   int         `json:"window"`
	Features []float64   `json:"features"`
	Meta     interopMeta `json:"meta"`
	Tick     int64       `json:"tick"`
	Label    string      `json:"label"`
	Internal string      `json:"-"`
	Comment  string      `json:"comment,omitempty"`
}

type interopMeta struct {
	Source   string  `json:"source"`
	Adjusted bool    `json:"adjusted"`
	Venue    *string `json:"venue"`
}

const interopModel = "momentum_v2"

var interopInput = interopFeatures{
	Symbol:   "AAPL",
	Window:   20,
	Features: []float64{0.12, -1.5e-07, 3.0, 1e16, 2.5},
	Meta:     interopMeta{Source: "ticks", Adjusted: true},
	Tick:     9007199254740993,
	Label:    "m\u00f6mentum \U0001F680",
	Internal: "not part of the hash",
}

type interopPrediction struct {
	Prediction float64 `json:"prediction"`
	Confidence float64 `json:"confidence"`
	Label      string  `json:"label"`
	Horizon    int     `json:"horizon"`
}

func TestInteropPythonWritesGoReads(t *testing.T) {
	c, url, ns := interopClient(t)
	ctx := testCtx(t)
	var manifest struct {
		Values     map[string]string   `json:"values"`
		Expected   map[string]pyTagged `json:"expected"`
		Pickle     string              `json:"pickle"`
		Prediction struct {
			Model    string   `json:"model"`
			Hash     string   `json:"hash"`
			Key      string   `json:"key"`
			Expected pyTagged `json:"expected"`
		} `json:"prediction"`
	}
	require.NoError(t, json.Unmarshal(runPython(t, ctx, nil, "pywriter.py", url, ns), &manifest))
	require.NotEmpty(t, manifest.Values)

	// Every value, read into *any, is what Python's own get returns, except
	// where decodeValue reads top-level number text before the serializer
	// sees it (anyExceptions).
	anyExceptions := map[string]string{
		"bigint":     "decimal text beyond int64 is read as float64",
		"float_ninf": `"-inf" is read as a float; Python's get returns the text`,
	}
	for name, key := range manifest.Values {
		want, err := manifest.Expected[name].canonical()
		require.NoError(t, err, name)
		var got any
		require.NoError(t, c.Get(ctx, key, &got), name)
		if reason, ok := anyExceptions[name]; ok {
			t.Logf("%s: %s: Python %#v, Go %#v", name, reason, want, got)
			continue
		}
		assertPyEqual(t, want, got, name)
	}

	// Typed destinations.
	get := func(key string, dest any) {
		t.Helper()
		require.NoError(t, c.Get(ctx, key, dest), key)
	}
	var s string
	get("str", &s)
	assert.Equal(t, "h\u00e9llo w\u00f6rld \U0001F600", s)
	var i64 int64
	get("int", &i64)
	assert.Equal(t, int64(42), i64)
	var n int
	get("int_negative", &n)
	assert.Equal(t, -7, n)
	var bi big.Int
	get("bigint", &bi)
	assert.Equal(t, "1180591620717411303424", bi.String())
	for name, want := range map[string]float64{
		"float": 3.14, "float_integral": 3, "float_tiny": 1e-05, "float_huge": 1e16,
		"float_inf": math.Inf(1), "float_ninf": math.Inf(-1),
	} {
		var f float64
		get(name, &f)
		assert.Equal(t, want, f, name)
	}
	var nan float64
	get("float_nan", &nan)
	assert.True(t, math.IsNaN(nan))
	var b bool
	get("bool", &b)
	assert.True(t, b, `Python stores True as "True"`)
	var floats []float64
	get("list_floats", &floats)
	require.Len(t, floats, 5)
	assert.Equal(t, []float64{1, 0.5}, floats[:2])
	assert.True(t, math.IsNaN(floats[2]))
	assert.Equal(t, math.Inf(1), floats[3])
	assert.True(t, floats[4] == 0 && math.Signbit(floats[4]), "-0.0")

	var order struct {
		Symbol string   `json:"symbol"`
		Price  float64  `json:"price"`
		Qty    int      `json:"qty"`
		Tags   []string `json:"tags"`
		Ratio  float64  `json:"ratio"`
		Limit  float64  `json:"limit"`
		Note   string   `json:"note"`
		Filled bool     `json:"filled"`
		Parent *string  `json:"parent"`
		Extra  any      `json:"extra"`
	}
	get("dict", &order)
	assert.Equal(t, "AAPL", order.Symbol)
	assert.Equal(t, 189.25, order.Price)
	assert.Equal(t, 100, order.Qty)
	assert.Equal(t, []string{"tech", "us"}, order.Tags)
	assert.True(t, math.IsNaN(order.Ratio))
	assert.Equal(t, math.Inf(1), order.Limit)
	assert.Equal(t, "na\u00efve \u2603 \U0001F600", order.Note)
	assert.False(t, order.Filled)
	assert.Nil(t, order.Parent)
	var generic map[string]any
	get("dict", &generic)
	assert.Equal(t, int64(100), generic["qty"], "ints stay ints in interface values")
	assert.Equal(t, []any{"tech", "us"}, generic["tags"])

	// A pickle is refused, naming the key.
	for _, dest := range []any{new(any), &order, new(map[string]any)} {
		err := c.Get(ctx, manifest.Pickle, dest)
		require.ErrorIs(t, err, ErrUnsupportedFormat, "%T", dest)
		assert.Contains(t, err.Error(), ns+":"+manifest.Pickle)
	}

	// The prediction Python cached is found under the hash Go computes.
	h, err := c.HashInput(interopInput)
	require.NoError(t, err)
	require.Equal(t, manifest.Prediction.Hash, h, "HashInput of the Go struct")
	direct, err := pythonHashInput(interopInput)
	require.NoError(t, err)
	require.Equal(t, h, direct)
	assert.Equal(t, c.Key(manifest.Prediction.Key), c.Key("model", interopModel, h))
	var pred interopPrediction
	require.NoError(t, c.GetCachedModelPrediction(ctx, interopModel, h, &pred))
	assert.Equal(t, interopPrediction{Prediction: 0.87, Confidence: 0.93, Label: "buy", Horizon: 5}, pred)
	var predAny any
	require.NoError(t, c.GetCachedModelPrediction(ctx, interopModel, h, &predAny))
	want, err := manifest.Prediction.Expected.canonical()
	require.NoError(t, err)
	assertPyEqual(t, want, predAny)
}

// interopOrder is written by Go and read by Python.
type interopOrder struct {
	interopAudit
	Symbol  string    `json:"symbol"`
	Price   float64   `json:"price"`
	Qty     int64     `json:"qty"`
	Score   float64   `json:"score"`
	Weights []float64 `json:"weights"`
	Note    string    `json:"note,omitempty"`
	Secret  string    `json:"-"`
	Count   int       `json:"count,string"`
	Placed  time.Time `json:"placed"`
	Parent  *string   `json:"parent"`
}

type interopAudit struct {
	By string `json:"by"`
}

func TestInteropGoWritesPythonReads(t *testing.T) {
	c, url, ns := interopClient(t)
	ctx := testCtx(t)
	placed := time.Date(2024, 6, 1, 13, 30, 0, 0, time.UTC)
	cases := []struct {
		name    string
		value   any
		want    any  // the value Python's get returns, with Python's types
		numeric bool // only the number must agree (int vs float)
	}{
		{"str", "h\u00e9llo w\u00f6rld \U0001F600", "h\u00e9llo w\u00f6rld \U0001F600", false},
		{"str_json_like", "[not json", "[not json", false},
		{"int", int64(-42), int64(-42), false},
		{"uint_max", uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64), false},
		{"float", 2.5, 2.5, false},
		{"float_tiny", 1e-7, 1e-7, false},
		{"float_huge", 1e21, 1e21, false},
		{"float_integral", 3.0, 3.0, true},
		{"bool", true, true, false},
		{"list", []any{1, 2.5, "x", nil, true, map[string]any{"a": []int{1, 2}}},
			[]any{int64(1), 2.5, "x", nil, true, map[string]any{"a": []any{int64(1), int64(2)}}}, false},
		{"floats", []float64{1, 0.5, math.NaN(), math.Inf(1), math.Copysign(0, -1)},
			[]any{1.0, 0.5, math.NaN(), math.Inf(1), math.Copysign(0, -1)}, false},
		{"int_keys", map[int]string{1: "a", 10: "b", -3: "c"}, map[string]any{"1": "a", "10": "b", "-3": "c"}, false},
		{"unicode", map[string]any{"\u00e9\U0001F600": []string{"\u2603"}}, map[string]any{"\u00e9\U0001F600": []any{"\u2603"}}, false},
		{"nil_slice", []string(nil), []any{}, false},
		{"struct", interopOrder{
			interopAudit: interopAudit{By: "go"}, Symbol: "MSFT", Price: 412.5, Qty: 3,
			Score: math.NaN(), Weights: []float64{0.25, 1}, Secret: "x", Count: 7, Placed: placed,
		}, map[string]any{
			"by": "go", "symbol": "MSFT", "price": 412.5, "qty": int64(3), "score": math.NaN(),
			"weights": []any{0.25, 1.0}, "count": "7", "placed": "2024-06-01T13:30:00Z", "parent": nil,
		}, false},
	}
	keys := make([]string, len(cases))
	for i, tc := range cases {
		require.NoError(t, c.Set(ctx, tc.name, tc.value, 0), tc.name)
		keys[i] = tc.name
	}
	h, err := c.HashInput(interopInput)
	require.NoError(t, err)
	pred := interopPrediction{Prediction: 0.61, Confidence: 0.5, Label: "hold", Horizon: 15}
	require.NoError(t, c.CacheModelPrediction(ctx, interopModel, h, pred, 0))

	req, err := json.Marshal(map[string]any{"keys": keys, "prediction": true})
	require.NoError(t, err)
	var got struct {
		Values     map[string]pyTagged `json:"values"`
		Prediction struct {
			Hash  string   `json:"hash"`
			Value pyTagged `json:"value"`
		} `json:"prediction"`
	}
	require.NoError(t, json.Unmarshal(runPython(t, ctx, req, "pyreader.py", url, ns), &got))
	for _, tc := range cases {
		v, err := got.Values[tc.name].canonical()
		require.NoError(t, err, tc.name)
		if tc.numeric {
			assert.EqualValues(t, tc.want, pyToFloat(v), tc.name)
			continue
		}
		assertPyEqual(t, tc.want, v, tc.name)
	}
	assert.Equal(t, h, got.Prediction.Hash, "Python's hash_input of the same input")
	pv, err := got.Prediction.Value.canonical()
	require.NoError(t, err)
	assertPyEqual(t, map[string]any{"prediction": 0.61, "confidence": 0.5, "label": "hold", "horizon": int64(15)}, pv)

	ttl, err := c.TTL(ctx, "str")
	require.NoError(t, err)
	assert.InDelta(t, 86400, ttl.Seconds(), 5, "the preset's default TTL")
}

func pyToFloat(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	}
	return v
}

func TestInteropPubSubPythonToGo(t *testing.T) {
	c, url, ns := interopClient(t)
	ctx := testCtx(t)
	msgs := make(chan Message, 10)
	sub, err := c.Subscribe(ctx, func(_ context.Context, m Message) error {
		msgs <- m
		return nil
	}, "signals")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })

	var published struct {
		Counts   []int      `json:"counts"`
		Messages []pyTagged `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(runPython(t, ctx, nil, "pypubsub.py", url, ns, "publish", "signals"), &published))
	require.Len(t, published.Messages, 3)
	assert.Equal(t, []int{1, 1, 1}, published.Counts, "one Go subscriber per message")

	for i, tagged := range published.Messages {
		var m Message
		select {
		case m = <-msgs:
		case <-ctx.Done():
			t.Fatalf("message %d not received: %v", i, ctx.Err())
		}
		assert.Equal(t, "signals", m.Channel)
		want, err := tagged.canonical()
		require.NoError(t, err)
		var got any
		require.NoError(t, m.Decode(&got), "message %d", i)
		assertPyEqual(t, want, got, "message %d", i)
		if i == 0 {
			var sig struct {
				Signal string   `json:"signal"`
				Price  float64  `json:"price"`
				Qty    int      `json:"qty"`
				Score  float64  `json:"score"`
				Stop   float64  `json:"stop"`
				Note   string   `json:"note"`
				TS     int64    `json:"ts"`
				Tags   []string `json:"tags"`
			}
			require.NoError(t, m.Decode(&sig))
			assert.Equal(t, "BUY", sig.Signal)
			assert.Equal(t, 189.25, sig.Price)
			assert.Equal(t, 100, sig.Qty)
			assert.True(t, math.IsNaN(sig.Score))
			assert.Equal(t, math.Inf(-1), sig.Stop)
			assert.Equal(t, "caf\u00e9 \U0001F680", sig.Note)
			assert.Equal(t, int64(1717243200), sig.TS)
			assert.Equal(t, []string{"momentum", "us"}, sig.Tags)
		}
	}
}

func TestInteropPubSubGoToPython(t *testing.T) {
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
		{"plain text signal \u2603", "plain text signal \u2603"},
	}
	cmd := pythonCommand(ctx, "pypubsub.py", url, ns, "subscribe", "signals", strconv.Itoa(len(messages)), "8")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr testkit.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewReader(stdout)
	ready, err := lines.ReadString('\n')
	require.NoError(t, err, "python subscriber: %s", stderr.String())
	require.Equal(t, "ready\n", ready)

	for _, m := range messages {
		n, err := c.Publish(ctx, "signals", m.value)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
	}
	for i, m := range messages {
		line, err := lines.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			t.Fatalf("python subscriber ended after %d messages: %s", i, stderr.String())
		}
		require.NoError(t, err)
		var tagged pyTagged
		require.NoError(t, json.Unmarshal(line, &tagged))
		got, err := tagged.canonical()
		require.NoError(t, err)
		assertPyEqual(t, m.want, got, "message %d", i)
	}
	require.NoError(t, cmd.Wait(), stderr.String())
}
