// Package pyjson reads and writes JSON the way Python's json module does,
// and computes the Python service's hash_input, so that Go and Python
// services sharing one Redis read each other's values and cache model
// predictions under the same keys.
//
// Marshal writes json.dumps's text (separators ", " and ": ", ensure_ascii,
// floats by repr, NaN and ±Infinity), Unmarshal reads as json.loads does
// into Go values (Python's types in interface values), and Hash is
// md5(json.dumps(x, sort_keys=True)) for containers, md5(str(x)) otherwise.
// Struct fields follow encoding/json's rules (StructOf), which the root
// package's SHA-256 HashInput shares.
//
// The files follow the data: resolve.go maps a Go value to the Python value
// it stands for, encode.go writes it, keys.go orders dict keys as Python
// sorts them, repr.go holds Python's text forms (string quoting, float
// repr, bytes repr), parse.go reads JSON text into a tree, decode.go stores
// a tree into a Go value, fields.go holds the struct field rules and
// hash.go the hash.
//
// The package knows nothing of Redis: size and depth limits, the pickle
// check and the error sentinels belong to the caller (the root package's
// PythonJSONSerializer).
package pyjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of parsed JSON: deeper text is an error, as
// in Python, whose json module stops near the same depth (its recursion
// limit is 1000).
const MaxDepth = 1000

// Marshal returns what Python's json.dumps writes for v with its defaults.
// Map keys are written sorted (Python's sort_keys order) since Go maps keep
// no order; struct fields are written in declaration order.
func Marshal(v any) ([]byte, error) {
	e := &encoder{}
	if err := e.encode(reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// Unmarshal reads JSON as Python's json.loads does, NaN and Infinity
// included, into v, a non-nil pointer. A *any receives Python's types, and
// falls back to the text itself when the data is not JSON; a *string takes
// the text when the data is not a JSON string; a *bool also accepts
// Python's "True" and "False".
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("destination must be a non-nil pointer, got %T", v)
	}
	if done, err := unmarshalText(data, v); done {
		return err
	}
	if !needsTree(rv.Type().Elem()) {
		// The common case: no interface values to type and, unless the
		// data holds NaN or Infinity, plain JSON.
		err := json.Unmarshal(data, v)
		if err == nil {
			return nil
		}
		if se := (*json.SyntaxError)(nil); !errors.As(err, &se) {
			return err
		}
	}
	tree, err := parse(data, false)
	if err != nil {
		return err
	}
	return assign(tree, rv.Elem())
}

// unmarshalText handles the destinations that read text as the Python
// service's get does: *any and *string fall back to the text, *bool reads
// Python's str of a bool. It reports whether it handled v.
func unmarshalText(data []byte, v any) (bool, error) {
	switch d := v.(type) {
	case *any:
		tree, err := parse(data, false)
		switch {
		case err == nil:
			*d = toGo(tree)
		case !utf8.Valid(data):
			return true, err
		default:
			*d = string(data)
		}
		return true, nil
	case *string:
		if tree, err := parse(data, false); err == nil {
			if s, ok := tree.(string); ok {
				*d = s
				return true, nil
			}
		}
		if !utf8.Valid(data) {
			return true, errors.New("value is neither JSON nor UTF-8 text")
		}
		*d = string(data)
		return true, nil
	case *bool:
		switch string(data) {
		case "True", "False":
			*d = string(data) == "True"
			return true, nil
		}
	}
	return false, nil
}
