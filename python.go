package redisclient

import (
	"fmt"
	"time"

	"github.com/systemtrader/redisclient/internal/pyjson"
)

// PythonCompatOptions returns Options that share one Redis with the Python
// service's RedisClient: namespace "trading", separator ":", a default TTL of
// 86400 s, values in Python's layout (PythonJSONSerializer: strings raw,
// numbers as their decimal text, lists, dicts and structs as the JSON
// Python's json.dumps writes) and Client.HashInput computing the Python
// service's md5 hash (HashPythonMD5), so model predictions are cached under
// the same keys by both. Channels are namespaced the same way as keys.
//
// Set the address fields (URL, Addr, ...) on the result before passing it to
// New; Namespace may be overridden, for example to isolate tests.
func PythonCompatOptions() Options {
	return Options{
		Namespace:  DefaultNamespace,
		Separator:  DefaultSeparator,
		DefaultTTL: 86400 * time.Second,
		Serializer: PythonJSONSerializer{},
		HashMode:   HashPythonMD5,
	}
}

// PythonJSONSerializer reads and writes values the way the Python service
// does, so both sides can read what the other wrote.
//
// Marshal writes what Python's json.dumps writes with its defaults:
// separators ", " and ": ", non-ASCII characters as \uXXXX escapes, floats
// in Python's repr form (3.0, 1e-05, 1e+16), NaN and ±Infinity as Python's
// NaN, Infinity and -Infinity tokens (which Python reads back, but strict
// JSON parsers such as encoding/json reject), and integers of any size as
// their digits. Structs are objects named by their `json` tags with the
// encoding/json rules (omitempty, omitzero, "-", ",string", embedded
// structs) in field order; json.Marshaler and encoding.TextMarshaler are
// honoured. Python keeps a dict's insertion order but Go maps have none, so
// map keys are written sorted (Python's sort_keys order), which makes the
// output deterministic. []byte, complex numbers, channels, functions and
// cyclic values are errors, as they are for json.dumps; so are values
// nested deeper than 1000 levels, which Unmarshal refuses too
// (ErrValueTooComplex), as it refuses JSON that would expand far beyond its
// size. A Client stores strings, []byte and numbers raw without calling
// Marshal, as Python does.
//
// Unmarshal reads JSON as Python's json.loads does, NaN and Infinity
// included, into any Go value encoding/json can decode into (struct fields
// matched as encoding/json matches them). A *any destination receives
// Python's types: int64 for integers (*big.Int beyond int64), float64 for
// floats, string, bool, nil, []any and map[string]any; interface values
// nested in other destinations receive the same. Like the Python service's
// get, a *any destination falls back to the text itself when the data is
// not JSON, and so does a *string destination when the data is not a JSON
// string. A *bool destination also accepts Python's "True" and "False" (how
// Python stores a bool). A Python pickle is ErrUnsupportedFormat.
type PythonJSONSerializer struct{}

// Marshal implements Serializer.
func (PythonJSONSerializer) Marshal(v any) ([]byte, error) {
	if err := checkValue(v); err != nil {
		return nil, err
	}
	b, err := pyjson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("python json: %w", err)
	}
	return b, nil
}

// Unmarshal implements Serializer.
func (PythonJSONSerializer) Unmarshal(data []byte, v any) error {
	if err := refusePickle(data); err != nil {
		return err
	}
	if err := checkJSON(data, weightsFor(v)); err != nil {
		return err
	}
	if err := pyjson.Unmarshal(data, v); err != nil {
		return fmt.Errorf("python json: %w", err)
	}
	return nil
}

// pythonHashInput is HashPythonMD5's digest: the Python service's
// hash_input, with the Go-to-Python value rules of pyjson.Hash.
func pythonHashInput(input any) (string, error) {
	h, err := pyjson.Hash(input)
	if err != nil {
		return "", fmt.Errorf("python hash: %w", err)
	}
	return h, nil
}
