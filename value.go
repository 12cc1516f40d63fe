package redisclient

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
	"unsafe"

	"github.com/systemtrader/redisclient/internal/pyjson"
	"github.com/vmihailenco/msgpack/v5"
)

// This file is the one place that decides how a Go value is laid out in
// Redis. Every write (Set, MSet, HSet, LPush, SAdd, ZAdd, Publish, GetOrSet,
// CacheModelPrediction) goes through encodeValue, and every read (Get, MGet,
// GetOrSet, HGet, HGetAll, LPop, LRange, SMembers, ZRange, ScoredMember and
// Message Decode, the prediction reads) through decodeString or decodeValue.
// Both look up the same row of wireRules, so a kind cannot be written one way
// and read back another:
//
//	kind (named types too)            in Redis
//	string, []byte                    the bytes as they are
//	int*, uint*                       decimal text: 42, -7
//	float32, float64                  Python's str: 3.0, 0.1, 1e-05, inf, nan
//	pointer                           what it points to
//	bool, struct, map, slice, array   the Serializer's bytes
//	chan, func, complex, unsafe.Ptr   refused
//
// A named type with marshaling methods of its own (time.Time, big.Int, an
// enum with MarshalText) goes through the Serializer, which calls them.

// layout says how values of one kind are laid out.
type layout uint8

const (
	layoutSerialized layout = iota // the Serializer's bytes
	layoutRaw                      // the bytes themselves
	layoutDecimal                  // decimal text
	layoutRefused                  // neither written nor read
)

// wireRule is one row of the table: how a kind is written and read back.
// Only raw and decimal rows have functions; the others are the
// Serializer's business or refused.
type wireRule struct {
	layout layout
	// encode returns the value's bytes in Redis, as a string or []byte.
	encode func(v reflect.Value) any
	// decode sets v from the bytes in d, leaving v alone on error.
	decode func(d wireData, v reflect.Value) error
}

var (
	serializedRule = wireRule{layout: layoutSerialized}
	refusedRule    = wireRule{layout: layoutRefused}
	stringRule     = wireRule{layoutRaw,
		func(v reflect.Value) any { return v.String() },
		func(d wireData, v reflect.Value) error { v.SetString(d.keepString()); return nil }}
	bytesRule = wireRule{layoutRaw,
		func(v reflect.Value) any { return v.Bytes() },
		func(d wireData, v reflect.Value) error { v.SetBytes(d.keepBytes()); return nil }}
	intRule = wireRule{layoutDecimal,
		func(v reflect.Value) any { return intText(v.Int()) },
		func(d wireData, v reflect.Value) error {
			n, err := parseInt(d.s, v.Type().Bits())
			if err == nil {
				v.SetInt(n)
			}
			return err
		}}
	uintRule = wireRule{layoutDecimal,
		func(v reflect.Value) any { return uintText(v.Uint()) },
		func(d wireData, v reflect.Value) error {
			n, err := parseUint(d.s, v.Type().Bits())
			if err == nil {
				v.SetUint(n)
			}
			return err
		}}
	floatRule = wireRule{layoutDecimal,
		func(v reflect.Value) any { return floatText(v.Float(), v.Type().Bits()) },
		func(d wireData, v reflect.Value) error {
			f, err := parseFloat(d.s, v.Type().Bits())
			if err == nil {
				v.SetFloat(f)
			}
			return err
		}}
)

// wireRules is the table, by kind. Slices of bytes use bytesRule.
var wireRules = [...]*wireRule{
	reflect.Bool:          &serializedRule,
	reflect.Int:           &intRule,
	reflect.Int8:          &intRule,
	reflect.Int16:         &intRule,
	reflect.Int32:         &intRule,
	reflect.Int64:         &intRule,
	reflect.Uint:          &uintRule,
	reflect.Uint8:         &uintRule,
	reflect.Uint16:        &uintRule,
	reflect.Uint32:        &uintRule,
	reflect.Uint64:        &uintRule,
	reflect.Uintptr:       &uintRule,
	reflect.Float32:       &floatRule,
	reflect.Float64:       &floatRule,
	reflect.Complex64:     &refusedRule,
	reflect.Complex128:    &refusedRule,
	reflect.Array:         &serializedRule,
	reflect.Chan:          &refusedRule,
	reflect.Func:          &refusedRule,
	reflect.Interface:     &serializedRule,
	reflect.Map:           &serializedRule,
	reflect.Pointer:       &serializedRule, // only reached for a pointer cycle such as type P *P
	reflect.Slice:         &serializedRule,
	reflect.String:        &stringRule,
	reflect.Struct:        &serializedRule,
	reflect.UnsafePointer: &refusedRule,
}

// The text forms shared by the table and the fast paths below.

func intText(n int64) string   { return strconv.FormatInt(n, 10) }
func uintText(n uint64) string { return strconv.FormatUint(n, 10) }

// floatText writes f as Python's str does ("3.0", "1e-05", "inf"), so whole
// floats stay floats for every reader. A float32 is written by its shortest
// digits (0.1, not 0.10000000149011612).
func floatText(f float64, bits int) string {
	if bits == 32 {
		f = pyjson.Float32To64(f)
	}
	var buf [32]byte
	return string(pyjson.AppendFloatStr(buf[:0], f))
}

func parseInt(s string, bits int) (int64, error) {
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return 0, notDecimal("integer", bits, err)
	}
	return n, nil
}

func parseUint(s string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, notDecimal("unsigned integer", bits, err)
	}
	return n, nil
}

func parseFloat(s string, bits int) (float64, error) {
	f, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return 0, notDecimal("float", bits, err)
	}
	return f, nil
}

// notDecimal explains why a value is not a number of the destination's
// kind, without quoting the value (it may be anything).
func notDecimal(kind string, bits int, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("decode: value is out of range for a %d-bit %s", bits, kind)
	}
	return fmt.Errorf("decode: value is not a decimal %s", kind)
}

// valueType is what the codec needs to know about a Go type, computed once.
type valueType struct {
	rule *wireRule    // the row of the type's base (the type without its pointers)
	base reflect.Type // the type without its pointers
	ptrs int          // pointers in front of the base

	// For serialized types, from the type alone:
	depth   int  // the deepest nesting its values can have, or -1 when unbounded (interfaces, recursive types)
	elem    int  // the largest allocation a decoder may make for one element, in bytes
	dynamic bool // reaches interfaces or maps, which allocate for every container
	maps    bool // reaches maps or interfaces, whose keys must be sorted

	weights decodeWeights // what decoding into the type is assumed to allocate
}

var valueTypes sync.Map // reflect.Type -> *valueType

func valueTypeOf(t reflect.Type) *valueType {
	if v, ok := valueTypes.Load(t); ok {
		return v.(*valueType)
	}
	vt := &valueType{base: t}
	for vt.base.Kind() == reflect.Pointer && vt.ptrs <= maxValueDepth {
		vt.base = vt.base.Elem()
		vt.ptrs++
	}
	vt.rule = ruleOf(vt.base)
	if vt.rule.layout == layoutSerialized {
		s := shapeWalker{onPath: map[reflect.Type]bool{}}
		vt.depth = s.depth(t)
		if s.open {
			vt.depth = -1
		}
		vt.elem, vt.dynamic, vt.maps = s.elem, s.dynamic, s.maps
	}
	vt.weights = decodeWeights{1, 1}
	if vt.dynamic {
		vt.weights = decodeWeights{elementCost, containerCost}
	}
	vt.weights.element = max(vt.weights.element, vt.elem)
	vt.weights.container = max(vt.weights.container, vt.elem)
	v, _ := valueTypes.LoadOrStore(t, vt)
	return v.(*valueType)
}

// ruleOf picks the row of a base type: by its kind, except that types with
// marshaling methods of their own go through the Serializer.
func ruleOf(t reflect.Type) *wireRule {
	k := t.Kind()
	r := wireRules[k]
	if k == reflect.Slice {
		if t.Elem().Kind() != reflect.Uint8 {
			return &serializedRule
		}
		r = &bytesRule
	}
	if r.layout != layoutSerialized && r.layout != layoutRefused && hasOwnCodec(t) {
		return &serializedRule
	}
	return r
}

var (
	jsonMarshalerType    = reflect.TypeFor[json.Marshaler]()
	binaryMarshalerType  = reflect.TypeFor[encoding.BinaryMarshaler]()
	msgpackEncoderType   = reflect.TypeFor[msgpack.CustomEncoder]()
	msgpackMarshalerType = reflect.TypeFor[msgpack.Marshaler]()
	ownCodecTypes        = []reflect.Type{
		jsonMarshalerType,
		reflect.TypeFor[json.Unmarshaler](),
		textMarshalerType,
		reflect.TypeFor[encoding.TextUnmarshaler](),
		binaryMarshalerType,
		reflect.TypeFor[encoding.BinaryUnmarshaler](),
		msgpackEncoderType,
		reflect.TypeFor[msgpack.CustomDecoder](),
		msgpackMarshalerType,
		reflect.TypeFor[msgpack.Unmarshaler](),
	}
)

// hasOwnCodec reports whether t or *t has marshaling methods a serializer
// would call.
func hasOwnCodec(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, it := range ownCodecTypes {
		if t.Implements(it) || pt.Implements(it) {
			return true
		}
	}
	return false
}

// errNil is returned for a nil value.
var errNil = fmt.Errorf("%w: cannot store a nil value", ErrUnsupportedType)

// encodeValue returns what is written to Redis for v: a string or []byte.
// Serialized values are checked for depth and cycles before the serializer
// sees them (the built-in serializers check for themselves).
func encodeValue(s Serializer, v any) (any, error) {
	switch x := v.(type) {
	case string, []byte:
		return v, nil // v, not x: boxing x again would allocate
	case int:
		return intText(int64(x)), nil
	case int64:
		return intText(x), nil
	case float64:
		return floatText(x, 64), nil
	case nil:
		return nil, errNil
	}
	rv := reflect.ValueOf(v)
	vt := valueTypeOf(rv.Type())
	switch vt.rule.layout {
	case layoutSerialized:
		if !isBuiltinSerializer(s) {
			if err := checkNesting(rv, vt); err != nil {
				return nil, err
			}
		}
		b, err := s.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %T: %w", v, err)
		}
		return b, nil
	case layoutRefused:
		return nil, fmt.Errorf("%w: cannot store a %s", ErrUnsupportedType, rv.Type())
	}
	for range vt.ptrs {
		if rv.IsNil() {
			return nil, fmt.Errorf("%w: cannot store a nil %s", ErrUnsupportedType, rv.Type())
		}
		rv = rv.Elem()
	}
	return vt.rule.encode(rv), nil
}

// isBuiltinSerializer reports whether s is one of this package's
// serializers, which bound what they write and read themselves and never
// keep the bytes they decode.
func isBuiltinSerializer(s Serializer) bool {
	switch s.(type) {
	case MsgpackSerializer, *MsgpackSerializer, JSONSerializer, *JSONSerializer,
		PythonJSONSerializer, *PythonJSONSerializer:
		return true
	}
	return false
}

// wireData is a value read from Redis. s holds its bytes; when the value
// came as a slice the caller owns (a Message payload), b is that slice and
// s aliases it, so s must be copied before it is kept.
type wireData struct {
	s string
	b []byte
}

// keepString returns the value as a string that may be kept.
func (d wireData) keepString() string {
	if d.b != nil {
		return string(d.b)
	}
	return d.s
}

// keepBytes returns the value as a slice that may be kept: the caller's own
// slice, or a copy of a reply string.
func (d wireData) keepBytes() []byte {
	if d.b != nil {
		return d.b
	}
	return []byte(d.s)
}

// decodeString stores a reply string into dest: the zero-copy read path of
// every command. *string takes the reply itself; the built-in serializers
// read it in place.
func decodeString(s Serializer, data string, dest any) error {
	return decode(s, wireData{s: data}, dest)
}

// decodeValue stores bytes the caller owns (a Message payload, a sorted-set
// member) into dest. *[]byte receives the slice itself.
func decodeValue(s Serializer, data []byte, dest any) error {
	if data == nil {
		data = []byte{}
	}
	return decode(s, wireData{s: unsafe.String(unsafe.SliceData(data), len(data)), b: data}, dest)
}

// decode stores d into dest, which must be a non-nil pointer. It looks up
// the same row of the table as encodeValue: raw kinds take the bytes,
// decimal kinds parse the text, serialized kinds go through s, and *any
// takes a number, the serializer's result or else the text, as Python
// reads. A Python pickle is ErrUnsupportedFormat for every destination but
// the raw ones. dest is left alone on error for raw and decimal kinds. It
// never panics on corrupt input.
func decode(s Serializer, d wireData, dest any) error {
	if err := refusePickle(d.s); err != nil && interpretsBytes(dest) {
		return err
	}
	switch p := dest.(type) {
	case *string:
		if p != nil {
			*p = d.keepString()
			return nil
		}
	case *[]byte:
		if p != nil {
			*p = d.keepBytes()
			return nil
		}
	case *any:
		if p != nil {
			return decodeAny(s, d, p)
		}
	case *int:
		if p != nil {
			n, err := parseInt(d.s, strconv.IntSize)
			if err == nil {
				*p = int(n)
			}
			return err
		}
	case *int64:
		if p != nil {
			n, err := parseInt(d.s, 64)
			if err == nil {
				*p = n
			}
			return err
		}
	case *float64:
		if p != nil {
			f, err := parseFloat(d.s, 64)
			if err == nil {
				*p = f
			}
			return err
		}
	case nil:
		return fmt.Errorf("%w: destination is nil", ErrUnsupportedType)
	}
	return decodeReflect(s, d, dest)
}

// decodeReflect is decode for the destinations without a fast path.
func decodeReflect(s Serializer, d wireData, dest any) error {
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: destination must be a non-nil pointer, got %T", ErrUnsupportedType, dest)
	}
	vt := valueTypeOf(rv.Type().Elem())
	switch vt.rule.layout {
	case layoutSerialized:
		return unmarshal(s, d, dest)
	case layoutRefused:
		return fmt.Errorf("%w: cannot decode into %T", ErrUnsupportedType, dest)
	}
	target := rv.Elem()
	if vt.ptrs == 0 {
		return vt.rule.decode(d, target)
	}
	// Decode into a fresh value, then allocate the missing pointers, so
	// dest is untouched on error.
	v := reflect.New(vt.base).Elem()
	if err := vt.rule.decode(d, v); err != nil {
		return err
	}
	for target.Kind() == reflect.Pointer {
		if target.IsNil() {
			target.Set(reflect.New(target.Type().Elem()))
		}
		target = target.Elem()
	}
	target.Set(v)
	return nil
}

// interpretsBytes reports whether a read into dest interprets the bytes (a
// number, the serializer's value, *any) rather than storing them as they
// are, so that a pickle must be refused. Destinations decode refuses anyway
// are not.
func interpretsBytes(dest any) bool {
	if !fillableDest(dest) {
		return false
	}
	switch valueTypeOf(reflect.TypeOf(dest).Elem()).rule.layout {
	case layoutSerialized, layoutDecimal:
		return true
	}
	return false
}

// fillableDest reports whether a read can store into dest: a non-nil
// pointer. Paths that assign without decoding (the near cache) check it
// first; decode reports the others.
func fillableDest(dest any) bool {
	switch d := dest.(type) {
	case *string:
		return d != nil
	case *[]byte:
		return d != nil
	}
	v := reflect.ValueOf(dest)
	return v.Kind() == reflect.Pointer && !v.IsNil()
}

// decodeAny reads into *any as the Python service's get does: a number for
// decimal text, else the serializer's result, else the text itself. Values
// that break the decode limits are an error, not text.
func decodeAny(s Serializer, d wireData, p *any) error {
	if n, ok := parseNumber(d.s); ok {
		*p = n
		return nil
	}
	err := unmarshal(s, d, p)
	if err == nil || errors.Is(err, ErrValueTooComplex) || !utf8.ValidString(d.s) {
		return err
	}
	*p = d.keepString()
	return nil
}

// unmarshal runs the serializer, turning a panic into an error. The
// built-in serializers read the bytes in place; others get bytes they may
// keep.
func unmarshal(s Serializer, d wireData, dest any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode: corrupt value: %v", r)
		}
	}()
	data := d.b
	if data == nil {
		if isBuiltinSerializer(s) {
			data = unsafe.Slice(unsafe.StringData(d.s), len(d.s))
		} else {
			data = []byte(d.s)
		}
	}
	if err := s.Unmarshal(data, dest); err != nil {
		return fmt.Errorf("decode into %T: %w", dest, err)
	}
	return nil
}

// errPickle is what reading a Python pickle returns.
var errPickle = fmt.Errorf("%w: value is a Python pickle, which Go cannot decode", ErrUnsupportedFormat)

// refusePickle returns errPickle when data starts like a Python pickle of
// protocol 2 or later, which the Python service writes for large arrays
// and unknown objects: 0x80 then the protocol number. A lone 0x80 is an
// empty MessagePack map, so one byte is not enough to tell. It is the one
// pickle check: decode runs it for every read through a Client, and
// PythonJSONSerializer for callers that use it on its own.
func refusePickle[T string | []byte](data T) error {
	if len(data) >= 2 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5 {
		return errPickle
	}
	return nil
}

// parseNumber reads decimal text as int64, *big.Int (integers beyond int64)
// or float64. "inf", "nan" and other words stay text, as Python reads them.
func parseNumber(s string) (any, bool) {
	if len(s) == 0 || len(s) > 400 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return nil, false
		}
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	} else if errors.Is(err, strconv.ErrRange) {
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b, true
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, true
	}
	return nil, false
}
