package pyjson

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"sync"
)

// toGo converts parsed JSON to Go values with Python's types: int64 (or
// *big.Int), float64, string, bool, nil, []any and map[string]any.
func toGo(tree any) any {
	switch x := tree.(type) {
	case number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		n, _ := new(big.Int).SetString(string(x), 10)
		return n
	case []any:
		for i, el := range x {
			x[i] = toGo(el)
		}
		return x
	case object:
		m := make(map[string]any, len(x))
		for _, mem := range x {
			m[mem.key] = toGo(mem.val)
		}
		return m
	}
	return tree
}

// finite reports whether parsed JSON holds no NaN and no Infinity, which
// encoding/json cannot read.
func finite(tree any) bool {
	switch x := tree.(type) {
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case []any:
		for _, el := range x {
			if !finite(el) {
				return false
			}
		}
	case object:
		for _, m := range x {
			if !finite(m.val) {
				return false
			}
		}
	}
	return true
}

var needsTreeCache sync.Map // reflect.Type -> bool

// needsTree reports whether decoding into t must go through the parsed
// tree rather than encoding/json: when t holds an empty interface somewhere
// (which must receive Python's int/float types).
func needsTree(t reflect.Type) bool {
	if v, ok := needsTreeCache.Load(t); ok {
		return v.(bool)
	}
	// Only the top-level answer is cached: answers for types inside a
	// recursive type may rest on the assumption made for the type in
	// progress.
	need := needsTreeWalk(t, map[reflect.Type]bool{})
	needsTreeCache.Store(t, need)
	return need
}

// needsTreeWalk is needsTree for t, with the types being walked (a
// recursive type needs the tree only if some other part of it does).
func needsTreeWalk(t reflect.Type, inProgress map[reflect.Type]bool) bool {
	if inProgress[t] || decodesItself(t) {
		return false
	}
	inProgress[t] = true
	defer delete(inProgress, t)
	switch t.Kind() {
	case reflect.Interface:
		return t.NumMethod() == 0
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return needsTreeWalk(t.Elem(), inProgress)
	case reflect.Struct:
		for _, f := range StructOf(t).Fields {
			if needsTreeWalk(f.typ, inProgress) {
				return true
			}
		}
	}
	return false
}

// decodesItself reports whether values of t decode themselves.
func decodesItself(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return false
	}
	pt := reflect.PointerTo(t)
	return pt.Implements(jsonUnmarshalerType) || pt.Implements(textUnmarshalerType)
}

// assign stores a parsed value into dst (addressable). Parts that hold no
// interface and no NaN or Infinity go through encoding/json, so its rules
// apply; the rest is assigned here.
func assign(node any, dst reflect.Value) error {
	t := dst.Type()
	if decodesItself(t) || !needsTree(t) && finite(node) {
		return unmarshalTree(node, dst)
	}
	if node == nil {
		switch dst.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice:
			dst.SetZero()
		}
		return nil
	}
	switch dst.Kind() {
	case reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(t.Elem()))
		}
		return assign(node, dst.Elem())
	case reflect.Interface:
		if t.NumMethod() == 0 {
			assignInterface(node, dst)
			return nil
		}
	case reflect.Float32, reflect.Float64:
		if f, ok := node.(float64); ok {
			dst.SetFloat(f)
			return nil
		}
	case reflect.Slice:
		if list, ok := node.([]any); ok {
			return assignSlice(list, dst)
		}
	case reflect.Array:
		if list, ok := node.([]any); ok {
			return assignArray(list, dst)
		}
	case reflect.Map:
		if obj, ok := node.(object); ok {
			return assignMap(obj, dst)
		}
	case reflect.Struct:
		if obj, ok := node.(object); ok {
			return assignStruct(obj, dst)
		}
	}
	return fmt.Errorf("cannot decode JSON %s into %s", treeKind(node), t)
}

// assignInterface stores parsed JSON into an empty interface with Python's
// types.
func assignInterface(node any, dst reflect.Value) {
	if v := toGo(node); v != nil {
		dst.Set(reflect.ValueOf(v))
	} else {
		dst.SetZero()
	}
}

// unmarshalTree stores parsed JSON into dst with encoding/json, which reads
// the text the tree stands for.
func unmarshalTree(node any, dst reflect.Value) error {
	e := &encoder{}
	if err := e.writeTree(node); err != nil {
		return err
	}
	return json.Unmarshal(e.buf, dst.Addr().Interface())
}

// assignSlice stores a list into a new slice of dst's type.
func assignSlice(list []any, dst reflect.Value) error {
	s := reflect.MakeSlice(dst.Type(), len(list), len(list))
	for i, el := range list {
		if err := assign(el, s.Index(i)); err != nil {
			return err
		}
	}
	dst.Set(s)
	return nil
}

// assignArray fills an array as encoding/json does: extra elements are
// dropped, missing ones zeroed.
func assignArray(list []any, dst reflect.Value) error {
	for i := range dst.Len() {
		if i >= len(list) {
			dst.Index(i).SetZero()
		} else if err := assign(list[i], dst.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

// assignMap stores an object into a map, allocating it when nil, its keys
// converted as encoding/json converts them.
func assignMap(obj object, dst reflect.Value) error {
	t := dst.Type()
	if dst.IsNil() {
		dst.Set(reflect.MakeMapWithSize(t, len(obj)))
	}
	for _, m := range obj {
		k, err := mapKeyFromString(m.key, t.Key())
		if err != nil {
			return err
		}
		ev := reflect.New(t.Elem()).Elem()
		if err := assign(m.val, ev); err != nil {
			return err
		}
		dst.SetMapIndex(k, ev)
	}
	return nil
}

// assignStruct stores an object into a struct: the members encoding/json
// can read in one pass through it, the others (interfaces, NaN, Infinity)
// field by field.
func assignStruct(obj object, dst reflect.Value) error {
	st := StructOf(dst.Type())
	var plain object
	type pending struct {
		f   *Field
		val any
	}
	var rest []pending
	for _, m := range obj {
		f := st.lookup(m.key)
		switch {
		case f == nil:
		case f.quoted || !needsTree(f.typ) && finite(m.val):
			plain = append(plain, m)
		default:
			rest = append(rest, pending{f, m.val})
		}
	}
	if len(plain) > 0 {
		if err := unmarshalTree(plain, dst); err != nil {
			return err
		}
	}
	for _, r := range rest {
		fv, err := settableField(dst, r.f.index)
		if err != nil {
			return err
		}
		if err := assign(r.val, fv); err != nil {
			return fmt.Errorf("field %s: %w", r.f.Name, err)
		}
	}
	return nil
}

// treeKind names a node of parsed JSON for an error message.
func treeKind(node any) string {
	switch x := node.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case number:
		return "int"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		return "list"
	}
	return "object"
}

// settableField follows an index path, allocating nil embedded pointers.
func settableField(v reflect.Value, index []int) (reflect.Value, error) {
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

// mapKeyFromString converts a JSON object key to a map key of type kt, as
// encoding/json does.
func mapKeyFromString(s string, kt reflect.Type) (reflect.Value, error) {
	if reflect.PointerTo(kt).Implements(textUnmarshalerType) {
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
