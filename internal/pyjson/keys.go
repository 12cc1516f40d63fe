package pyjson

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// mapKey is a map key as Python sees it.
type mapKey struct {
	class   uint8  // keyNone, keyNum or keyStr
	text    string // the key json.dumps writes
	isFloat bool
	f       float64
	i       int64
	big     *big.Int // an int outside int64
	val     reflect.Value
}

const (
	keyNone uint8 = iota
	keyNum
	keyStr
)

// keyOf converts a map key the way json.dumps does: str keys as they are
// (and encoding.TextMarshaler keys as their text, as encoding/json does),
// int, float and bool keys as their JSON text, None as "null".
func keyOf(k reflect.Value) (mapKey, error) {
	for k.Kind() == reflect.Interface {
		if k.IsNil() {
			return mapKey{class: keyNone, text: "null"}, nil
		}
		k = k.Elem()
	}
	if n, ok := bigKey(k); ok {
		if n == nil {
			return mapKey{class: keyNone, text: "null"}, nil
		}
		key := mapKey{class: keyNum, text: n.String()}
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
			return mapKey{}, fmt.Errorf("map key %q is not valid UTF-8", truncate(s))
		}
		return mapKey{class: keyStr, text: s}, nil
	}
	if info := typeInfoOf(k.Type()); info.text || info.addrText {
		return textKeyOf(k, info)
	}
	return numberKeyOf(k)
}

// textKeyOf is the key of an encoding.TextMarshaler: its text, as
// encoding/json writes it.
func textKeyOf(k reflect.Value, info *typeInfo) (mapKey, error) {
	if k.Kind() == reflect.Pointer && k.IsNil() {
		return mapKey{class: keyStr}, nil
	}
	if !info.text {
		k = addressable(k)
	}
	v, err := marshalText(k)
	if err != nil {
		return mapKey{}, err
	}
	return mapKey{class: keyStr, text: v.s}, nil
}

// numberKeyOf is the key of a bool, an integer or a float: a number to
// Python, written as its JSON text.
func numberKeyOf(k reflect.Value) (mapKey, error) {
	switch k.Kind() {
	case reflect.Bool:
		if k.Bool() {
			return mapKey{class: keyNum, text: "true", i: 1}, nil
		}
		return mapKey{class: keyNum, text: "false"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := k.Int()
		return mapKey{class: keyNum, text: strconv.FormatInt(i, 10), i: i}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := k.Uint()
		key := mapKey{class: keyNum, text: strconv.FormatUint(u, 10)}
		if u <= math.MaxInt64 {
			key.i = int64(u)
		} else {
			key.big = new(big.Int).SetUint64(u)
		}
		return key, nil
	case reflect.Float32, reflect.Float64:
		f := k.Float()
		if k.Kind() == reflect.Float32 {
			f = Float32To64(f)
		}
		return mapKey{class: keyNum, text: string(appendJSONFloat(nil, f)), isFloat: true, f: f}, nil
	}
	return mapKey{}, fmt.Errorf("unsupported map key type %s", k.Type())
}

// bigKey reports whether k is a *big.Int, which as a map key stands for
// the Python int it holds (Python's ints have no size limit, Go's integer
// map keys do).
func bigKey(k reflect.Value) (*big.Int, bool) {
	if k.Type() != bigIntPtrType {
		return nil, false
	}
	if k.IsNil() {
		return nil, true
	}
	return k.Interface().(*big.Int), true
}

// sortKeys orders keys as Python's sorted(dict.items()) does before
// json.dumps converts them. Without strict (Marshal, where Python compares
// nothing) keys Python cannot compare are ordered None, numbers, strings.
func sortKeys(keys []mapKey, strict bool) error {
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
		case classes[keyNone] > 0:
			return errors.New("map keys: Python cannot sort None with other keys")
		case classes[keyNum] > 0 && classes[keyStr] > 0:
			return errors.New("map keys: Python cannot sort str keys with numeric keys")
		case nan:
			return errors.New("map keys: Python cannot sort a NaN key with other keys")
		}
	}
	slices.SortFunc(keys, compareKeys)
	for i := 1; i < len(keys); i++ {
		if compareKeys(keys[i-1], keys[i]) == 0 && !(keys[i].isFloat && math.IsNaN(keys[i].f)) {
			return fmt.Errorf("map keys %q and %q are the same Python key", keys[i-1].text, keys[i].text)
		}
	}
	return nil
}

// compareKeys orders keys as Python compares them: None, then numbers by
// value, then strings by code point; NaN after the other numbers.
func compareKeys(a, b mapKey) int {
	if c := cmp.Compare(a.class, b.class); c != 0 {
		return c
	}
	switch a.class {
	case keyStr:
		return strings.Compare(a.text, b.text)
	case keyNone:
		return 0
	}
	// Numbers compare exactly, as Python compares int, float and bool.
	an, bn := math.IsNaN(a.f) && a.isFloat, math.IsNaN(b.f) && b.isFloat
	switch {
	case an || bn:
		return cmp.Compare(boolInt(an), boolInt(bn))
	case a.isFloat && b.isFloat:
		return cmp.Compare(a.f, b.f)
	case !a.isFloat && !b.isFloat && a.big == nil && b.big == nil:
		return cmp.Compare(a.i, b.i)
	}
	return a.bigFloat().Cmp(b.bigFloat())
}

// bigFloat is the key's number, exact.
func (k mapKey) bigFloat() *big.Float {
	switch {
	case k.isFloat:
		return new(big.Float).SetFloat64(k.f)
	case k.big != nil:
		return new(big.Float).SetInt(k.big)
	}
	return new(big.Float).SetInt64(k.i)
}

// boolInt is 1 for true, 0 for false.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
