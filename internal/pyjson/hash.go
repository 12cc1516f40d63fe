package pyjson

import (
	"crypto/md5"
	"encoding/hex"
	"reflect"
	"sync"
)

// Hash reproduces the Python service's hash_input(x): when x is a
// dict, list or tuple, the md5 of json.dumps(x, sort_keys=True), otherwise
// the md5 of str(x), as 32 lowercase hex digits of the UTF-8 text.
//
// Go values map to Python values as follows. Maps and structs (as their
// JSON object, by the encoding/json field rules) are dicts; slices and
// arrays are lists, nil slices and maps included (Python has no null list);
// nil pointers and interfaces are None; pointers and interfaces stand for
// what they point to. Integers of every Go type, *big.Int and integral
// json.Number text are Python ints; float64 and float32 (by its shortest
// decimal digits) and json.Number with a fraction or exponent are floats;
// bool is bool; a string is str and must be valid UTF-8; a top-level []byte
// is bytes (str gives b'...'). A json.Marshaler (json.RawMessage included)
// stands for the JSON it writes, parsed as json.loads would, and an
// encoding.TextMarshaler for its text as a str; so a time.Time is the RFC
// 3339 text encoding/json writes for it, the same as hashing that string in
// Python (Python's str of a datetime differs). Maps with int, float or bool
// keys are sorted by value and their keys written as json.dumps writes them
// ("1", "1.5", "true", "null"), as Python sorts dict items before converting
// keys.
//
// Inputs for which Python raises, or which have no Python counterpart, are
// errors: channels, functions, complex numbers, cycles, bytes inside a
// container, invalid UTF-8, map keys other than strings, numbers, bools,
// *big.Int and encoding.TextMarshaler, keys Python cannot sort (strings
// mixed with numbers, None or NaN among other keys) and distinct Go keys
// that are one Python key (1, 1.0 and true).
func Hash(input any) (string, error) {
	e := hashEncoders.Get().(*encoder)
	defer e.release()
	e.digest.Reset()
	if err := e.hashText(input); err != nil {
		return "", err
	}
	e.digest.Write(e.buf)
	var sum [md5.Size]byte
	return hex.EncodeToString(e.digest.Sum(sum[:0])), nil
}

var hashEncoders = sync.Pool{New: func() any { return &encoder{sortKeys: true, digest: md5.New()} }}

// spillSize is how much text a hashing encoder holds before it hands it to
// the digest: hashing a large input streams through one buffer of about this
// size instead of growing a copy of the whole text.
const spillSize = 32 << 10

// spill hands the text written so far to the digest, if the encoder hashes
// and holds spillSize bytes or more. Containers call it between elements.
func (e *encoder) spill() {
	if e.digest != nil && len(e.buf) >= spillSize {
		e.digest.Write(e.buf)
		e.buf = e.buf[:0]
	}
}

// release returns a hashing encoder to the pool, dropping a buffer that
// grew past twice the spill size.
func (e *encoder) release() {
	if cap(e.buf) > 64<<10 {
		e.buf = nil
	}
	e.buf, e.level, e.seen = e.buf[:0], 0, nil
	hashEncoders.Put(e)
}

// hashText writes what hash_input hashes: json.dumps of a container, str
// of anything else.
func (e *encoder) hashText(input any) error {
	v, err := e.normalize(reflect.ValueOf(input))
	if err != nil {
		return err
	}
	if v.kind == kindList || v.kind == kindDict {
		return e.write(v)
	}
	e.writeStr(v)
	return nil
}
