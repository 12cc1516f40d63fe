package pyjson

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Parsed JSON, as Python's json.loads reads it: nil, bool, string, number
// (an int, as its text), float64, []any and object.
type (
	number string
	object []member
	member struct {
		key string
		val any
	}
)

// parse parses JSON as Python's json.loads does, accepting NaN,
// Infinity and -Infinity. A later duplicate key replaces the value in place,
// as in a Python dict. strict rejects lone surrogate escapes, which Go
// strings cannot hold; otherwise they become U+FFFD as in encoding/json.
func parse(data []byte, strict bool) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	p := parser{data: data, strict: strict}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf("extra data")
	}
	return v, nil
}

// parser reads JSON text from data at pos.
type parser struct {
	data   []byte
	pos    int
	strict bool
}

// errorf is a parse error at the current offset.
func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// skipSpace skips JSON whitespace.
func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// literal consumes word if the text at pos starts with it.
func (p *parser) literal(word string) bool {
	if strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		p.pos += len(word)
		return true
	}
	return false
}

// words are the literals a value can be, by their first byte.
var words = [256]struct {
	text string
	val  any
}{'t': {"true", true}, 'f': {"false", false}, 'n': {"null", nil}, 'N': {"NaN", math.NaN()}, 'I': {"Infinity", math.Inf(1)}}

// value reads the value at p.pos, depth containers deep.
func (p *parser) value(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, p.errorf("nested too deeply")
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of data")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == '-' && p.literal("-Infinity"):
		return math.Inf(-1), nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case words[c].text != "" && p.literal(words[c].text):
		return words[c].val, nil
	}
	return nil, p.errorf("unexpected character %q", p.data[p.pos])
}

// number reads the number at p.pos: a float64 with a fraction or exponent,
// else an int as its text.
func (p *parser) number() (any, error) {
	n, isFloat := numberLen(p.data[p.pos:]) // not string(...): that copies the rest of the text for every number
	if n == 0 {
		return nil, p.errorf("malformed number")
	}
	text := p.data[p.pos : p.pos+n]
	p.pos += n
	if isFloat {
		return parseFloat(string(text)), nil // does not escape: no heap copy of a short number
	}
	return number(text), nil
}

// numberLen returns the length of the JSON number at the start of s (0
// if there is none) and whether it has a fraction or exponent.
func numberLen[T string | []byte](s T) (n int, isFloat bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return 0, false
		}
		isFloat = true
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, false
		}
		isFloat = true
	}
	return i, isFloat
}

// parseFloat parses valid JSON number text as Python's float() does:
// overflow gives ±Inf, underflow 0.
func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// str reads the string at p.pos (its opening quote). Strings without
// escapes are sliced out of the text in one piece.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := string(p.data[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	return p.strEscaped(append([]byte(nil), p.data[start:p.pos]...))
}

// strEscaped reads the rest of a string that holds escapes, after buf.
func (p *parser) strEscaped(buf []byte) (string, error) {
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
		case p.pos+1 >= len(p.data):
			return "", p.errorf("unterminated string")
		default:
			var err error
			if buf, err = p.escape(buf); err != nil {
				return "", err
			}
		}
	}
	return "", p.errorf("unterminated string")
}

// simpleEscapes maps the byte after a backslash to the byte it stands for.
var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape appends the character of the escape sequence at p.pos: a
// backslash and at least one more byte.
func (p *parser) escape(buf []byte) ([]byte, error) {
	esc := p.data[p.pos+1]
	p.pos += 2
	if c := simpleEscapes[esc]; c != 0 {
		return append(buf, c), nil
	}
	if esc != 'u' {
		return nil, p.errorf("invalid escape \\%c", esc)
	}
	r, err := p.unicodeEscape()
	if err != nil {
		return nil, err
	}
	return utf8.AppendRune(buf, r), nil
}

// unicodeEscape reads the four hex digits of a \u escape and, after a high
// surrogate, the low surrogate's escape. A lone surrogate is U+FFFD, or an
// error when strict.
func (p *parser) unicodeEscape() (rune, error) {
	r, ok := p.hex4()
	if !ok {
		return 0, p.errorf("invalid \\u escape")
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if r2, ok := p.lowSurrogate(r); ok {
		return utf16.DecodeRune(r, r2), nil
	}
	if p.strict {
		return 0, p.errorf("lone surrogate \\u%04x", r)
	}
	return utf8.RuneError, nil
}

// lowSurrogate reads the \uDCxx escape that completes high surrogate r,
// if one follows; otherwise it leaves p.pos alone.
func (p *parser) lowSurrogate(r rune) (rune, bool) {
	if r >= 0xdc00 || p.pos+1 >= len(p.data) || p.data[p.pos] != '\\' || p.data[p.pos+1] != 'u' {
		return 0, false
	}
	save := p.pos
	p.pos += 2
	if x, ok := p.hex4(); ok && x >= 0xdc00 && x <= 0xdfff {
		return x, true
	}
	p.pos = save
	return 0, false
}

// hex4 reads the four hex digits of a \u escape.
func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(n), true
}

// array reads the list at p.pos (its opening bracket).
func (p *parser) array(depth int) (any, error) {
	p.pos++
	list := []any{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return list, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated list")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return list, nil
		default:
			return nil, p.errorf("expected ',' or ']'")
		}
	}
}

// object reads the object at p.pos (its opening brace).
func (p *parser) object(depth int) (any, error) {
	p.pos++
	b := objectBuilder{obj: object{}}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return b.obj, nil
	}
	for {
		key, v, err := p.member(depth)
		if err != nil {
			return nil, err
		}
		b.set(key, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return b.obj, nil
		default:
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}

// member reads an object member: its key, the colon and its value.
func (p *parser) member(depth int) (string, any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return "", nil, p.errorf("expected a string key")
	}
	key, err := p.str()
	if err != nil {
		return "", nil, err
	}
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != ':' {
		return "", nil, p.errorf("expected ':'")
	}
	p.pos++
	p.skipSpace()
	v, err := p.value(depth + 1)
	return key, v, err
}

// objectBuilder collects an object's members as a Python dict does: a
// later duplicate key replaces the value in place. Past 8 members the keys
// are indexed, so that a large object does not take quadratic time.
type objectBuilder struct {
	obj   object
	index map[string]int
}

// set adds a member, or replaces the value of an earlier one with key.
func (b *objectBuilder) set(key string, v any) {
	if b.index == nil && len(b.obj) >= 8 {
		b.index = make(map[string]int, 2*len(b.obj))
		for i, m := range b.obj {
			b.index[m.key] = i
		}
	}
	at := -1
	if b.index != nil {
		if i, ok := b.index[key]; ok {
			at = i
		}
	} else {
		at = slices.IndexFunc(b.obj, func(m member) bool { return m.key == key })
	}
	if at >= 0 {
		b.obj[at].val = v
		return
	}
	if b.index != nil {
		b.index[key] = len(b.obj)
	}
	b.obj = append(b.obj, member{key, v})
}
