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

func validateNamespacePart(what, part, sep string) error {
	if part == "" {
		return fmt.Errorf("%w: %w: %s is empty", ErrInvalidOptions, ErrInvalidKey, what)
	}
	if strings.Trim(part, sep) == "" {
		return fmt.Errorf("%w: %w: %s %q is only separators", ErrInvalidOptions, ErrInvalidKey, what, part)
	}
	return nil
}

// escapeGlob escapes the characters that are special in Redis MATCH
// patterns, so a namespace or model name only ever matches itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
