package redisclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"unicode/utf8"

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

// Unmarshal implements Serializer.
func (MsgpackSerializer) Unmarshal(data []byte, v any) error {
	c := msgpackPool.Get().(*msgpackCodec)
	defer msgpackPool.Put(c)
	c.rd.Reset(data)
	c.dec.ResetReader(&c.rd)
	if err := c.dec.Decode(v); err != nil {
		return err
	}
	if n := c.rd.Len(); n > 0 {
		return fmt.Errorf("msgpack: %d trailing bytes after the value", n)
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

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// looksLikePickle reports whether data starts like a Python pickle of
// protocol 2 or later: 0x80 then the protocol number. A lone 0x80 is an
// empty MessagePack map, so one byte is not enough to tell.
func looksLikePickle(data []byte) bool {
	return len(data) >= 2 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5
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

// parseNumber reads decimal text as int64 or float64.
func parseNumber(data []byte) (any, bool) {
	if len(data) == 0 || len(data) > 64 {
		return nil, false
	}
	s := string(data)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	}
	if c := data[0]; c != '-' && c != '+' && c != '.' && (c < '0' || c > '9') {
		return nil, false // "inf", "nan" and words stay text
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, true
	}
	return nil, false
}

// decodeNumber handles pointers to Go numbers, which are stored as decimal
// text. It reports false for other destinations.
func decodeNumber(data []byte, dest any) (bool, error) {
	s := string(data)
	var err error
	switch d := dest.(type) {
	case *int:
		var n int64
		n, err = strconv.ParseInt(s, 10, 0)
		*d = int(n)
	case *int64:
		*d, err = strconv.ParseInt(s, 10, 64)
	case *int32:
		var n int64
		n, err = strconv.ParseInt(s, 10, 32)
		*d = int32(n)
	case *uint64:
		*d, err = strconv.ParseUint(s, 10, 64)
	case *uint:
		var n uint64
		n, err = strconv.ParseUint(s, 10, 0)
		*d = uint(n)
	case *float64:
		*d, err = strconv.ParseFloat(s, 64)
	case *float32:
		var f float64
		f, err = strconv.ParseFloat(s, 32)
		*d = float32(f)
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
