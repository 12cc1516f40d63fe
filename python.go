package redisclient

import (
	"cmp"
	"crypto/md5"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// PythonCompatOptions returns Options that share one Redis with the Python
// service's RedisClient: namespace "trading", separator ":", a default TTL of
// 86400 s, values in Python's layout (PythonJSONSerializer: strings raw,
// numbers as their decimal text, lists, dicts and structs as the JSON
// Python's json.dumps writes) and HashInput computing the Python service's
// md5 hash (HashPythonMD5), so model predictions are cached under the same
// keys by both. Channels are namespaced the same way as keys.
//
// Set the address fields (URL, Addr, ...) on the result before passing it to
// New; Namespace may be overridden, for example to isolate tests.
func PythonCompatOptions() Options {
	return Options{
		Namespace:  DefaultNamespace,
		Separator:  DefaultSeparator,
		DefaultTTL: 86400 * time.Second,
		Serializer: PythonJSONSerializer{},
		HashMode:   HashPythonMD5,
	}
}

// PythonJSONSerializer reads and writes values the way the Python service
// does, so both sides can read what the other wrote.
//
// Marshal writes what Python's json.dumps writes with its defaults:
// separators ", " and ": ", non-ASCII characters as \uXXXX escapes, floats
// in Python's repr form (3.0, 1e-05, 1e+16), NaN and ±Infinity as Python's
// NaN, Infinity and -Infinity tokens (which Python reads back, but strict
// JSON parsers such as encoding/json reject), and integers of any size as
// their digits. Structs are objects named by their `json` tags with the
// encoding/json rules (omitempty, omitzero, "-", ",string", embedded
// structs) in field order; json.Marshaler and encoding.TextMarshaler are
// honoured. Python keeps a dict's insertion order but Go maps have none, so
// map keys are written sorted (Python's sort_keys order), which makes the
// output deterministic. []byte, complex numbers, channels, functions and
// cyclic values are errors, as they are for json.dumps; so are values
// nested deeper than 1000 levels, which Unmarshal refuses too
// (ErrValueTooComplex), as it refuses JSON that would expand far beyond its
// size. A Client stores strings, []byte and numbers raw without calling
// Marshal, as Python does.
//
// Unmarshal reads JSON as Python's json.loads does, NaN and Infinity
// included, into any Go value encoding/json can decode into (struct fields
// matched as encoding/json matches them). A *any destination receives
// Python's types: int64 for integers (*big.Int beyond int64), float64 for
// floats, string, bool, nil, []any and map[string]any; interface values
// nested in other destinations receive the same. Like the Python service's
// get, a *any destination falls back to the text itself when the data is
// not JSON, and so does a *string destination when the data is not a JSON
// string. A *bool destination also accepts Python's "True" and "False" (how
// Python stores a bool). A Python pickle is ErrUnsupportedFormat.
type PythonJSONSerializer struct{}

// Marshal implements Serializer.
func (PythonJSONSerializer) Marshal(v any) ([]byte, error) {
	if err := checkValue(v); err != nil {
		return nil, err
	}
	e := &pyEncoder{}
	if err := e.encode(reflect.ValueOf(v)); err != nil {
		return nil, fmt.Errorf("python json: %w", err)
	}
	return e.buf, nil
}

// Unmarshal implements Serializer.
func (PythonJSONSerializer) Unmarshal(data []byte, v any) error {
	if looksLikePickle(data) {
		return pickleError()
	}
	if err := checkJSON(data, weightsFor(v)); err != nil {
		return err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("python json: destination must be a non-nil pointer, got %T", v)
	}
	switch d := v.(type) {
	case *any:
		tree, err := parsePyJSON(data, false)
		if err != nil {
			if !utf8.Valid(data) {
				return fmt.Errorf("python json: %w", err)
			}
			*d = string(data)
			return nil
		}
		*d = pyToGo(tree)
		return nil
	case *string:
		if tree, err := parsePyJSON(data, false); err == nil {
			if s, ok := tree.(string); ok {
				*d = s
				return nil
			}
		}
		if !utf8.Valid(data) {
			return errors.New("python json: value is neither JSON nor UTF-8 text")
		}
		*d = string(data)
		return nil
	case *bool:
		switch string(data) {
		case "True":
			*d = true
			return nil
		case "False":
			*d = false
			return nil
		}
	}
	if !pyNeedsTree(rv.Type().Elem()) {
		// The common case: no interface values to type and, unless the
		// data holds NaN or Infinity, plain JSON.
		err := json.Unmarshal(data, v)
		if err == nil {
			return nil
		}
		if se := (*json.SyntaxError)(nil); !errors.As(err, &se) {
			return fmt.Errorf("python json: %w", err)
		}
	}
	tree, err := parsePyJSON(data, false)
	if err != nil {
		return fmt.Errorf("python json: %w", err)
	}
	if err := pyAssign(tree, rv.Elem()); err != nil {
		return fmt.Errorf("python json: %w", err)
	}
	return nil
}

// pythonHashInput reproduces the Python service's hash_input(x): when x is a
// dict, list or tuple, the md5 of json.dumps(x, sort_keys=True), otherwise
// the md5 of str(x), as 32 lowercase hex digits of the UTF-8 text.
//
// Go values map to Python values as follows. Maps and structs (as their
// JSON object, by the encoding/json field rules) are dicts; slices and
// arrays are lists, nil slices and maps included (Python has no null list);
// nil pointers and interfaces are None; pointers and interfaces stand for
// what they point to. Integers of every Go type, *big.Int and integral
// json.Number text are Python ints; float64 and float32 (by its shortest
// decimal digits) and json.Number with a fraction or exponent are floats;
// bool is bool; a string is str and must be valid UTF-8; a top-level []byte
// is bytes (str gives b'...'). A json.Marshaler (json.RawMessage included)
// stands for the JSON it writes, parsed as json.loads would, and an
// encoding.TextMarshaler for its text as a str; so a time.Time is the RFC
// 3339 text encoding/json writes for it, the same as hashing that string in
// Python (Python's str of a datetime differs). Maps with int, float or bool
// keys are sorted by value and their keys written as json.dumps writes them
// ("1", "1.5", "true", "null"), as Python sorts dict items before converting
// keys.
//
// Inputs for which Python raises, or which have no Python counterpart, are
// errors: channels, functions, complex numbers, cycles, bytes inside a
// container, invalid UTF-8, map keys other than strings, numbers, bools,
// *big.Int and encoding.TextMarshaler, keys Python cannot sort (strings
// mixed with numbers, None or NaN among other keys) and distinct Go keys
// that are one Python key (1, 1.0 and true).
func pythonHashInput(input any) (string, error) {
	e := pyHashEncoders.Get().(*pyEncoder)
	defer e.release()
	e.digest.Reset()
	if err := e.hashText(input); err != nil {
		return "", err
	}
	e.digest.Write(e.buf)
	var sum [md5.Size]byte
	return hex.EncodeToString(e.digest.Sum(sum[:0])), nil
}

// pythonHashText returns the text hash_input hashes: json.dumps(x,
// sort_keys=True) for containers, str(x) otherwise.
func pythonHashText(input any) ([]byte, error) {
	e := &pyEncoder{sortKeys: true}
	if err := e.hashText(input); err != nil {
		return nil, err
	}
	return e.buf, nil
}

var pyHashEncoders = sync.Pool{New: func() any { return &pyEncoder{sortKeys: true, digest: md5.New()} }}

// pySpillSize is how much text a hashing encoder holds before it hands it to
// the digest: hashing a large input streams through one buffer of about this
// size instead of growing a copy of the whole text.
const pySpillSize = 32 << 10

// spill hands the text written so far to the digest, if the encoder hashes
// and holds pySpillSize bytes or more. Containers call it between elements.
func (e *pyEncoder) spill() {
	if e.digest != nil && len(e.buf) >= pySpillSize {
		e.digest.Write(e.buf)
		e.buf = e.buf[:0]
	}
}

func (e *pyEncoder) release() {
	if cap(e.buf) > 64<<10 {
		e.buf = nil
	}
	e.buf, e.level, e.seen = e.buf[:0], 0, nil
	pyHashEncoders.Put(e)
}

func (e *pyEncoder) hashText(input any) error {
	v, err := e.normalize(reflect.ValueOf(input))
	if err == nil {
		if v.kind == pyList || v.kind == pyDict {
			err = e.write(v)
		} else {
			e.writeStr(v)
		}
	}
	if err != nil {
		return fmt.Errorf("python hash: %w", err)
	}
	return nil
}

// pyKind is the Python type a Go value stands for.
type pyKind uint8

const (
	pyNone pyKind = iota
	pyBool
	pyInt   // i
	pyUint  // u, above math.MaxInt64 or from an unsigned type
	pyBig   // s holds the decimal digits
	pyFloat // f
	pyStr   // s
	pyBytes // s holds the bytes
	pyList  // rv (slice or array) or tree ([]any)
	pyDict  // rv (map or struct) or tree (pyObject)
)

// pyVal is a Go value resolved to its Python type.
type pyVal struct {
	kind pyKind
	b    bool
	i    int64
	u    uint64
	f    float64
	s    string
	rv   reflect.Value
	tree any
	ptr  uintptr // pointer the container was reached through, for cycle checks
}

// pyEncoder writes Python's json.dumps text.
type pyEncoder struct {
	buf      []byte
	sortKeys bool // json.dumps(sort_keys=True); without it maps are still sorted, structs keep field order
	level    int
	seen     map[pyPtrKey]struct{}
	digest   hash.Hash // hashing: where spill streams the text; nil otherwise
}

// pyPtrKey identifies a container being written: its address, its length
// for a slice, and its type (a struct and its first field share an address).
type pyPtrKey struct {
	p uintptr
	n int
	t reflect.Type
}

const (
	// pyCycleLevel is the nesting depth from which containers are checked
	// for cycles, as encoding/json does.
	pyCycleLevel = 1000
	// pyMaxDepth bounds the nesting of parsed JSON, as for every value.
	pyMaxDepth = maxValueDepth
)

var (
	pyJSONMarshalerType   = reflect.TypeFor[json.Marshaler]()
	pyTextMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	pyJSONUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	pyTextUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	pyJSONNumberType      = reflect.TypeFor[json.Number]()
	pyFloat64Type         = reflect.TypeFor[float64]()
	pyBigIntPtrType       = reflect.TypeFor[*big.Int]()
	pyIsZeroerType        = reflect.TypeFor[interface{ IsZero() bool }]()
)

// pyTypeInfo caches what normalize needs to know about a type.
type pyTypeInfo struct {
	marshaler     bool // the type implements json.Marshaler
	addrMarshaler bool // only its pointer does
	text          bool // the type implements encoding.TextMarshaler
	addrText      bool // only its pointer does
	bytes         bool // a slice of bytes without marshalers on the elements
}

var pyTypeInfos sync.Map // reflect.Type -> *pyTypeInfo

func pyTypeInfoOf(t reflect.Type) *pyTypeInfo {
	if v, ok := pyTypeInfos.Load(t); ok {
		return v.(*pyTypeInfo)
	}
	info := &pyTypeInfo{
		marshaler: t.Implements(pyJSONMarshalerType),
		text:      t.Implements(pyTextMarshalerType),
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		pt := reflect.PointerTo(t)
		info.addrMarshaler = !info.marshaler && pt.Implements(pyJSONMarshalerType)
		info.addrText = !info.text && pt.Implements(pyTextMarshalerType)
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		et := t.Elem()
		pet := reflect.PointerTo(et)
		info.bytes = !et.Implements(pyJSONMarshalerType) && !et.Implements(pyTextMarshalerType) &&
			!pet.Implements(pyJSONMarshalerType) && !pet.Implements(pyTextMarshalerType)
	}
	v, _ := pyTypeInfos.LoadOrStore(t, info)
	return v.(*pyTypeInfo)
}

// normalize resolves rv, through pointers, interfaces and marshalers, to the
// Python value it stands for.
func (e *pyEncoder) normalize(rv reflect.Value) (pyVal, error) {
	var ptr uintptr
	for hops := 0; ; hops++ {
		if hops > pyCycleLevel {
			return pyVal{}, errors.New("pointer cycle")
		}
		if !rv.IsValid() {
			return pyVal{kind: pyNone}, nil
		}
		t := rv.Type()
		k := rv.Kind()
		if (k == reflect.Pointer || k == reflect.Interface) && rv.IsNil() {
			return pyVal{kind: pyNone}, nil
		}
		switch t {
		case pyJSONNumberType:
			return pyNumberVal(rv.String())
		case pyFloat64Type:
			return pyVal{kind: pyFloat, f: rv.Float()}, nil
		}
		info := pyTypeInfoOf(t)
		switch {
		case info.marshaler:
			return pyMarshalJSON(rv)
		case info.addrMarshaler:
			return pyMarshalJSON(pyAddressable(rv))
		case info.text:
			return pyMarshalText(rv)
		case info.addrText:
			return pyMarshalText(pyAddressable(rv))
		}
		switch k {
		case reflect.Interface:
			rv = rv.Elem()
			continue
		case reflect.Pointer:
			ptr = rv.Pointer()
			rv = rv.Elem()
			continue
		case reflect.Bool:
			return pyVal{kind: pyBool, b: rv.Bool()}, nil
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return pyVal{kind: pyInt, i: rv.Int()}, nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return pyVal{kind: pyUint, u: rv.Uint()}, nil
		case reflect.Float32:
			return pyVal{kind: pyFloat, f: pyFloat32To64(rv.Float())}, nil
		case reflect.Float64:
			return pyVal{kind: pyFloat, f: rv.Float()}, nil
		case reflect.String:
			s := rv.String()
			if !utf8.ValidString(s) {
				return pyVal{}, fmt.Errorf("string %q is not valid UTF-8", pyTruncate(s))
			}
			return pyVal{kind: pyStr, s: s}, nil
		case reflect.Slice:
			if info.bytes {
				return pyVal{kind: pyBytes, s: string(rv.Bytes())}, nil
			}
			return pyVal{kind: pyList, rv: rv}, nil
		case reflect.Array:
			return pyVal{kind: pyList, rv: rv, ptr: ptr}, nil
		case reflect.Map:
			return pyVal{kind: pyDict, rv: rv}, nil
		case reflect.Struct:
			return pyVal{kind: pyDict, rv: rv, ptr: ptr}, nil
		}
		return pyVal{}, fmt.Errorf("unsupported type %s", t)
	}
}

// pyAddressable returns a pointer to rv or, when rv is not addressable, to a
// copy, so that methods with pointer receivers can be called.
func pyAddressable(rv reflect.Value) reflect.Value {
	if rv.CanAddr() {
		return rv.Addr()
	}
	p := reflect.New(rv.Type())
	p.Elem().Set(rv)
	return p
}

func pyMarshalJSON(rv reflect.Value) (pyVal, error) {
	if (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) && rv.IsNil() {
		return pyVal{kind: pyNone}, nil
	}
	m, ok := rv.Interface().(json.Marshaler)
	if !ok {
		return pyVal{kind: pyNone}, nil
	}
	b, err := m.MarshalJSON()
	if err != nil {
		return pyVal{}, fmt.Errorf("%s: MarshalJSON: %w", rv.Type(), err)
	}
	tree, err := parsePyJSON(b, true)
	if err != nil {
		return pyVal{}, fmt.Errorf("%s: MarshalJSON returned invalid JSON: %w", rv.Type(), err)
	}
	return pyTreeVal(tree), nil
}

func pyMarshalText(rv reflect.Value) (pyVal, error) {
	if (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) && rv.IsNil() {
		return pyVal{kind: pyNone}, nil
	}
	m, ok := rv.Interface().(encoding.TextMarshaler)
	if !ok {
		return pyVal{kind: pyNone}, nil
	}
	b, err := m.MarshalText()
	if err != nil {
		return pyVal{}, fmt.Errorf("%s: MarshalText: %w", rv.Type(), err)
	}
	if !utf8.Valid(b) {
		return pyVal{}, fmt.Errorf("%s: MarshalText returned invalid UTF-8", rv.Type())
	}
	return pyVal{kind: pyStr, s: string(b)}, nil
}

// pyNumberVal reads json.Number text as Python's json.loads would: an int
// without a fraction or exponent, a float otherwise. Empty text is 0, as
// encoding/json writes it.
func pyNumberVal(s string) (pyVal, error) {
	if s == "" {
		return pyVal{kind: pyInt}, nil
	}
	n, isFloat := pyJSONNumberLen(s)
	if n == 0 || n != len(s) {
		return pyVal{}, fmt.Errorf("invalid json.Number %q", pyTruncate(s))
	}
	if isFloat {
		return pyVal{kind: pyFloat, f: parsePyFloat(s)}, nil
	}
	return pyIntText(s), nil
}

// pyIntText returns the Python int written as JSON integer text s.
func pyIntText(s string) pyVal {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return pyVal{kind: pyInt, i: i}
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return pyVal{kind: pyUint, u: u}
	}
	return pyVal{kind: pyBig, s: s}
}

func pyTreeVal(tree any) pyVal {
	switch x := tree.(type) {
	case nil:
		return pyVal{kind: pyNone}
	case bool:
		return pyVal{kind: pyBool, b: x}
	case string:
		return pyVal{kind: pyStr, s: x}
	case pyNum:
		return pyIntText(string(x))
	case float64:
		return pyVal{kind: pyFloat, f: x}
	case []any:
		return pyVal{kind: pyList, tree: x}
	case pyObject:
		return pyVal{kind: pyDict, tree: x}
	}
	panic(fmt.Sprintf("redisclient: unexpected JSON tree node %T", tree))
}

// pyFloat32To64 widens a float32 by its shortest decimal digits, so 0.1f is
// Python's 0.1 rather than 0.10000000149011612.
func pyFloat32To64(f float64) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return f
	}
	g, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
	return g
}

func pyTruncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// enter marks the start of a container; past pyCycleLevel it checks that
// the container is not already being written.
func (e *pyEncoder) enter(key pyPtrKey) (bool, error) {
	e.level++
	if e.level <= pyCycleLevel || key.p == 0 {
		return false, nil
	}
	if e.seen == nil {
		e.seen = make(map[pyPtrKey]struct{})
	}
	if _, ok := e.seen[key]; ok {
		return false, errors.New("cycle: a value contains itself")
	}
	e.seen[key] = struct{}{}
	return true, nil
}

func (e *pyEncoder) leave(key pyPtrKey, tracked bool) {
	e.level--
	if tracked {
		delete(e.seen, key)
	}
}

// encode writes the json.dumps text of rv.
func (e *pyEncoder) encode(rv reflect.Value) error {
	v, err := e.normalize(rv)
	if err != nil {
		return err
	}
	return e.write(v)
}

// write writes the json.dumps text of v.
func (e *pyEncoder) write(v pyVal) error {
	switch v.kind {
	case pyNone:
		e.buf = append(e.buf, "null"...)
	case pyBool:
		e.buf = strconv.AppendBool(e.buf, v.b)
	case pyInt:
		e.buf = strconv.AppendInt(e.buf, v.i, 10)
	case pyUint:
		e.buf = strconv.AppendUint(e.buf, v.u, 10)
	case pyBig:
		e.buf = append(e.buf, v.s...)
	case pyFloat:
		e.buf = appendPyJSONFloat(e.buf, v.f)
	case pyStr:
		e.buf = appendPyString(e.buf, v.s)
	case pyBytes:
		return errors.New("bytes are not JSON serializable")
	case pyList:
		if v.tree != nil {
			return e.writeTree(v.tree)
		}
		return e.writeList(v)
	case pyDict:
		if v.tree != nil {
			return e.writeTree(v.tree)
		}
		if v.rv.Kind() == reflect.Map {
			return e.writeMap(v.rv)
		}
		return e.writeStruct(v)
	}
	return nil
}

// writeStr writes Python's str() of a value that is not a container.
func (e *pyEncoder) writeStr(v pyVal) {
	switch v.kind {
	case pyNone:
		e.buf = append(e.buf, "None"...)
	case pyBool:
		if v.b {
			e.buf = append(e.buf, "True"...)
		} else {
			e.buf = append(e.buf, "False"...)
		}
	case pyFloat:
		e.buf = appendPyStrFloat(e.buf, v.f)
	case pyStr:
		e.buf = append(e.buf, v.s...)
	case pyBytes:
		e.buf = appendPyBytesRepr(e.buf, v.s)
	default:
		_ = e.write(v) // ints: same digits in both forms
	}
}

func (e *pyEncoder) writeList(v pyVal) error {
	rv := v.rv
	key := pyPtrKey{p: v.ptr, t: rv.Type()}
	if rv.Kind() == reflect.Slice {
		key = pyPtrKey{p: rv.Pointer(), n: rv.Len(), t: rv.Type()}
	}
	tracked, err := e.enter(key)
	if err != nil {
		return err
	}
	defer e.leave(key, tracked)
	n := rv.Len()
	e.buf = append(e.buf, '[')
	if rv.Type().Elem() == pyFloat64Type {
		for i := range n {
			if i > 0 {
				e.buf = append(e.buf, ", "...)
			}
			e.buf = appendPyJSONFloat(e.buf, rv.Index(i).Float())
			e.spill()
		}
	} else {
		for i := range n {
			if i > 0 {
				e.buf = append(e.buf, ", "...)
			}
			if err := e.encode(rv.Index(i)); err != nil {
				return err
			}
			e.spill()
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

// pyMapKey is a map key as Python sees it.
type pyMapKey struct {
	class   uint8  // pyKeyNone, pyKeyNum or pyKeyStr
	text    string // the key json.dumps writes
	isFloat bool
	f       float64
	i       int64
	big     *big.Int // an int outside int64
	val     reflect.Value
}

const (
	pyKeyNone uint8 = iota
	pyKeyNum
	pyKeyStr
)

func (e *pyEncoder) writeMap(rv reflect.Value) error {
	n := rv.Len()
	if n == 0 {
		e.buf = append(e.buf, "{}"...)
		return nil
	}
	key := pyPtrKey{p: rv.Pointer(), t: rv.Type()}
	tracked, err := e.enter(key)
	if err != nil {
		return err
	}
	defer e.leave(key, tracked)
	keys := make([]pyMapKey, 0, n)
	it := rv.MapRange()
	for it.Next() {
		k, err := pyKeyOf(it.Key())
		if err != nil {
			return err
		}
		k.val = it.Value()
		keys = append(keys, k)
	}
	if err := sortPyKeys(keys, e.sortKeys); err != nil {
		return err
	}
	e.buf = append(e.buf, '{')
	for i := range keys {
		if i > 0 {
			e.buf = append(e.buf, ", "...)
		}
		e.buf = appendPyString(e.buf, keys[i].text)
		e.buf = append(e.buf, ": "...)
		if err := e.encode(keys[i].val); err != nil {
			return err
		}
		e.spill()
	}
	e.buf = append(e.buf, '}')
	return nil
}

// pyKeyOf converts a map key the way json.dumps does: str keys as they are
// (and encoding.TextMarshaler keys as their text, as encoding/json does),
// int, float and bool keys as their JSON text, None as "null".
func pyKeyOf(k reflect.Value) (pyMapKey, error) {
	for k.Kind() == reflect.Interface {
		if k.IsNil() {
			return pyMapKey{class: pyKeyNone, text: "null"}, nil
		}
		k = k.Elem()
	}
	if n, ok := pyBigKey(k); ok {
		if n == nil {
			return pyMapKey{class: pyKeyNone, text: "null"}, nil
		}
		key := pyMapKey{class: pyKeyNum, text: n.String()}
		if n.IsInt64() {
			key.i = n.Int64()
		} else {
			key.big = n
		}
		return key, nil
	}
	if k.Kind() == reflect.String {
		s := k.String()
		if !utf8.ValidString(s) {
			return pyMapKey{}, fmt.Errorf("map key %q is not valid UTF-8", pyTruncate(s))
		}
		return pyMapKey{class: pyKeyStr, text: s}, nil
	}
	if info := pyTypeInfoOf(k.Type()); info.text || info.addrText {
		if k.Kind() == reflect.Pointer && k.IsNil() {
			return pyMapKey{class: pyKeyStr}, nil
		}
		if !info.text {
			k = pyAddressable(k)
		}
		v, err := pyMarshalText(k)
		if err != nil {
			return pyMapKey{}, err
		}
		return pyMapKey{class: pyKeyStr, text: v.s}, nil
	}
	switch k.Kind() {
	case reflect.Bool:
		if k.Bool() {
			return pyMapKey{class: pyKeyNum, text: "true", i: 1}, nil
		}
		return pyMapKey{class: pyKeyNum, text: "false"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := k.Int()
		return pyMapKey{class: pyKeyNum, text: strconv.FormatInt(i, 10), i: i}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := k.Uint()
		key := pyMapKey{class: pyKeyNum, text: strconv.FormatUint(u, 10)}
		if u <= math.MaxInt64 {
			key.i = int64(u)
		} else {
			key.big = new(big.Int).SetUint64(u)
		}
		return key, nil
	case reflect.Float32, reflect.Float64:
		f := k.Float()
		if k.Kind() == reflect.Float32 {
			f = pyFloat32To64(f)
		}
		return pyMapKey{class: pyKeyNum, text: string(appendPyJSONFloat(nil, f)), isFloat: true, f: f}, nil
	}
	return pyMapKey{}, fmt.Errorf("unsupported map key type %s", k.Type())
}

// pyBigKey reports whether k is a *big.Int, which as a map key stands for
// the Python int it holds (Python's ints have no size limit, Go's integer
// map keys do).
func pyBigKey(k reflect.Value) (*big.Int, bool) {
	if k.Type() != pyBigIntPtrType {
		return nil, false
	}
	if k.IsNil() {
		return nil, true
	}
	return k.Interface().(*big.Int), true
}

// sortPyKeys orders keys as Python's sorted(dict.items()) does before
// json.dumps converts them. Without strict (Marshal, where Python compares
// nothing) keys Python cannot compare are ordered None, numbers, strings.
func sortPyKeys(keys []pyMapKey, strict bool) error {
	if len(keys) < 2 {
		return nil
	}
	var classes [3]int
	nan := false
	for i := range keys {
		classes[keys[i].class]++
		nan = nan || keys[i].isFloat && math.IsNaN(keys[i].f)
	}
	if strict {
		switch {
		case classes[pyKeyNone] > 0:
			return errors.New("map keys: Python cannot sort None with other keys")
		case classes[pyKeyNum] > 0 && classes[pyKeyStr] > 0:
			return errors.New("map keys: Python cannot sort str keys with numeric keys")
		case nan:
			return errors.New("map keys: Python cannot sort a NaN key with other keys")
		}
	}
	slices.SortFunc(keys, comparePyKeys)
	for i := 1; i < len(keys); i++ {
		if comparePyKeys(keys[i-1], keys[i]) == 0 && !(keys[i].isFloat && math.IsNaN(keys[i].f)) {
			return fmt.Errorf("map keys %q and %q are the same Python key", keys[i-1].text, keys[i].text)
		}
	}
	return nil
}

func comparePyKeys(a, b pyMapKey) int {
	if c := cmp.Compare(a.class, b.class); c != 0 {
		return c
	}
	switch a.class {
	case pyKeyStr:
		return strings.Compare(a.text, b.text)
	case pyKeyNone:
		return 0
	}
	// Numbers compare exactly, as Python compares int, float and bool.
	an, bn := math.IsNaN(a.f) && a.isFloat, math.IsNaN(b.f) && b.isFloat
	switch {
	case an || bn:
		return cmp.Compare(pyBoolInt(an), pyBoolInt(bn))
	case a.isFloat && b.isFloat:
		return cmp.Compare(a.f, b.f)
	case !a.isFloat && !b.isFloat && a.big == nil && b.big == nil:
		return cmp.Compare(a.i, b.i)
	}
	return a.bigFloat().Cmp(b.bigFloat())
}

func (k pyMapKey) bigFloat() *big.Float {
	switch {
	case k.isFloat:
		return new(big.Float).SetFloat64(k.f)
	case k.big != nil:
		return new(big.Float).SetInt(k.big)
	}
	return new(big.Float).SetInt64(k.i)
}

func pyBoolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (e *pyEncoder) writeStruct(v pyVal) error {
	rv := v.rv
	st := pyStructOf(rv.Type())
	key := pyPtrKey{p: v.ptr, t: rv.Type()}
	tracked, err := e.enter(key)
	if err != nil {
		return err
	}
	defer e.leave(key, tracked)
	order := st.declared
	if e.sortKeys {
		order = st.byName
	}
	e.buf = append(e.buf, '{')
	first := true
	for _, fi := range order {
		f := &st.fields[fi]
		fv, ok := pyFieldByIndex(rv, f.index)
		if !ok || f.omit(fv) {
			continue
		}
		if !first {
			e.buf = append(e.buf, ", "...)
		}
		first = false
		e.buf = append(e.buf, f.key...)
		if f.quoted {
			if err := e.writeQuoted(fv); err != nil {
				return fmt.Errorf("field %s: %w", f.name, err)
			}
			continue
		}
		if err := e.encode(fv); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// writeQuoted writes a field with the ",string" option: encoding/json writes
// its JSON text inside a string, so Python sees that text as a str.
func (e *pyEncoder) writeQuoted(fv reflect.Value) error {
	for fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		fv = fv.Elem()
	}
	fresh := reflect.New(fv.Type()).Elem()
	switch fv.Kind() {
	case reflect.Bool:
		fresh.SetBool(fv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fresh.SetInt(fv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		fresh.SetUint(fv.Uint())
	case reflect.Float32, reflect.Float64:
		fresh.SetFloat(fv.Float())
	case reflect.String:
		fresh.SetString(fv.String())
	default:
		return e.encode(fv)
	}
	b, err := json.Marshal(fresh.Interface())
	if err != nil {
		return err
	}
	e.buf = appendPyString(e.buf, string(b))
	return nil
}

// pyFieldByIndex follows an index path through embedded structs; it reports
// false when an embedded pointer on the way is nil.
func pyFieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for _, i := range index {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, true
}

// writeTree writes a value parsed by parsePyJSON.
func (e *pyEncoder) writeTree(tree any) error {
	switch x := tree.(type) {
	case []any:
		e.buf = append(e.buf, '[')
		for i, el := range x {
			if i > 0 {
				e.buf = append(e.buf, ", "...)
			}
			if err := e.writeTree(el); err != nil {
				return err
			}
			e.spill()
		}
		e.buf = append(e.buf, ']')
		return nil
	case pyObject:
		members := x
		if e.sortKeys {
			members = slices.Clone(x)
			slices.SortFunc(members, func(a, b pyMember) int { return strings.Compare(a.key, b.key) })
		}
		e.buf = append(e.buf, '{')
		for i, m := range members {
			if i > 0 {
				e.buf = append(e.buf, ", "...)
			}
			e.buf = appendPyString(e.buf, m.key)
			e.buf = append(e.buf, ": "...)
			if err := e.writeTree(m.val); err != nil {
				return err
			}
			e.spill()
		}
		e.buf = append(e.buf, '}')
		return nil
	}
	return e.write(pyTreeVal(tree))
}

// pyField is a struct field as encoding/json sees it.
type pyField struct {
	name      string
	key       []byte // the field's name as json.dumps writes it, with ": "
	index     []int
	typ       reflect.Type // the field's type
	tagged    bool
	omitEmpty bool
	omitZero  bool
	quoted    bool
	isZero    func(reflect.Value) bool
}

func (f *pyField) omit(v reflect.Value) bool {
	if f.omitEmpty && pyIsEmptyJSONValue(v) {
		return true
	}
	if f.omitZero {
		if f.isZero != nil {
			return f.isZero(v)
		}
		return v.IsZero()
	}
	return false
}

func pyIsEmptyJSONValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

type pyStruct struct {
	fields   []pyField
	declared []int // field positions in declaration order
	byName   []int // field positions in name order (sort_keys)
}

var pyStructs sync.Map // reflect.Type -> *pyStruct

func pyStructOf(t reflect.Type) *pyStruct {
	if v, ok := pyStructs.Load(t); ok {
		return v.(*pyStruct)
	}
	fields := pyJSONFields(t)
	st := &pyStruct{fields: fields, declared: make([]int, len(fields)), byName: make([]int, len(fields))}
	for i := range fields {
		st.declared[i] = i
		st.byName[i] = i
		fields[i].key = append(appendPyString(nil, fields[i].name), ": "...)
	}
	slices.SortFunc(st.byName, func(a, b int) int { return strings.Compare(fields[a].name, fields[b].name) })
	v, _ := pyStructs.LoadOrStore(t, st)
	return v.(*pyStruct)
}

// lookup finds the field a JSON object key decodes into, as encoding/json
// does: an exact name match, else the first case-insensitive one.
func (st *pyStruct) lookup(name string) *pyField {
	for i := range st.fields {
		if st.fields[i].name == name {
			return &st.fields[i]
		}
	}
	for i := range st.fields {
		if strings.EqualFold(st.fields[i].name, name) {
			return &st.fields[i]
		}
	}
	return nil
}

// pyJSONFields returns the fields encoding/json encodes for struct type t, in
// declaration order, by the same rules: exported fields, names from `json`
// tags, "-" skipped, embedded structs promoted with Go's visibility rules
// except that tagged names win.
func pyJSONFields(t reflect.Type) []pyField {
	type queued struct {
		typ   reflect.Type
		index []int
	}
	current := []queued{}
	next := []queued{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []pyField
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := 0; i < q.typ.NumField(); i++ {
				sf := q.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !pyIsValidJSONTag(name) {
					name = ""
				}
				index := append(slices.Clip(q.index), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				quoted := false
				if pyHasTagOption(opts, "string") {
					switch ft.Kind() {
					case reflect.Bool,
						reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
						reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
						reflect.Float32, reflect.Float64,
						reflect.String:
						info := pyTypeInfoOf(sf.Type)
						quoted = !info.marshaler && !info.addrMarshaler && !info.text && !info.addrText
					}
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := pyField{
						name:      name,
						tagged:    name != "",
						index:     index,
						typ:       sf.Type,
						omitEmpty: pyHasTagOption(opts, "omitempty"),
						omitZero:  pyHasTagOption(opts, "omitzero"),
						quoted:    quoted,
					}
					if f.name == "" {
						f.name = sf.Name
					}
					if f.omitZero {
						f.isZero = pyZeroFunc(sf.Type)
					}
					fields = append(fields, f)
					if count[q.typ] > 1 {
						// Two embeddings of one type at this depth: a
						// duplicate makes the dominance rule drop the field.
						fields = append(fields, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, queued{typ: ft, index: index})
				}
			}
		}
	}
	slices.SortFunc(fields, func(a, b pyField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		same := fields[i:j]
		if len(same) == 1 || len(same[0].index) != len(same[1].index) || same[0].tagged != same[1].tagged {
			out = append(out, same[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b pyField) int { return slices.Compare(a.index, b.index) })
	return out
}

func pyZeroFunc(t reflect.Type) func(reflect.Value) bool {
	type isZeroer interface{ IsZero() bool }
	switch {
	case t.Kind() == reflect.Interface && t.Implements(pyIsZeroerType):
		return func(v reflect.Value) bool {
			return v.IsNil() || (v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) || v.Interface().(isZeroer).IsZero()
		}
	case t.Kind() == reflect.Pointer && t.Implements(pyIsZeroerType):
		return func(v reflect.Value) bool { return v.IsNil() || v.Interface().(isZeroer).IsZero() }
	case t.Implements(pyIsZeroerType):
		return func(v reflect.Value) bool { return v.Interface().(isZeroer).IsZero() }
	case reflect.PointerTo(t).Implements(pyIsZeroerType):
		return func(v reflect.Value) bool { return pyAddressable(v).Interface().(isZeroer).IsZero() }
	}
	return nil
}

func pyHasTagOption(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

func pyIsValidJSONTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// appendPyString writes s as json.dumps does with ensure_ascii: printable
// ASCII as is, \" \\ \n \r \t \b \f, other characters as \uXXXX (lowercase
// hex, characters beyond the BMP as surrogate pairs). s must be valid UTF-8.
func appendPyString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		u1, u2 := r, rune(-1)
		if r >= 0x10000 {
			u1, u2 = utf16.EncodeRune(r)
		}
		for _, u := range [2]rune{u1, u2} {
			if u >= 0 {
				b = append(b, '\\', 'u', hexDigits[u>>12&0xf], hexDigits[u>>8&0xf], hexDigits[u>>4&0xf], hexDigits[u&0xf])
			}
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendPyFloatRepr writes Python's repr of a finite float: the shortest
// digits that round-trip, in exponent form when the decimal exponent is
// below -4 or at least 16 (1e-05, 1e+16), otherwise positional with at
// least one fractional digit (3.0, -0.0).
func appendPyFloatRepr(b []byte, f float64) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // -d.ddde±dd
	if e[0] == '-' {
		b = append(b, '-')
		e = e[1:]
	}
	var digitBuf [24]byte
	digits := digitBuf[:0]
	i := 0
	for ; e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits = append(digits, e[i])
		}
	}
	exp := 0
	for _, c := range e[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[i+1] == '-' {
		exp = -exp
	}
	switch decpt := exp + 1; {
	case exp < -4 || exp >= 16:
		b = append(b, digits[0])
		if len(digits) > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if exp < 0 {
			b = append(b, '-')
			exp = -exp
		} else {
			b = append(b, '+')
		}
		if exp < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(exp), 10)
	case decpt <= 0:
		b = append(b, "0."...)
		for range -decpt {
			b = append(b, '0')
		}
		b = append(b, digits...)
	case decpt >= len(digits):
		b = append(b, digits...)
		for range decpt - len(digits) {
			b = append(b, '0')
		}
		b = append(b, ".0"...)
	default:
		b = append(b, digits[:decpt]...)
		b = append(b, '.')
		b = append(b, digits[decpt:]...)
	}
	return b
}

// appendPyJSONFloat writes a float as json.dumps does.
func appendPyJSONFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	return appendPyFloatRepr(b, f)
}

// appendPyStrFloat writes a float as Python's str does.
func appendPyStrFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	return appendPyFloatRepr(b, f)
}

// appendPyBytesRepr writes Python's repr of a bytes object: b'...', with
// double quotes when the bytes hold a single quote and no double quote.
func appendPyBytesRepr(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b = append(b, 'b', quote)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote || c == '\\':
			b = append(b, '\\', c)
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, quote)
}

// Parsed JSON, as Python's json.loads reads it: nil, bool, string, pyNum
// (an int, as its text), float64, []any and pyObject.
type (
	pyNum    string
	pyObject []pyMember
	pyMember struct {
		key string
		val any
	}
)

// parsePyJSON parses JSON as Python's json.loads does, accepting NaN,
// Infinity and -Infinity. A later duplicate key replaces the value in place,
// as in a Python dict. strict rejects lone surrogate escapes, which Go
// strings cannot hold; otherwise they become U+FFFD as in encoding/json.
func parsePyJSON(data []byte, strict bool) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	p := pyParser{data: data, strict: strict}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf("extra data")
	}
	return v, nil
}

type pyParser struct {
	data   []byte
	pos    int
	strict bool
}

func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *pyParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *pyParser) literal(word string) bool {
	if strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > pyMaxDepth {
		return nil, p.errorf("nested too deeply")
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of data")
	}
	switch c := p.data[p.pos]; c {
	case '{':
		return p.object(depth)
	case '[':
		return p.array(depth)
	case '"':
		return p.str()
	case 't':
		if p.literal("true") {
			return true, nil
		}
	case 'f':
		if p.literal("false") {
			return false, nil
		}
	case 'n':
		if p.literal("null") {
			return nil, nil
		}
	case 'N':
		if p.literal("NaN") {
			return math.NaN(), nil
		}
	case 'I':
		if p.literal("Infinity") {
			return math.Inf(1), nil
		}
	case '-':
		if p.literal("-Infinity") {
			return math.Inf(-1), nil
		}
		return p.number()
	default:
		if c >= '0' && c <= '9' {
			return p.number()
		}
	}
	return nil, p.errorf("unexpected character %q", p.data[p.pos])
}

func (p *pyParser) number() (any, error) {
	n, isFloat := pyJSONNumberLen(p.data[p.pos:]) // not string(...): that copies the rest of the text for every number
	if n == 0 {
		return nil, p.errorf("malformed number")
	}
	s := string(p.data[p.pos : p.pos+n])
	p.pos += n
	if isFloat {
		return parsePyFloat(s), nil
	}
	return pyNum(s), nil
}

// pyJSONNumberLen returns the length of the JSON number at the start of s (0
// if there is none) and whether it has a fraction or exponent.
func pyJSONNumberLen[T string | []byte](s T) (n int, isFloat bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return 0, false
		}
		isFloat = true
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, false
		}
		isFloat = true
	}
	return i, isFloat
}

// parsePyFloat parses valid JSON number text as Python's float() does:
// overflow gives ±Inf, underflow 0.
func parsePyFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func (p *pyParser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := string(p.data[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.data) {
			break
		}
		esc := p.data[p.pos+1]
		p.pos += 2
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if r < 0xdc00 && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					if x, ok := p.hex4(); ok && x >= 0xdc00 && x <= 0xdfff {
						r2 = x
					} else {
						p.pos = save
					}
				}
				if r2 < 0 {
					if p.strict {
						return "", p.errorf("lone surrogate \\u%04x", r)
					}
					r = utf8.RuneError
				} else {
					r = utf16.DecodeRune(r, r2)
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.errorf("invalid escape \\%c", esc)
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *pyParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(n), true
}

func (p *pyParser) array(depth int) (any, error) {
	p.pos++
	list := []any{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return list, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated list")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return list, nil
		default:
			return nil, p.errorf("expected ',' or ']'")
		}
	}
}

func (p *pyParser) object(depth int) (any, error) {
	p.pos++
	obj := pyObject{}
	var index map[string]int
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a string key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':'")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if index == nil && len(obj) >= 8 {
			index = make(map[string]int, 2*len(obj))
			for i, m := range obj {
				index[m.key] = i
			}
		}
		at := -1
		if index != nil {
			if i, ok := index[key]; ok {
				at = i
			}
		} else {
			at = slices.IndexFunc(obj, func(m pyMember) bool { return m.key == key })
		}
		if at >= 0 {
			obj[at].val = v
		} else {
			if index != nil {
				index[key] = len(obj)
			}
			obj = append(obj, pyMember{key, v})
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return obj, nil
		default:
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}

// pyToGo converts parsed JSON to Go values with Python's types: int64 (or
// *big.Int), float64, string, bool, nil, []any and map[string]any.
func pyToGo(tree any) any {
	switch x := tree.(type) {
	case pyNum:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		n, _ := new(big.Int).SetString(string(x), 10)
		return n
	case []any:
		for i, el := range x {
			x[i] = pyToGo(el)
		}
		return x
	case pyObject:
		m := make(map[string]any, len(x))
		for _, mem := range x {
			m[mem.key] = pyToGo(mem.val)
		}
		return m
	}
	return tree
}

func pyFinite(tree any) bool {
	switch x := tree.(type) {
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case []any:
		for _, el := range x {
			if !pyFinite(el) {
				return false
			}
		}
	case pyObject:
		for _, m := range x {
			if !pyFinite(m.val) {
				return false
			}
		}
	}
	return true
}

var pyNeedsTreeCache sync.Map // reflect.Type -> bool

// pyNeedsTree reports whether decoding into t must go through the parsed
// tree rather than encoding/json: when t holds an empty interface somewhere
// (which must receive Python's int/float types).
func pyNeedsTree(t reflect.Type) bool {
	if v, ok := pyNeedsTreeCache.Load(t); ok {
		return v.(bool)
	}
	// Only the top-level answer is cached: answers for types inside a
	// recursive type may rest on the assumption made for the type in
	// progress.
	need := pyNeedsTreeWalk(t, map[reflect.Type]bool{})
	pyNeedsTreeCache.Store(t, need)
	return need
}

func pyNeedsTreeWalk(t reflect.Type, inProgress map[reflect.Type]bool) bool {
	if inProgress[t] || pyOpaqueDecode(t) {
		return false
	}
	inProgress[t] = true
	defer delete(inProgress, t)
	switch t.Kind() {
	case reflect.Interface:
		return t.NumMethod() == 0
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return pyNeedsTreeWalk(t.Elem(), inProgress)
	case reflect.Struct:
		for _, f := range pyStructOf(t).fields {
			if pyNeedsTreeWalk(f.typ, inProgress) {
				return true
			}
		}
	}
	return false
}

// pyOpaqueDecode reports whether values of t decode themselves.
func pyOpaqueDecode(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return false
	}
	pt := reflect.PointerTo(t)
	return pt.Implements(pyJSONUnmarshalerType) || pt.Implements(pyTextUnmarshalerType)
}

// pyAssign stores a parsed value into dst (addressable). Parts that hold no
// interface and no NaN or Infinity go through encoding/json, so its rules
// apply; the rest is assigned here.
func pyAssign(node any, dst reflect.Value) error {
	t := dst.Type()
	if pyOpaqueDecode(t) || !pyNeedsTree(t) && pyFinite(node) {
		e := &pyEncoder{}
		if err := e.writeTree(node); err != nil {
			return err
		}
		return json.Unmarshal(e.buf, dst.Addr().Interface())
	}
	if node == nil {
		switch dst.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice:
			dst.SetZero()
		}
		return nil
	}
	mismatch := func() error {
		return fmt.Errorf("cannot decode JSON %s into %s", pyTreeKind(node), t)
	}
	switch dst.Kind() {
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return mismatch()
		}
		if v := pyToGo(node); v != nil {
			dst.Set(reflect.ValueOf(v))
		} else {
			dst.SetZero()
		}
		return nil
	case reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(t.Elem()))
		}
		return pyAssign(node, dst.Elem())
	case reflect.Float32, reflect.Float64:
		f, ok := node.(float64)
		if !ok {
			return mismatch()
		}
		dst.SetFloat(f)
		return nil
	case reflect.Slice:
		list, ok := node.([]any)
		if !ok {
			return mismatch()
		}
		s := reflect.MakeSlice(t, len(list), len(list))
		for i, el := range list {
			if err := pyAssign(el, s.Index(i)); err != nil {
				return err
			}
		}
		dst.Set(s)
		return nil
	case reflect.Array:
		list, ok := node.([]any)
		if !ok {
			return mismatch()
		}
		for i := range dst.Len() {
			if i >= len(list) {
				dst.Index(i).SetZero()
			} else if err := pyAssign(list[i], dst.Index(i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		obj, ok := node.(pyObject)
		if !ok {
			return mismatch()
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMapWithSize(t, len(obj)))
		}
		for _, m := range obj {
			k, err := pyMapKeyFromString(m.key, t.Key())
			if err != nil {
				return err
			}
			ev := reflect.New(t.Elem()).Elem()
			if err := pyAssign(m.val, ev); err != nil {
				return err
			}
			dst.SetMapIndex(k, ev)
		}
		return nil
	case reflect.Struct:
		obj, ok := node.(pyObject)
		if !ok {
			return mismatch()
		}
		st := pyStructOf(t)
		var plain pyObject
		type pending struct {
			f   *pyField
			val any
		}
		var rest []pending
		for _, m := range obj {
			f := st.lookup(m.key)
			switch {
			case f == nil:
			case f.quoted || !pyNeedsTree(f.typ) && pyFinite(m.val):
				plain = append(plain, m)
			default:
				rest = append(rest, pending{f, m.val})
			}
		}
		if len(plain) > 0 {
			e := &pyEncoder{}
			if err := e.writeTree(plain); err != nil {
				return err
			}
			if err := json.Unmarshal(e.buf, dst.Addr().Interface()); err != nil {
				return err
			}
		}
		for _, r := range rest {
			fv, err := pySettableField(dst, r.f.index)
			if err != nil {
				return err
			}
			if err := pyAssign(r.val, fv); err != nil {
				return fmt.Errorf("field %s: %w", r.f.name, err)
			}
		}
		return nil
	}
	return mismatch()
}

func pyTreeKind(node any) string {
	switch x := node.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case pyNum:
		return "int"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		return "list"
	}
	return "object"
}

// pySettableField follows an index path, allocating nil embedded pointers.
func pySettableField(v reflect.Value, index []int) (reflect.Value, error) {
	for _, i := range index {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, fmt.Errorf("cannot set embedded pointer to unexported struct %s", v.Type().Elem())
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, nil
}

// pyMapKeyFromString converts a JSON object key to a map key of type kt, as
// encoding/json does.
func pyMapKeyFromString(s string, kt reflect.Type) (reflect.Value, error) {
	if reflect.PointerTo(kt).Implements(pyTextUnmarshalerType) {
		k := reflect.New(kt)
		if err := k.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return reflect.Value{}, fmt.Errorf("map key %q: %w", s, err)
		}
		return k.Elem(), nil
	}
	k := reflect.New(kt).Elem()
	switch kt.Kind() {
	case reflect.String:
		k.SetString(s)
	case reflect.Interface:
		if kt.NumMethod() != 0 {
			return reflect.Value{}, fmt.Errorf("unsupported map key type %s", kt)
		}
		k.Set(reflect.ValueOf(s))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || k.OverflowInt(n) {
			return reflect.Value{}, fmt.Errorf("map key %q is not a %s", s, kt)
		}
		k.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || k.OverflowUint(n) {
			return reflect.Value{}, fmt.Errorf("map key %q is not a %s", s, kt)
		}
		k.SetUint(n)
	default:
		return reflect.Value{}, fmt.Errorf("unsupported map key type %s", kt)
	}
	return k, nil
}
