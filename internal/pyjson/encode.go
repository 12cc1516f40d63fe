package pyjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// encoder writes Python's json.dumps text.
type encoder struct {
	buf      []byte
	sortKeys bool // json.dumps(sort_keys=True); without it maps are still sorted, structs keep field order
	level    int
	seen     map[visit]struct{}
	digest   hash.Hash // hashing: where spill streams the text; nil otherwise
}

// visit identifies a container being written: its address, its length
// for a slice, and its type (a struct and its first field share an address).
type visit struct {
	p uintptr
	n int
	t reflect.Type
}

// cycleLevel is the nesting depth from which containers are checked for
// cycles, as encoding/json does.
const cycleLevel = 1000

// enter marks the start of a container; past cycleLevel it checks that
// the container is not already being written.
func (e *encoder) enter(key visit) (bool, error) {
	e.level++
	if e.level <= cycleLevel || key.p == 0 {
		return false, nil
	}
	if e.seen == nil {
		e.seen = make(map[visit]struct{})
	}
	if _, ok := e.seen[key]; ok {
		return false, errors.New("cycle: a value contains itself")
	}
	e.seen[key] = struct{}{}
	return true, nil
}

// leave marks the end of a container entered with key.
func (e *encoder) leave(key visit, tracked bool) {
	e.level--
	if tracked {
		delete(e.seen, key)
	}
}

// encode writes the json.dumps text of rv.
func (e *encoder) encode(rv reflect.Value) error {
	v, err := e.normalize(rv)
	if err != nil {
		return err
	}
	return e.write(v)
}

// write writes the json.dumps text of v.
func (e *encoder) write(v value) error {
	switch v.kind {
	case kindNone:
		e.buf = append(e.buf, "null"...)
	case kindBool:
		e.buf = strconv.AppendBool(e.buf, v.b)
	case kindInt:
		e.buf = strconv.AppendInt(e.buf, v.i, 10)
	case kindUint:
		e.buf = strconv.AppendUint(e.buf, v.u, 10)
	case kindBig:
		e.buf = append(e.buf, v.s...)
	case kindFloat:
		e.buf = appendJSONFloat(e.buf, v.f)
	case kindStr:
		e.buf = appendString(e.buf, v.s)
	case kindBytes:
		return errors.New("bytes are not JSON serializable")
	case kindList:
		if v.tree != nil {
			return e.writeTree(v.tree)
		}
		return e.writeList(v)
	case kindDict:
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
func (e *encoder) writeStr(v value) {
	switch v.kind {
	case kindNone:
		e.buf = append(e.buf, "None"...)
	case kindBool:
		if v.b {
			e.buf = append(e.buf, "True"...)
		} else {
			e.buf = append(e.buf, "False"...)
		}
	case kindFloat:
		e.buf = AppendFloatStr(e.buf, v.f)
	case kindStr:
		e.buf = append(e.buf, v.s...)
	case kindBytes:
		e.buf = appendBytesRepr(e.buf, v.s)
	default:
		_ = e.write(v) // ints: same digits in both forms
	}
}

// writeList writes a slice or array as a list; a []float64 takes a loop
// without normalize.
func (e *encoder) writeList(v value) error {
	rv := v.rv
	key := visit{p: v.ptr, t: rv.Type()}
	if rv.Kind() == reflect.Slice {
		key = visit{p: rv.Pointer(), n: rv.Len(), t: rv.Type()}
	}
	tracked, err := e.enter(key)
	if err != nil {
		return err
	}
	defer e.leave(key, tracked)
	n := rv.Len()
	e.buf = append(e.buf, '[')
	if rv.Type().Elem() == float64Type {
		for i := range n {
			if i > 0 {
				e.buf = append(e.buf, ", "...)
			}
			e.buf = appendJSONFloat(e.buf, rv.Index(i).Float())
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

// writeStruct writes a struct as the object encoding/json makes of it, its
// fields in declaration order, or by name when sorting keys.
func (e *encoder) writeStruct(v value) error {
	rv := v.rv
	st := StructOf(rv.Type())
	key := visit{p: v.ptr, t: rv.Type()}
	tracked, err := e.enter(key)
	if err != nil {
		return err
	}
	defer e.leave(key, tracked)
	e.buf = append(e.buf, '{')
	first := true
	for i := range st.Fields {
		f := &st.Fields[i]
		if e.sortKeys {
			f = &st.Fields[st.ByName[i]]
		}
		fv, ok := f.Value(rv)
		if !ok {
			continue
		}
		if !first {
			e.buf = append(e.buf, ", "...)
		}
		first = false
		e.buf = append(e.buf, f.key...)
		if f.quoted {
			if err := e.writeQuoted(fv); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
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
func (e *encoder) writeQuoted(fv reflect.Value) error {
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
	e.buf = appendString(e.buf, string(b))
	return nil
}

// writeTree writes a value parsed by parse.
func (e *encoder) writeTree(tree any) error {
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
	case object:
		members := x
		if e.sortKeys {
			members = slices.Clone(x)
			slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
		}
		e.buf = append(e.buf, '{')
		for i, m := range members {
			if i > 0 {
				e.buf = append(e.buf, ", "...)
			}
			e.buf = appendString(e.buf, m.key)
			e.buf = append(e.buf, ": "...)
			if err := e.writeTree(m.val); err != nil {
				return err
			}
			e.spill()
		}
		e.buf = append(e.buf, '}')
		return nil
	}
	return e.write(treeValue(tree))
}

// writeMap writes a map as a dict, its keys converted and ordered as
// json.dumps(sort_keys=True) orders them.
func (e *encoder) writeMap(rv reflect.Value) error {
	n := rv.Len()
	if n == 0 {
		e.buf = append(e.buf, "{}"...)
		return nil
	}
	key := visit{p: rv.Pointer(), t: rv.Type()}
	tracked, err := e.enter(key)
	if err != nil {
		return err
	}
	defer e.leave(key, tracked)
	keys := make([]mapKey, 0, n)
	it := rv.MapRange()
	for it.Next() {
		k, err := keyOf(it.Key())
		if err != nil {
			return err
		}
		k.val = it.Value()
		keys = append(keys, k)
	}
	if err := sortKeys(keys, e.sortKeys); err != nil {
		return err
	}
	e.buf = append(e.buf, '{')
	for i := range keys {
		if i > 0 {
			e.buf = append(e.buf, ", "...)
		}
		e.buf = appendString(e.buf, keys[i].text)
		e.buf = append(e.buf, ": "...)
		if err := e.encode(keys[i].val); err != nil {
			return err
		}
		e.spill()
	}
	e.buf = append(e.buf, '}')
	return nil
}
