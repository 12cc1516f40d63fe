package redisclient

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/systemtrader/redisclient/internal/pyjson"
)

// Limits on the shape of values, the same for writing and reading, so that
// whatever one Go service writes another can read. Python's json module
// stops near the same depth (its recursion limit is 1000).
const (
	// maxValueDepth bounds the nesting of arrays, maps and structs (JSON
	// objects and lists). A cyclic value nests without end, so it is caught
	// too. It is the Python codec's parse limit, so every codec agrees.
	maxValueDepth = pyjson.MaxDepth
	// A decoder may be asked to allocate at most decodeBudgetBase +
	// decodeBudgetRatio × the value's size, estimated from its structure
	// before decoding: a flat array of a million empty maps is 1 MB on the
	// wire but half a gigabyte in memory.
	decodeBudgetBase  = 16 << 20
	decodeBudgetRatio = 16
	// Bytes estimated per decoded container (a map or slice with its
	// header) and per other element (a boxed scalar) when the destination
	// has interfaces or maps; typed destinations count their element sizes.
	containerCost = 64
	elementCost   = 16
)

func decodeBudget(size int) int { return decodeBudgetBase + decodeBudgetRatio*size }

func errTooDeep(what any) error {
	return fmt.Errorf("%w: %v nests deeper than %d levels or contains a cycle", ErrValueTooComplex, what, maxValueDepth)
}

func errTooLarge(size int) error {
	return fmt.Errorf("%w: a value of %d bytes would take more than %d MiB to decode",
		ErrValueTooComplex, size, decodeBudget(size)>>20)
}

// decodeWeights are the bytes a decoder is assumed to allocate for each
// element and each container it reads.
type decodeWeights struct{ element, container int }

// weightsFor returns the weights for decoding into dest, a pointer.
func weightsFor(dest any) decodeWeights {
	t := reflect.TypeOf(dest)
	if t == nil || t.Kind() != reflect.Pointer {
		return decodeWeights{elementCost, containerCost}
	}
	return valueTypeOf(t.Elem()).weights
}

// shapeWalker works out, from a type alone, how deep its values can nest
// and what decoding them may allocate.
type shapeWalker struct {
	onPath  map[reflect.Type]bool
	open    bool // an interface or a recursive type: depth is unbounded
	elem    int
	dynamic bool
	maps    bool
}

// opaque reports whether every built-in serializer writes t through its
// own methods (time.Time, big.Int and other TextMarshalers, types with both
// a JSON and a MessagePack codec), so its insides do not matter.
func opaque(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	impl := func(it reflect.Type) bool { return t.Implements(it) || pt.Implements(it) }
	if impl(textMarshalerType) {
		return true
	}
	return impl(jsonMarshalerType) &&
		(impl(msgpackEncoderType) || impl(msgpackMarshalerType) || impl(binaryMarshalerType))
}

// depth returns the deepest container nesting values of t can have.
func (s *shapeWalker) depth(t reflect.Type) int {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
	default:
		return 0
	}
	if opaque(t) {
		s.dynamic = true
		return 0
	}
	if s.onPath[t] {
		s.open = true
		return 0
	}
	s.onPath[t] = true
	defer delete(s.onPath, t)
	switch t.Kind() {
	case reflect.Pointer:
		s.elem = max(s.elem, int(t.Elem().Size()))
		return s.depth(t.Elem())
	case reflect.Interface:
		s.open, s.dynamic, s.maps = true, true, true
		return 0
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return 0
		}
		s.elem = max(s.elem, int(t.Elem().Size()))
		return 1 + s.depth(t.Elem())
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return 0
		}
		return 1 + s.depth(t.Elem())
	case reflect.Map:
		s.dynamic, s.maps = true, true
		s.elem = max(s.elem, int(t.Key().Size()+t.Elem().Size()))
		return 1 + max(s.depth(t.Key()), s.depth(t.Elem()))
	}
	d := 0
	for i := range t.NumField() {
		if f := t.Field(i); serializedField(f) {
			d = max(d, s.depth(f.Type))
		}
	}
	return 1 + d
}

// serializedField reports whether the serializers write struct field f:
// exported or embedded, and not tagged json:"-".
func serializedField(f reflect.StructField) bool {
	return (f.IsExported() || f.Anonymous) && f.Tag.Get("json") != "-"
}

// checkValue refuses v when it nests deeper than maxValueDepth, which
// includes every cyclic value, before anything is encoded.
func checkValue(v any) error {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	return checkNesting(rv, valueTypeOf(rv.Type()))
}

// checkNesting is checkValue for a value of type vt. Only types that can
// nest without bound (interfaces, recursive types) are walked.
func checkNesting(v reflect.Value, vt *valueType) error {
	switch {
	case vt.depth > maxValueDepth:
		return errTooDeep(v.Type())
	case vt.depth >= 0:
		return nil
	}
	var ok bool
	if v.CanInterface() {
		ok = nestingOK(v.Interface(), 0, 0)
	} else {
		ok = nestingOKValue(v, 0, 0)
	}
	if !ok {
		return errTooDeep(v.Type())
	}
	return nil
}

// nestingOK walks a value held in an interface, with the shapes JSON and
// MessagePack decode into handled without reflection. depth counts
// containers, hops pointers and interfaces (a cycle of pointers alone
// holds no container).
func nestingOK(x any, depth, hops int) bool {
	switch x := x.(type) {
	case nil, string, bool, float64, int, int64, []byte:
		return true
	case map[string]any:
		if depth++; depth > maxValueDepth {
			return false
		}
		for _, el := range x {
			if !nestingOK(el, depth, hops) {
				return false
			}
		}
		return true
	case []any:
		if depth++; depth > maxValueDepth {
			return false
		}
		for _, el := range x {
			if !nestingOK(el, depth, hops) {
				return false
			}
		}
		return true
	}
	return nestingOKValue(reflect.ValueOf(x), depth, hops)
}

func nestingOKValue(v reflect.Value, depth, hops int) bool {
	if depth > maxValueDepth || hops > maxValueDepth {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return true
		}
		if v.Kind() == reflect.Interface && v.CanInterface() {
			return nestingOK(v.Interface(), depth, hops+1)
		}
		return nestingOKValue(v.Elem(), depth, hops+1)
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
	default:
		return true
	}
	vt := valueTypeOf(v.Type())
	if vt.depth >= 0 {
		return depth+vt.depth <= maxValueDepth
	}
	depth++
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if !nestingOKValue(v.Index(i), depth, hops) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !nestingOKValue(it.Key(), depth, hops) || !nestingOKValue(it.Value(), depth, hops) {
				return false
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if serializedField(t.Field(i)) && !nestingOKValue(v.Field(i), depth, hops) {
				return false
			}
		}
	}
	return true
}

// mpFixed[b] is the size of a MessagePack value whose type byte b fixes it,
// 0 for containers, strings and binaries with a length field, and 0xc1.
var mpFixed = func() (t [256]uint8) {
	for b := range 256 {
		switch {
		case b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3:
			t[b] = 1
		case b >= 0xa0 && b <= 0xbf:
			t[b] = uint8(1 + b&0x1f)
		}
	}
	for b, n := range map[int]uint8{0xcc: 2, 0xd0: 2, 0xcd: 3, 0xd1: 3, 0xca: 5, 0xce: 5, 0xd2: 5,
		0xcb: 9, 0xcf: 9, 0xd3: 9, 0xd4: 3, 0xd5: 4, 0xd6: 6, 0xd7: 10, 0xd8: 18} {
		t[b] = n
	}
	return t
}()

func mpMalformed(at int, why string) error {
	return fmt.Errorf("msgpack: malformed value at byte %d: %s", at, why)
}

// mpHeader reads the header of the MessagePack value at data[i], whose type
// byte is not in mpFixed: the size of its type and length bytes, the payload
// bytes after them, and how many values it holds (two per map entry; -1 for
// a string, binary or extension). It checks that the declared lengths fit
// in data.
func mpHeader(data []byte, i int) (head, payload, items int, isMap bool, err error) {
	b := data[i]
	switch {
	case b >= 0x80 && b <= 0x8f:
		head, items, isMap = 1, 2*int(b&0x0f), true
	case b >= 0x90 && b <= 0x9f:
		head, items = 1, int(b&0x0f)
	default:
		items = -1
		var lenBytes, extra int
		var isItems bool
		switch b {
		case 0xc4, 0xd9:
			lenBytes = 1
		case 0xc5, 0xda:
			lenBytes = 2
		case 0xc6, 0xdb:
			lenBytes = 4
		case 0xc7:
			lenBytes, extra = 1, 1
		case 0xc8:
			lenBytes, extra = 2, 1
		case 0xc9:
			lenBytes, extra = 4, 1
		case 0xdc:
			lenBytes, isItems = 2, true
		case 0xdd:
			lenBytes, isItems = 4, true
		case 0xde:
			lenBytes, isItems, isMap = 2, true, true
		case 0xdf:
			lenBytes, isItems, isMap = 4, true, true
		default:
			return 0, 0, 0, false, mpMalformed(i, fmt.Sprintf("invalid type byte 0x%02x", b))
		}
		if len(data)-i-1 < lenBytes {
			return 0, 0, 0, false, mpMalformed(i+1, "truncated length")
		}
		n := 0
		for _, x := range data[i+1 : i+1+lenBytes] {
			n = n<<8 | int(x)
		}
		head = 1 + lenBytes
		switch {
		case isMap:
			items = 2 * n
		case isItems:
			items = n
		default:
			payload = n + extra
		}
	}
	rest := len(data) - i - head
	if payload > rest {
		return 0, 0, 0, false, mpMalformed(i+head, fmt.Sprintf("declares %d bytes, %d remain", payload, rest))
	}
	if items > rest {
		return 0, 0, 0, false, mpMalformed(i+head, fmt.Sprintf("declares %d elements, %d bytes remain", items, rest))
	}
	return head, payload, items, isMap, nil
}

// checkMsgpack verifies that data is exactly one well-framed MessagePack
// value within the limits: every declared length fits in the bytes that
// follow, nothing trails, containers nest at most maxValueDepth deep, and
// decoding into a destination with weights w stays within decodeBudget. It
// does not allocate for values nested less than 32 deep.
func checkMsgpack(data []byte, w decodeWeights) error {
	budget := decodeBudget(len(data))
	var stackBuf [32]int
	stack := stackBuf[:0] // values left to read in each open container
	pending, i, cost := 1, 0, 0
	for {
		for pending == 0 {
			if len(stack) == 0 {
				if i != len(data) {
					return fmt.Errorf("msgpack: %d trailing bytes after the value", len(data)-i)
				}
				return nil
			}
			pending = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
		if i >= len(data) {
			return mpMalformed(i, "unexpected end")
		}
		pending--
		if b := data[i]; mpFixed[b] != 0 {
			n := int(mpFixed[b])
			if n > len(data)-i {
				return mpMalformed(i+1, fmt.Sprintf("declares %d bytes, %d remain", n-1, len(data)-i-1))
			}
			i += n
			cost += w.element
			// A run of values of one fixed-size type (a vector of floats)
			// steps by a constant, which the CPU runs far faster than a
			// table lookup per value.
			for pending > 0 && n <= len(data)-i && data[i] == b {
				i += n
				pending--
				cost += w.element
			}
			if cost > budget {
				return errTooLarge(len(data))
			}
			continue
		}
		var items int
		if b := data[i]; b&0xe0 == 0x80 { // fixmap or fixarray, the common containers
			items = int(b & 0x0f)
			if b < 0x90 {
				items *= 2
			}
			i++
			if items > len(data)-i {
				return mpMalformed(i, fmt.Sprintf("declares %d elements, %d bytes remain", items, len(data)-i))
			}
		} else {
			head, payload, n, _, err := mpHeader(data, i)
			if err != nil {
				return err
			}
			i += head + payload
			items = n
		}
		if items < 0 {
			cost += w.element // a string, binary or extension
		} else {
			if len(stack) >= maxValueDepth {
				return errTooDeep("value")
			}
			cost += w.container
			if items > 0 {
				stack = append(stack, pending)
				pending = items
			}
		}
		if cost > budget {
			return errTooLarge(len(data))
		}
	}
}

// jsonStructural marks the bytes checkJSON looks at.
var jsonStructural = func() (t [256]bool) {
	for _, c := range `"[]{},:` {
		t[c] = true
	}
	return t
}()

// checkJSON checks the nesting depth of JSON text and estimates what
// decoding it into a destination with weights w allocates, without parsing
// it: malformed text is left to the decoder (so is an unbalanced run of
// brackets too short to hold 1000 levels). A first pass counts only the
// brackets, eight bytes at a time, and bounds the other elements by the
// text's length (each takes at least two bytes with its separator); only
// when that bound is over the budget does a second pass count them.
func checkJSON(data []byte, w decodeWeights) error {
	budget := decodeBudget(len(data))
	// A valid value nested deeper than maxValueDepth takes more than twice
	// as many bytes (a bracket to open and one to close each level), and no
	// text holds more elements than bytes: short text needs no pass.
	if len(data) <= 2*maxValueDepth && (len(data)+1)*max(w.container, w.element) <= budget {
		return nil
	}
	containers, err := jsonContainers(data)
	if err != nil {
		return err
	}
	if containers*w.container+(len(data)+1)/2*w.element <= budget {
		return nil
	}
	cost := 0
	for i := 0; i < len(data); i++ {
		if !jsonStructural[data[i]] {
			continue
		}
		switch data[i] {
		case '"':
			if i = jsonStringEnd(data, i); i < 0 {
				return nil // unterminated: the decoder says so
			}
			continue
		case '[', '{':
			cost += w.container
		case ',', ':':
			cost += w.element
		}
		if cost > budget {
			return errTooLarge(len(data))
		}
	}
	return nil
}

// jsonStringEnd returns the index of the quote that closes the string
// opened at data[i], or -1.
func jsonStringEnd(data []byte, i int) int {
	for {
		j := bytes.IndexByte(data[i+1:], '"')
		if j < 0 {
			return -1
		}
		i += 1 + j
		k := i - 1
		for data[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 {
			return i
		}
	}
}

// jsonContainers counts the arrays and objects of JSON text outside its
// strings, and refuses nesting deeper than maxValueDepth. Words of eight
// bytes without a bracket or quote (most of a list of numbers) are skipped
// whole.
func jsonContainers(data []byte) (int, error) {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	// has reports whether a byte of x equals the byte in every byte of c.
	has := func(x, c uint64) bool { t := x ^ c; return (t-ones)&^t&highs != 0 }
	depth, containers := 0, 0
	for i := 0; i < len(data); {
		if len(data)-i >= 8 {
			x := binary.LittleEndian.Uint64(data[i:])
			y := x | 0x20*ones // [ and ] become { and }
			if !has(y, '{'*ones) && !has(y, '}'*ones) && !has(x, '"'*ones) {
				i += 8
				continue
			}
		}
		end := min(i+8, len(data))
	word:
		for i < end {
			c := data[i]
			i++
			switch c {
			case '"':
				j := jsonStringEnd(data, i-1)
				if j < 0 {
					return containers, nil // unterminated: the decoder says so
				}
				i = j + 1
				break word // go on from the byte after the string
			case '[', '{':
				if depth++; depth > maxValueDepth {
					return 0, errTooDeep("value")
				}
				containers++
			case ']', '}':
				depth--
			}
		}
	}
	return containers, nil
}
