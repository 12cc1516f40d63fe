package redisclient

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Serializer encodes and decodes values stored by a Client. It sees every
// value except strings, byte slices and numbers (named types of them too),
// which are stored as they are (numbers as decimal text, so INCR, redis-cli
// and Python read them too). Implementations must be safe for concurrent use.
//
// The Client refuses values nested deeper than 1000 levels (and cyclic
// values) before Marshal sees them. The built-in serializers also bound what
// Unmarshal decodes (ErrValueTooComplex); a custom one must bound its own
// decoding if it reads data from untrusted writers.
type Serializer interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// MsgpackSerializer encodes values as MessagePack, the default. Struct fields
// are named by their `json` tags, so a struct has the same shape here as in
// JSONSerializer. Map keys are written sorted (strings by their bytes, before
// other keys), so equal values give equal bytes. Decoding rejects trailing
// bytes, so text that is not MessagePack is an error rather than a wrong
// value.
type MsgpackSerializer struct{}

type msgpackCodec struct {
	buf    bytes.Buffer
	rd     bytes.Reader
	enc    *msgpack.Encoder
	dec    *msgpack.Decoder
	sorter mpSorter
}

var msgpackPool = sync.Pool{New: func() any {
	c := &msgpackCodec{}
	c.enc = msgpack.NewEncoder(&c.buf)
	c.enc.SetCustomStructTag("json")
	c.enc.SetSortMapKeys(true) // the common map types; mpSorter does the rest
	c.dec = msgpack.NewDecoder(&c.rd)
	c.dec.SetCustomStructTag("json")
	return c
}}

// Marshal implements Serializer. A value nested deeper than 1000 levels, or
// cyclic, is ErrValueTooComplex.
func (MsgpackSerializer) Marshal(v any) ([]byte, error) {
	var vt *valueType
	if v != nil {
		rv := reflect.ValueOf(v)
		vt = valueTypeOf(rv.Type())
		if err := checkNesting(rv, vt); err != nil {
			return nil, err
		}
	}
	c := msgpackPool.Get().(*msgpackCodec)
	defer msgpackPool.Put(c)
	c.buf.Reset()
	if err := c.enc.Encode(v); err != nil {
		return nil, err
	}
	if vt != nil && vt.maps {
		if err := c.sorter.sort(c.buf.Bytes()); err != nil {
			return nil, err
		}
	}
	return bytes.Clone(c.buf.Bytes()), nil
}

// Unmarshal implements Serializer. It checks the framing and the limits
// first, so a corrupt length or a hostile value can never make the decoder
// overflow its stack or allocate far more than the payload holds.
func (MsgpackSerializer) Unmarshal(data []byte, v any) error {
	if err := checkMsgpack(data, weightsFor(v)); err != nil {
		return err
	}
	c := msgpackPool.Get().(*msgpackCodec)
	defer msgpackPool.Put(c)
	c.rd.Reset(data)
	c.dec.ResetReader(&c.rd)
	return c.dec.Decode(v)
}

// mpSorter puts the entries of every map of a MessagePack value in a fixed
// order, in place: by key, string keys by their bytes and before other keys,
// which compare by their encoding. Inner maps are sorted before the map
// that holds them, so equal values end up with equal bytes.
type mpSorter struct {
	buf  []byte
	ents []mpEntry // entries of the maps being sorted, innermost last
	tmp  []byte
}

// mpEntry is one map entry: its key starts at key, its value at val, and
// it ends at end.
type mpEntry struct{ key, val, end int }

func (s *mpSorter) sort(buf []byte) error {
	s.buf = buf
	defer func() { s.buf = nil }()
	end, err := s.value(0, 0)
	if err == nil && end != len(buf) {
		err = mpMalformed(end, "trailing bytes")
	}
	return err
}

// value sorts the maps inside the value at s.buf[i:] and returns its end.
func (s *mpSorter) value(i, depth int) (int, error) {
	if i >= len(s.buf) {
		return 0, mpMalformed(i, "unexpected end")
	}
	if n := int(mpFixed[s.buf[i]]); n != 0 {
		return i + n, nil
	}
	if depth >= maxValueDepth {
		return 0, errTooDeep("value")
	}
	head, payload, items, isMap, err := mpHeader(s.buf, i)
	if err != nil {
		return 0, err
	}
	i += head + payload
	if !isMap {
		for range items {
			if i, err = s.value(i, depth+1); err != nil {
				return 0, err
			}
		}
		return i, nil
	}
	start, base := i, len(s.ents)
	for range items / 2 {
		key := i
		if i, err = s.value(i, depth+1); err != nil {
			return 0, err
		}
		val := i
		if i, err = s.value(i, depth+1); err != nil {
			return 0, err
		}
		s.ents = append(s.ents, mpEntry{key, val, i})
	}
	ents := s.ents[base:]
	buf := s.buf
	cmp := func(a, b mpEntry) int {
		if c := compareMsgpackKeys(buf[a.key:a.val], buf[b.key:b.val]); c != 0 {
			return c
		}
		return bytes.Compare(buf[a.val:a.end], buf[b.val:b.end]) // NaN keys
	}
	if len(ents) > 1 && !slices.IsSortedFunc(ents, cmp) {
		s.tmp = append(s.tmp[:0], buf[start:i]...)
		slices.SortFunc(ents, cmp)
		w := start
		for _, e := range ents {
			w += copy(buf[w:], s.tmp[e.key-start:e.end-start])
		}
	}
	s.ents = s.ents[:base]
	return i, nil
}

// compareMsgpackKeys orders two encoded keys: strings by their bytes and
// before anything else, other keys by their encoding.
func compareMsgpackKeys(a, b []byte) int {
	as, aok := msgpackString(a)
	bs, bok := msgpackString(b)
	switch {
	case aok && bok:
		return bytes.Compare(as, bs)
	case aok:
		return -1
	case bok:
		return 1
	}
	return bytes.Compare(a, b)
}

// msgpackString returns the bytes of an encoded MessagePack string.
func msgpackString(v []byte) ([]byte, bool) {
	switch b := v[0]; {
	case b >= 0xa0 && b <= 0xbf:
		return v[1:], true
	case b == 0xd9:
		return v[2:], true
	case b == 0xda:
		return v[3:], true
	case b == 0xdb:
		return v[5:], true
	}
	return nil, false
}

// JSONSerializer encodes values as JSON with encoding/json, readable by
// redis-cli and by the Python service. Map keys are written sorted, as
// encoding/json does.
type JSONSerializer struct{}

// Marshal implements Serializer. A value nested deeper than 1000 levels, or
// cyclic, is ErrValueTooComplex.
func (JSONSerializer) Marshal(v any) ([]byte, error) {
	if err := checkValue(v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Unmarshal implements Serializer. JSON nested deeper than 1000 levels, or
// that would expand far beyond its size, is ErrValueTooComplex.
func (JSONSerializer) Unmarshal(data []byte, v any) error {
	if err := checkJSON(data, weightsFor(v)); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
