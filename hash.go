package redisclient

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/systemtrader/redisclient/internal/pyjson"
)

// maxHashDepth bounds nesting, which also catches cyclic inputs.
const maxHashDepth = 256

// errHashDepth is returned for inputs nested deeper than maxHashDepth.
var errHashDepth = errors.New("input nests too deeply or contains a cycle")

// hashEncoder writes a canonical, type-tagged binary form of a value: maps
// and structs as key-sorted objects (structs named by their json tags, so a
// struct and a map of the same JSON shape agree), every number as the float64
// it equals when that is exact (so 1 and 1.0 agree), times as UTC RFC 3339.
// It is faster than JSON and needs no allocation for the common shapes.
type hashEncoder struct {
	buf  []byte
	keys []string // stack of map keys being sorted, shared by nested maps
}

var hashEncoders = sync.Pool{New: func() any { return &hashEncoder{buf: make([]byte, 0, 1024)} }}

// Type tags of the canonical form.
const (
	tagNil    = 'n'
	tagTrue   = 't'
	tagFalse  = 'f'
	tagFloat  = 'd'
	tagBigInt = 'i'
	tagString = 's'
	tagBytes  = 'b'
	tagList   = '['
	tagObject = '{'
)

// sha256Hex hashes input's canonical form.
func sha256Hex(input any) (string, error) {
	e := hashEncoders.Get().(*hashEncoder)
	defer hashEncoders.Put(e)
	e.buf = e.buf[:0]
	e.keys = e.keys[:0]
	if err := e.encode(input, 0); err != nil {
		return "", fmt.Errorf("hash input: %w", err)
	}
	sum := sha256.Sum256(e.buf)
	var out [sha256.Size * 2]byte
	hex.Encode(out[:], sum[:])
	return string(out[:]), nil
}

func (e *hashEncoder) str(tag byte, s string) {
	e.buf = append(e.buf, tag)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *hashEncoder) float(f float64) {
	switch {
	case f == 0:
		f = 0 // -0 and 0 are equal inputs
	case math.IsNaN(f):
		f = math.NaN() // one NaN bit pattern
	}
	e.buf = append(e.buf, tagFloat)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
}

func (e *hashEncoder) int(i int64) {
	if f := float64(i); f >= -(1<<53) && f <= 1<<53 {
		e.float(f)
		return
	}
	e.str(tagBigInt, strconv.FormatInt(i, 10))
}

func (e *hashEncoder) uint(u uint64) {
	if u <= 1<<53 {
		e.float(float64(u))
		return
	}
	e.str(tagBigInt, strconv.FormatUint(u, 10))
}

func (e *hashEncoder) length(tag byte, n int) {
	e.buf = append(e.buf, tag)
	e.buf = binary.AppendUvarint(e.buf, uint64(n))
}

// encode handles the common shapes without reflection, then falls back.
func (e *hashEncoder) encode(v any, depth int) error {
	if depth > maxHashDepth {
		return errHashDepth
	}
	if e.scalar(v) {
		return nil
	}
	switch x := v.(type) {
	case json.Number:
		return e.number(x)
	case []float64:
		e.length(tagList, len(x))
		for _, f := range x {
			e.float(f)
		}
	case []string:
		e.length(tagList, len(x))
		for _, s := range x {
			e.str(tagString, s)
		}
	case []any:
		e.length(tagList, len(x))
		for _, el := range x {
			if err := e.encode(el, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		return encodeStringMap(e, x, depth)
	case map[string]float64:
		return encodeStringMap(e, x, depth)
	case map[string]string:
		return encodeStringMap(e, x, depth)
	case map[string]int:
		return encodeStringMap(e, x, depth)
	default:
		return e.reflect(reflect.ValueOf(v), depth)
	}
	return nil
}

// scalar writes the common scalar types without reflection and reports
// whether v was one of them.
func (e *hashEncoder) scalar(v any) bool {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, tagNil)
	case string:
		e.str(tagString, x)
	case bool:
		if x {
			e.buf = append(e.buf, tagTrue)
		} else {
			e.buf = append(e.buf, tagFalse)
		}
	case float64:
		e.float(x)
	case float32:
		e.float(float64(x))
	case int:
		e.int(int64(x))
	case int64:
		e.int(x)
	case int32:
		e.int(int64(x))
	case uint64:
		e.uint(x)
	case time.Time:
		e.str(tagString, x.UTC().Format(time.RFC3339Nano))
	case []byte:
		e.str(tagBytes, string(x))
	default:
		return false
	}
	return true
}

// encodeStringMap writes m with sorted keys, using the encoder's key stack so
// nested maps need no allocation of their own.
func encodeStringMap[V any](e *hashEncoder, m map[string]V, depth int) error {
	base := len(e.keys)
	for k := range m {
		e.keys = append(e.keys, k)
	}
	keys := e.keys[base:]
	slices.Sort(keys)
	e.length(tagObject, len(keys))
	for i := range keys {
		k := e.keys[base+i] // re-read: a nested map may have grown the stack
		e.str(tagString, k)
		if err := e.encode(m[k], depth+1); err != nil {
			return err
		}
	}
	e.keys = e.keys[:base]
	return nil
}

func (e *hashEncoder) number(n json.Number) error {
	if i, err := n.Int64(); err == nil {
		e.int(i)
		return nil
	}
	f, err := n.Float64()
	if err != nil {
		if !json.Valid([]byte(n)) {
			return fmt.Errorf("json.Number %q is not a number", n.String())
		}
		e.str(tagBigInt, n.String()) // beyond float64: hash the literal
		return nil
	}
	e.float(f)
	return nil
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func (e *hashEncoder) reflect(v reflect.Value, depth int) error {
	if depth > maxHashDepth {
		return errHashDepth
	}
	if !v.IsValid() {
		e.buf = append(e.buf, tagNil)
		return nil
	}
	if v.Type() == timeType {
		return e.encode(v.Interface(), depth)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.buf = append(e.buf, tagNil)
			return nil
		}
		return e.reflect(v.Elem(), depth+1)
	case reflect.String:
		e.str(tagString, v.String())
	case reflect.Bool:
		return e.encode(v.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.int(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.uint(v.Uint())
	case reflect.Float32, reflect.Float64:
		e.float(v.Float())
	case reflect.Slice:
		if v.IsNil() {
			e.buf = append(e.buf, tagNil)
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.str(tagBytes, string(v.Bytes()))
			return nil
		}
		fallthrough
	case reflect.Array:
		e.length(tagList, v.Len())
		for i := range v.Len() {
			if err := e.reflect(v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		return e.reflectMap(v, depth)
	case reflect.Struct:
		return e.reflectStruct(v, depth)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

func (e *hashEncoder) reflectMap(v reflect.Value, depth int) error {
	if v.IsNil() {
		e.buf = append(e.buf, tagNil)
		return nil
	}
	type entry struct {
		key string
		val reflect.Value
	}
	entries := make([]entry, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		k, err := mapKeyString(it.Key())
		if err != nil {
			return err
		}
		entries = append(entries, entry{k, it.Value()})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	e.length(tagObject, len(entries))
	for _, en := range entries {
		e.str(tagString, en.key)
		if err := e.reflect(en.val, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// mapKeyString names a map key as encoding/json would.
func mapKeyString(k reflect.Value) (string, error) {
	if k.Kind() == reflect.String {
		return k.String(), nil
	}
	if k.Type().Implements(textMarshalerType) {
		b, err := k.Interface().(encoding.TextMarshaler).MarshalText()
		return string(b), err
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("unsupported map key type %s", k.Type())
}

// reflectStruct writes a struct as the object encoding/json would make of it
// (by the field rules the Python codec uses too), keys sorted.
func (e *hashEncoder) reflectStruct(v reflect.Value, depth int) error {
	st := pyjson.StructOf(v.Type())
	n := 0
	for _, i := range st.ByName {
		if _, ok := st.Fields[i].Value(v); ok {
			n++
		}
	}
	e.length(tagObject, n)
	for _, i := range st.ByName {
		f := &st.Fields[i]
		fv, ok := f.Value(v)
		if !ok {
			continue
		}
		e.str(tagString, f.Name)
		if err := e.reflect(fv, depth+1); err != nil {
			return err
		}
	}
	return nil
}
