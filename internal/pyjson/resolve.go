package pyjson

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"sync"
	"unicode/utf8"
)

// kind is the Python type a Go value stands for.
type kind uint8

const (
	kindNone kind = iota
	kindBool
	kindInt   // i
	kindUint  // u, above math.MaxInt64 or from an unsigned type
	kindBig   // s holds the decimal digits
	kindFloat // f
	kindStr   // s
	kindBytes // s holds the bytes
	kindList  // rv (slice or array) or tree ([]any)
	kindDict  // rv (map or struct) or tree (object)
)

// value is a Go value resolved to its Python type.
type value struct {
	kind kind
	b    bool
	i    int64
	u    uint64
	f    float64
	s    string
	rv   reflect.Value
	tree any
	ptr  uintptr // pointer the container was reached through, for cycle checks
}

var (
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonNumberType      = reflect.TypeFor[json.Number]()
	float64Type         = reflect.TypeFor[float64]()
	bigIntPtrType       = reflect.TypeFor[*big.Int]()
	isZeroerType        = reflect.TypeFor[interface{ IsZero() bool }]()
)

// typeInfo caches what normalize needs to know about a type.
type typeInfo struct {
	marshaler     bool // the type implements json.Marshaler
	addrMarshaler bool // only its pointer does
	text          bool // the type implements encoding.TextMarshaler
	addrText      bool // only its pointer does
	methods       bool // any of the four: the methods decide the value
	bytes         bool // a slice of bytes without marshalers on the elements
}

var typeInfos sync.Map // reflect.Type -> *typeInfo

// typeInfoOf returns what normalize needs to know about t, computed once.
func typeInfoOf(t reflect.Type) *typeInfo {
	if v, ok := typeInfos.Load(t); ok {
		return v.(*typeInfo)
	}
	info := &typeInfo{
		marshaler: t.Implements(jsonMarshalerType),
		text:      t.Implements(textMarshalerType),
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		pt := reflect.PointerTo(t)
		info.addrMarshaler = !info.marshaler && pt.Implements(jsonMarshalerType)
		info.addrText = !info.text && pt.Implements(textMarshalerType)
	}
	info.methods = info.marshaler || info.addrMarshaler || info.text || info.addrText
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		et := t.Elem()
		pet := reflect.PointerTo(et)
		info.bytes = !et.Implements(jsonMarshalerType) && !et.Implements(textMarshalerType) &&
			!pet.Implements(jsonMarshalerType) && !pet.Implements(textMarshalerType)
	}
	v, _ := typeInfos.LoadOrStore(t, info)
	return v.(*typeInfo)
}

// normalize resolves rv, through pointers, interfaces and marshalers, to the
// Python value it stands for.
func (e *encoder) normalize(rv reflect.Value) (value, error) {
	var ptr uintptr
	for hops := 0; hops <= cycleLevel; hops++ {
		if !rv.IsValid() {
			return value{kind: kindNone}, nil
		}
		k := rv.Kind()
		if (k == reflect.Pointer || k == reflect.Interface) && rv.IsNil() {
			return value{kind: kindNone}, nil
		}
		t := rv.Type()
		switch t {
		case jsonNumberType:
			return numberValue(rv.String())
		case float64Type:
			return value{kind: kindFloat, f: rv.Float()}, nil
		}
		info := typeInfoOf(t)
		if info.methods {
			return methodValue(rv, info)
		}
		switch k {
		case reflect.Interface:
			rv = rv.Elem()
		case reflect.Pointer:
			ptr = rv.Pointer()
			rv = rv.Elem()
		default:
			return kindValue(rv, info, ptr)
		}
	}
	return value{}, errors.New("pointer cycle")
}

// methodValue is the value a json.Marshaler or encoding.TextMarshaler
// stands for, the JSON method first as in encoding/json.
func methodValue(rv reflect.Value, info *typeInfo) (value, error) {
	switch {
	case info.marshaler:
		return marshalJSON(rv)
	case info.addrMarshaler:
		return marshalJSON(addressable(rv))
	case info.text:
		return marshalText(rv)
	}
	return marshalText(addressable(rv))
}

// kindValue is the value of rv, neither a pointer nor an interface nor a
// type with marshaling methods, by its kind; ptr is the pointer it was
// reached through, if any.
func kindValue(rv reflect.Value, info *typeInfo, ptr uintptr) (value, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return value{kind: kindBool, b: rv.Bool()}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return value{kind: kindInt, i: rv.Int()}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return value{kind: kindUint, u: rv.Uint()}, nil
	case reflect.Float32:
		return value{kind: kindFloat, f: Float32To64(rv.Float())}, nil
	case reflect.Float64:
		return value{kind: kindFloat, f: rv.Float()}, nil
	case reflect.String:
		s := rv.String()
		if !utf8.ValidString(s) {
			return value{}, fmt.Errorf("string %q is not valid UTF-8", truncate(s))
		}
		return value{kind: kindStr, s: s}, nil
	case reflect.Slice:
		if info.bytes {
			return value{kind: kindBytes, s: string(rv.Bytes())}, nil
		}
		return value{kind: kindList, rv: rv}, nil
	case reflect.Array:
		return value{kind: kindList, rv: rv, ptr: ptr}, nil
	case reflect.Map:
		return value{kind: kindDict, rv: rv}, nil
	case reflect.Struct:
		return value{kind: kindDict, rv: rv, ptr: ptr}, nil
	}
	return value{}, fmt.Errorf("unsupported type %s", rv.Type())
}

// addressable returns a pointer to rv or, when rv is not addressable, to a
// copy, so that methods with pointer receivers can be called.
func addressable(rv reflect.Value) reflect.Value {
	if rv.CanAddr() {
		return rv.Addr()
	}
	p := reflect.New(rv.Type())
	p.Elem().Set(rv)
	return p
}

// marshalJSON is the value of the JSON rv's MarshalJSON writes, parsed as
// json.loads would.
func marshalJSON(rv reflect.Value) (value, error) {
	if (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) && rv.IsNil() {
		return value{kind: kindNone}, nil
	}
	m, ok := rv.Interface().(json.Marshaler)
	if !ok {
		return value{kind: kindNone}, nil
	}
	b, err := m.MarshalJSON()
	if err != nil {
		return value{}, fmt.Errorf("%s: MarshalJSON: %w", rv.Type(), err)
	}
	tree, err := parse(b, true)
	if err != nil {
		return value{}, fmt.Errorf("%s: MarshalJSON returned invalid JSON: %w", rv.Type(), err)
	}
	return treeValue(tree), nil
}

// marshalText is the str of the text rv's MarshalText writes.
func marshalText(rv reflect.Value) (value, error) {
	if (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) && rv.IsNil() {
		return value{kind: kindNone}, nil
	}
	m, ok := rv.Interface().(encoding.TextMarshaler)
	if !ok {
		return value{kind: kindNone}, nil
	}
	b, err := m.MarshalText()
	if err != nil {
		return value{}, fmt.Errorf("%s: MarshalText: %w", rv.Type(), err)
	}
	if !utf8.Valid(b) {
		return value{}, fmt.Errorf("%s: MarshalText returned invalid UTF-8", rv.Type())
	}
	return value{kind: kindStr, s: string(b)}, nil
}

// numberValue reads json.Number text as Python's json.loads would: an int
// without a fraction or exponent, a float otherwise. Empty text is 0, as
// encoding/json writes it.
func numberValue(s string) (value, error) {
	if s == "" {
		return value{kind: kindInt}, nil
	}
	n, isFloat := numberLen(s)
	if n == 0 || n != len(s) {
		return value{}, fmt.Errorf("invalid json.Number %q", truncate(s))
	}
	if isFloat {
		return value{kind: kindFloat, f: parseFloat(s)}, nil
	}
	return intValue(s), nil
}

// intValue returns the Python int written as JSON integer text s.
func intValue(s string) value {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return value{kind: kindInt, i: i}
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return value{kind: kindUint, u: u}
	}
	return value{kind: kindBig, s: s}
}

// treeValue is the value of a node of parsed JSON.
func treeValue(tree any) value {
	switch x := tree.(type) {
	case nil:
		return value{kind: kindNone}
	case bool:
		return value{kind: kindBool, b: x}
	case string:
		return value{kind: kindStr, s: x}
	case number:
		return intValue(string(x))
	case float64:
		return value{kind: kindFloat, f: x}
	case []any:
		return value{kind: kindList, tree: x}
	case object:
		return value{kind: kindDict, tree: x}
	}
	panic(fmt.Sprintf("pyjson: unexpected JSON tree node %T", tree))
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
