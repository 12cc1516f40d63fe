package redisclient

import (
	"fmt"
	"strings"
	"time"
)

// Namespace returns a child view whose keys and channels live under
// parts appended to this client's namespace: on the default client,
// Namespace("models") writes "trading:models:{key}". The child shares the
// connection pool, breaker and stats of its parent; closing any view closes
// the pool for all of them.
//
// An empty part makes every call on the returned view fail with ErrInvalidKey.
func (c *Client) Namespace(parts ...string) *Client {
	if c.err != nil {
		return c
	}
	if len(parts) == 0 {
		return c.errView(fmt.Errorf("namespace: %w: no parts given", ErrInvalidKey))
	}
	for _, p := range parts {
		if err := validateNamespacePart("namespace part", p, c.sep); err != nil {
			return c.errView(err)
		}
	}
	child := *c
	child.ns = c.ns + c.sep + strings.Join(parts, c.sep)
	child.prefix = child.ns + c.sep
	child.stats = c.shared.stats.get(child.ns)
	return &child
}

// WithSerializer returns a view of the same namespace that encodes values
// with s. A nil s keeps the current serializer.
func (c *Client) WithSerializer(s Serializer) *Client {
	if c.err != nil || s == nil {
		return c
	}
	child := *c
	child.ser = s
	return &child
}

// WithDefaultTTL returns a view of the same namespace whose writes with ttl 0
// expire after ttl, for per-category expiries (market data 1 h, orders 30 s).
// NoExpiry makes ttl 0 mean no expiry; a TTL below 1 ms or another negative
// value makes every write on the view fail with an error naming it.
func (c *Client) WithDefaultTTL(ttl time.Duration) *Client {
	if c.err != nil {
		return c
	}
	if ttl != NoExpiry && ttl < time.Millisecond {
		return c.errView(fmt.Errorf("%w: default TTL %v must be at least 1ms, or NoExpiry", ErrInvalidOptions, ttl))
	}
	child := *c
	child.defaultTTL = ttl
	return &child
}

// Name returns the full namespace of this view, such as "trading:models".
func (c *Client) Name() string { return c.ns }

// Key returns the full Redis key for parts joined under this namespace:
// Key("model", "lstm") is "trading:model:lstm". It does not validate; the
// commands do.
func (c *Client) Key(parts ...string) string {
	return c.prefix + strings.Join(parts, c.sep)
}

// usable returns the error every call on c fails with, if any: the
// construction or view error, or ErrClosed once the pool is closed.
func (c *Client) usable(op, where string) error {
	if c.err != nil {
		return opErr(op, where, c.err)
	}
	if c.shared.closed.Load() {
		return opErr(op, where, ErrClosed)
	}
	return nil
}

// key validates a caller's key and returns its namespaced form.
func (c *Client) key(op, k string) (string, error) {
	full := c.prefix + k // the only allocation of a valid key
	if err := c.usable(op, full); err != nil {
		return "", err
	}
	if k == "" {
		return "", opErr(op, c.ns, fmt.Errorf("%w: empty key", ErrInvalidKey))
	}
	return full, nil
}

// keys validates and namespaces a batch of keys.
func (c *Client) keys(op string, ks []string) ([]string, error) {
	full := make([]string, len(ks))
	for i, k := range ks {
		fk, err := c.key(op, k)
		if err != nil {
			return nil, err
		}
		full[i] = fk
	}
	return full, nil
}

// strip removes this view's prefix from a full key or channel.
func (c *Client) strip(full string) string {
	return strings.TrimPrefix(full, c.prefix)
}

// validateNamespacePart checks a namespace, or a part of one, that may hold
// separators itself ("prod:eu" is two levels under ":"). Each level must be
// separable: see separable.
func validateNamespacePart(what, part, sep string) error {
	if part == "" {
		return fmt.Errorf("%w: %w: %s is empty", ErrInvalidOptions, ErrInvalidKey, what)
	}
	if strings.ReplaceAll(part, sep, "") == "" {
		return fmt.Errorf("%w: %w: %s %q is only separators", ErrInvalidOptions, ErrInvalidKey, what, part)
	}
	for _, level := range strings.Split(part, sep) {
		if !separable(level, sep) {
			return fmt.Errorf("%w: %w: %s %q: level %q would run into the separator %q (it starts or ends with part of it)",
				ErrInvalidOptions, ErrInvalidKey, what, part, level, sep)
		}
	}
	return nil
}

// separable reports whether name, placed between two separators, leaves
// exactly those two occurrences of sep: it holds no sep and no sep straddles
// its ends. With ":" that only forbids ":" inside name; with "::" it also
// forbids a name starting or ending with ":", since ("a:", "h") and ("a",
// ":h") would both join to "a:::h". When every level of a key is separable,
// the separators of the key are exactly the joins, so the key has one
// reading: distinct (namespace, model, hash) never share a key, and a SCAN
// pattern "{prefix}{sep}*" only matches keys under that prefix.
func separable(name, sep string) bool {
	if strings.Contains(name, sep) {
		return false
	}
	n := len(sep)
	if n == 1 {
		return true
	}
	// Look for sep anywhere in sep+name+sep but at both ends, without
	// building that string.
	total := 2*n + len(name)
	at := func(i int) byte {
		switch {
		case i < n:
			return sep[i]
		case i < n+len(name):
			return name[i-n]
		}
		return sep[i-n-len(name)]
	}
	for i := 1; i < total-n; i++ {
		j := 0
		for j < n && at(i+j) == sep[j] {
			j++
		}
		if j == n {
			return false
		}
	}
	return true
}

// escapeGlob escapes the characters that are special in Redis MATCH
// patterns, so a namespace or model name only ever matches itself. It works
// on bytes, as Redis matches bytes: a name need not be valid UTF-8.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	b := make([]byte, 0, len(s)+4)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
