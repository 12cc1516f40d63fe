package redisclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// Serializer encodes and decodes values stored by a Client. It sees every
// value except []byte, string and numbers, which are stored as they are
// (numbers as decimal text, so INCR, redis-cli and Python read them too).
// Implementations must be safe for concurrent use.
type Serializer interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// MsgpackSerializer encodes values as MessagePack, the default. Struct fields
// are named by their `json` tags, so a struct has the same shape here as in
// JSONSerializer. Decoding rejects trailing bytes, so text that is not
// MessagePack is an error rather than a wrong value.
type MsgpackSerializer struct{}

type msgpackCodec struct {
	buf bytes.Buffer
	rd  bytes.Reader
	enc *msgpack.Encoder
	dec *msgpack.Decoder
}

var msgpackPool = sync.Pool{New: func() any {
	c := &msgpackCodec{}
	c.enc = msgpack.NewEncoder(&c.buf)
	c.enc.SetCustomStructTag("json")
	c.dec = msgpack.NewDecoder(&c.rd)
	c.dec.SetCustomStructTag("json")
	return c
}}

// Marshal implements Serializer.
func (MsgpackSerializer) Marshal(v any) ([]byte, error) {
	c := msgpackPool.Get().(*msgpackCodec)
	defer msgpackPool.Put(c)
	c.buf.Reset()
	if err := c.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(c.buf.Bytes()), nil
}

// Unmarshal implements Serializer. It checks the framing first, so a corrupt
// length can never make the decoder allocate more than the payload could
// hold.
func (MsgpackSerializer) Unmarshal(data []byte, v any) error {
	if err := checkMsgpack(data); err != nil {
		return err
	}
	c := msgpackPool.Get().(*msgpackCodec)
	defer msgpackPool.Put(c)
	c.rd.Reset(data)
	c.dec.ResetReader(&c.rd)
	return c.dec.Decode(v)
}

// checkMsgpack verifies that data is exactly one well-framed MessagePack
// value: every declared length fits in the bytes that follow, and nothing
// trails. It does not allocate.
func checkMsgpack(data []byte) error {
	malformed := func(at int, why string) error {
		return fmt.Errorf("msgpack: malformed value at byte %d: %s", at, why)
	}
	pending, i := 1, 0
	for pending > 0 {
		if i >= len(data) {
			return malformed(i, "unexpected end")
		}
		pending--
		b := data[i]
		i++
		var skip, items int // payload bytes to skip, child values to read
		switch {
		case b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3:
		case b >= 0x80 && b <= 0x8f:
			items = 2 * int(b&0x0f)
		case b >= 0x90 && b <= 0x9f:
			items = int(b & 0x0f)
		case b >= 0xa0 && b <= 0xbf:
			skip = int(b & 0x1f)
		default:
			var lenBytes, extra int
			var isItems, isMap bool
			switch b {
			case 0xcc, 0xd0:
				skip = 1
			case 0xcd, 0xd1:
				skip = 2
			case 0xca, 0xce, 0xd2:
				skip = 4
			case 0xcb, 0xcf, 0xd3:
				skip = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
				skip = 1 + 1<<(b-0xd4)
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
				return malformed(i-1, fmt.Sprintf("invalid type byte 0x%02x", b))
			}
			if lenBytes > 0 {
				if len(data)-i < lenBytes {
					return malformed(i, "truncated length")
				}
				n := 0
				for _, x := range data[i : i+lenBytes] {
					n = n<<8 | int(x)
				}
				i += lenBytes
				switch {
				case isMap:
					items = 2 * n
				case isItems:
					items = n
				default:
					skip = n + extra
				}
			}
		}
		if skip > len(data)-i {
			return malformed(i, fmt.Sprintf("declares %d bytes, %d remain", skip, len(data)-i))
		}
		i += skip
		if items > len(data)-i {
			return malformed(i, fmt.Sprintf("declares %d elements, %d bytes remain", items, len(data)-i))
		}
		pending += items
	}
	if i != len(data) {
		return fmt.Errorf("msgpack: %d trailing bytes after the value", len(data)-i)
	}
	return nil
}

// JSONSerializer encodes values as JSON with encoding/json, readable by
// redis-cli and by the Python service.
type JSONSerializer struct{}

// Marshal implements Serializer.
func (JSONSerializer) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements Serializer.
func (JSONSerializer) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// encodeValue returns what is written to Redis for v: strings and byte slices
// as they are, numbers as decimal text, anything else through s.
func encodeValue(s Serializer, v any) (any, error) {
	switch x := v.(type) {
	case string, []byte:
		return x, nil
	case int:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case float64:
		return formatFloat(x), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), nil
	case nil:
		return nil, errors.New("cannot store a nil value")
	}
	b, err := s.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// formatFloat writes f as Python's str(f) does ("3.0", "1e-05", "inf"), so
// whole floats stay floats for every reader.
func formatFloat(f float64) string {
	var buf [32]byte
	return string(appendPyStrFloat(buf[:0], f))
}

// looksLikePickle reports whether data starts like a Python pickle of
// protocol 2 or later: 0x80 then the protocol number. A lone 0x80 is an
// empty MessagePack map, so one byte is not enough to tell.
func looksLikePickle(data []byte) bool {
	return len(data) >= 2 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5
}

// decodeString is decodeValue for a reply held as a string, as go-redis
// returns it: *string takes it without a copy, and the built-in serializers
// read it in place (they never keep the input), saving a copy per read.
func decodeString(s Serializer, data string, dest any) error {
	switch d := dest.(type) {
	case *string:
		*d = data
		return nil
	case *[]byte:
		*d = []byte(data)
		return nil
	}
	switch s.(type) {
	case MsgpackSerializer, JSONSerializer:
		return decodeValue(s, unsafe.Slice(unsafe.StringData(data), len(data)), dest)
	}
	return decodeValue(s, []byte(data), dest)
}

// decodeValue stores data into dest. Raw destinations (*[]byte, *string)
// take the bytes as they are; numeric destinations parse decimal text; *any
// gets a number for decimal text, else the serializer's result, else the
// text itself (as Python reads). Anything else goes through s, and a Python
// pickle is ErrUnsupportedFormat. It never panics on corrupt input.
func decodeValue(s Serializer, data []byte, dest any) (err error) {
	switch d := dest.(type) {
	case nil:
		return errors.New("decode: destination is nil")
	case *[]byte:
		*d = data
		return nil
	case *string:
		*d = string(data)
		return nil
	case *any:
		if looksLikePickle(data) {
			return pickleError()
		}
		if n, ok := parseNumber(data); ok {
			*d = n
			return nil
		}
		if err := safeUnmarshal(s, data, d); err == nil {
			return nil
		} else if !utf8.Valid(data) {
			return err
		}
		*d = string(data)
		return nil
	}
	if ok, err := decodeNumber(data, dest); ok {
		return err
	}
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode: destination must be a non-nil pointer, got %T", dest)
	}
	if looksLikePickle(data) {
		return pickleError()
	}
	return safeUnmarshal(s, data, dest)
}

func pickleError() error {
	return fmt.Errorf("%w: value is a Python pickle, which Go cannot decode", ErrUnsupportedFormat)
}

func safeUnmarshal(s Serializer, data []byte, dest any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode: corrupt value: %v", r)
		}
	}()
	if err := s.Unmarshal(data, dest); err != nil {
		return fmt.Errorf("decode into %T: %w", dest, err)
	}
	return nil
}

// parseNumber reads decimal text as int64, *big.Int (integers beyond int64)
// or float64. "inf", "nan" and other words stay text, as Python reads them.
func parseNumber(data []byte) (any, bool) {
	if len(data) == 0 || len(data) > 400 {
		return nil, false
	}
	for _, c := range data {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return nil, false
		}
	}
	s := string(data)
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

// decodeNumber handles pointers to Go numbers, which are stored as decimal
// text. It reports false for other destinations, and leaves dest untouched
// on error.
func decodeNumber(data []byte, dest any) (bool, error) {
	switch dest.(type) {
	case *int, *int64, *int32, *uint64, *uint, *float64, *float32:
	default:
		return false, nil
	}
	s := string(data)
	var err error
	switch d := dest.(type) {
	case *int:
		err = parseInto(d, s, func(s string) (int, error) { n, err := strconv.ParseInt(s, 10, 0); return int(n), err })
	case *int64:
		err = parseInto(d, s, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
	case *int32:
		err = parseInto(d, s, func(s string) (int32, error) { n, err := strconv.ParseInt(s, 10, 32); return int32(n), err })
	case *uint64:
		err = parseInto(d, s, func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) })
	case *uint:
		err = parseInto(d, s, func(s string) (uint, error) { n, err := strconv.ParseUint(s, 10, 0); return uint(n), err })
	case *float64:
		err = parseInto(d, s, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	case *float32:
		err = parseInto(d, s, func(s string) (float32, error) { f, err := strconv.ParseFloat(s, 32); return float32(f), err })
	default:
		return false, nil
	}
	if err != nil {
		if looksLikePickle(data) {
			return true, pickleError()
		}
		return true, fmt.Errorf("decode into %T: value is not a decimal number", dest)
	}
	return true, nil
}

func parseInto[N any](dest *N, s string, parse func(string) (N, error)) error {
	n, err := parse(s)
	if err != nil {
		return err
	}
	*dest = n
	return nil
}
