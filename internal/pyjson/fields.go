package pyjson

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// This file holds encoding/json's struct field rules, the one copy in the
// module: the Python encoder and decoder and the root package's SHA-256
// HashInput all name and omit fields by them, so a struct is the same
// object everywhere encoding/json would write it.

// Struct is the JSON object encoding/json makes of a struct type.
type Struct struct {
	// Fields are the fields encoding/json writes, in declaration order
	// (promoted fields where their embedded struct is).
	Fields []Field
	// ByName holds the positions of Fields in name order, the order of
	// json.dumps(sort_keys=True).
	ByName []int
}

// Field is a struct field as encoding/json sees it.
type Field struct {
	Name      string // the object key
	key       []byte // the key as json.dumps writes it, with ": "
	index     []int  // the path through embedded structs
	typ       reflect.Type
	tagged    bool
	omitEmpty bool
	omitZero  bool
	quoted    bool // the ",string" option applies
	isZero    func(reflect.Value) bool
}

// Value returns the field's value in v, a value of the struct type, and
// whether encoding/json writes it: not when an embedded pointer on the way
// is nil, nor when omitempty or omitzero leaves it out.
func (f *Field) Value(v reflect.Value) (reflect.Value, bool) {
	v, err := v.FieldByIndexErr(f.index) // fails only on a nil embedded pointer
	if err != nil {
		return reflect.Value{}, false
	}
	return v, !f.omit(v)
}

// omit reports whether omitempty or omitzero leaves out value v.
func (f *Field) omit(v reflect.Value) bool {
	if f.omitEmpty && isEmptyValue(v) {
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

// isEmptyValue is encoding/json's omitempty test.
func isEmptyValue(v reflect.Value) bool {
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

var structs sync.Map // reflect.Type -> *Struct

// StructOf returns the fields encoding/json writes for struct type t,
// computed once per type.
func StructOf(t reflect.Type) *Struct {
	if v, ok := structs.Load(t); ok {
		return v.(*Struct)
	}
	fields := jsonFields(t)
	st := &Struct{Fields: fields, ByName: make([]int, len(fields))}
	for i := range fields {
		st.ByName[i] = i
		fields[i].key = append(appendString(nil, fields[i].Name), ": "...)
	}
	slices.SortFunc(st.ByName, func(a, b int) int { return strings.Compare(fields[a].Name, fields[b].Name) })
	v, _ := structs.LoadOrStore(t, st)
	return v.(*Struct)
}

// lookup finds the field a JSON object key decodes into, as encoding/json
// does: an exact name match, else the first case-insensitive one.
func (st *Struct) lookup(name string) *Field {
	for i := range st.Fields {
		if st.Fields[i].Name == name {
			return &st.Fields[i]
		}
	}
	for i := range st.Fields {
		if strings.EqualFold(st.Fields[i].Name, name) {
			return &st.Fields[i]
		}
	}
	return nil
}

// embedded is a struct type whose fields are promoted, and its path.
type embedded struct {
	typ   reflect.Type
	index []int
}

// jsonFields returns the fields encoding/json encodes for struct type t, in
// declaration order, by the same rules: exported fields, names from `json`
// tags, "-" skipped, embedded structs promoted with Go's visibility rules
// except that tagged names win. It walks the embedded structs breadth
// first, one depth at a time, as encoding/json does.
func jsonFields(t reflect.Type) []Field {
	current, next := []embedded{}, []embedded{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []Field
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := range q.typ.NumField() {
				f, promoted, ok := fieldOf(q.typ.Field(i), append(slices.Clip(q.index), i))
				switch {
				case !ok:
				case promoted != nil:
					nextCount[promoted]++
					if nextCount[promoted] == 1 {
						next = append(next, embedded{typ: promoted, index: f.index})
					}
				case count[q.typ] > 1:
					// Two embeddings of one type at this depth: a
					// duplicate makes the dominance rule drop the field.
					fields = append(fields, f, f)
				default:
					fields = append(fields, f)
				}
			}
		}
	}
	return dominant(fields)
}

// fieldOf reads struct field sf at path index. ok is false when
// encoding/json ignores the field; promoted is the struct type of an
// untagged embedded struct, whose fields take its place.
func fieldOf(sf reflect.StructField, index []int) (f Field, promoted reflect.Type, ok bool) {
	if !sf.IsExported() && !(sf.Anonymous && derefKind(sf.Type) == reflect.Struct) {
		return Field{}, nil, false
	}
	tag := sf.Tag.Get("json")
	if tag == "-" {
		return Field{}, nil, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if !validTagName(name) {
		name = ""
	}
	ft := sf.Type
	if ft.Name() == "" && ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
		return Field{index: index}, ft, true
	}
	f = Field{
		Name:      name,
		tagged:    name != "",
		index:     index,
		typ:       sf.Type,
		omitEmpty: hasTagOption(opts, "omitempty"),
		omitZero:  hasTagOption(opts, "omitzero"),
		quoted:    hasTagOption(opts, "string") && quotable(sf.Type, ft.Kind()),
	}
	if f.Name == "" {
		f.Name = sf.Name
	}
	if f.omitZero {
		f.isZero = zeroFunc(sf.Type)
	}
	return f, nil, true
}

// derefKind is the kind of t, or of what t points to.
func derefKind(t reflect.Type) reflect.Kind {
	if t.Kind() == reflect.Pointer {
		return t.Elem().Kind()
	}
	return t.Kind()
}

// quotable reports whether the ",string" option applies to a field of type
// t (of kind k, through an unnamed pointer): booleans, numbers and strings
// without marshaling methods of their own.
func quotable(t reflect.Type, k reflect.Kind) bool {
	switch k {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.String:
		return !typeInfoOf(t).methods
	}
	return false
}

// dominant keeps, of the fields that share a name, the one encoding/json
// writes: the shallowest, a tagged one before untagged ones at its depth;
// two equal candidates cancel out. The result is in declaration order.
func dominant(fields []Field) []Field {
	slices.SortFunc(fields, func(a, b Field) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			return cmp.Compare(boolInt(b.tagged), boolInt(a.tagged))
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].Name == fields[i].Name {
			j++
		}
		same := fields[i:j]
		if len(same) == 1 || len(same[0].index) != len(same[1].index) || same[0].tagged != same[1].tagged {
			out = append(out, same[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b Field) int { return slices.Compare(a.index, b.index) })
	return out
}

// zeroFunc returns the omitzero test of a field of type t: its IsZero
// method when it has one (nil pointers and interfaces are zero), else nil
// for reflect's IsZero.
func zeroFunc(t reflect.Type) func(reflect.Value) bool {
	type isZeroer interface{ IsZero() bool }
	switch {
	case t.Kind() == reflect.Interface && t.Implements(isZeroerType):
		return func(v reflect.Value) bool {
			return v.IsNil() || (v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) || v.Interface().(isZeroer).IsZero()
		}
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
		return func(v reflect.Value) bool { return v.IsNil() || v.Interface().(isZeroer).IsZero() }
	case t.Implements(isZeroerType):
		return func(v reflect.Value) bool { return v.Interface().(isZeroer).IsZero() }
	case reflect.PointerTo(t).Implements(isZeroerType):
		return func(v reflect.Value) bool { return addressable(v).Interface().(isZeroer).IsZero() }
	}
	return nil
}

// hasTagOption reports whether the comma-separated tag options opts hold
// name.
func hasTagOption(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

// validTagName reports whether encoding/json takes s as a field's name.
func validTagName(s string) bool {
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
