package redisclient

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
)

// perKey runs a multi-key integer command. On a cluster the keys may live in
// different slots, so it pipelines one command per key, sums the replies that
// came back and reports the keys whose command failed in a *BatchError.
func (c *Client) perKey(ctx context.Context, op string, keys, full []string, cmd func(redis.Cmdable, ...string) *redis.IntCmd) (int64, error) {
	if !c.isCluster() || len(full) == 1 {
		n, err := cmd(c.shared.rdb, full...).Result()
		return n, opErr(op, keyList(full), err)
	}
	cmds := make([]*redis.IntCmd, len(full))
	_, _ = c.shared.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range full {
			cmds[i] = cmd(p, k)
		}
		return nil
	})
	var n int64
	var b batch
	for i, r := range cmds {
		v, err := r.Result()
		if err != nil {
			b.fail(keys[i], err)
			continue
		}
		n += v
		b.done(keys[i])
	}
	return n, b.err(op, full)
}

// MGet fetches keys in one round trip (one pipeline per node on a cluster)
// and returns the values found, by key; missing keys are absent from the map.
// A key that could not be read is never reported absent: when Redis could not
// be asked for some keys (a cluster node down, its breaker open) or a value
// fails to decode, the map holds the keys that were read and the error is a
// *BatchError whose Failed names the others, and Done the keys read (found or
// missing). When no key could be read for one reason (Redis down), the error
// is the call's *Error, as for Get. Invalid keys and a closed client fail the
// whole call.
func MGet[T any](ctx context.Context, c *Client, keys ...string) (map[string]T, error) {
	full, err := c.keys("mget", keys)
	if err != nil {
		return nil, err
	}
	cached, hit, toks := localPeek[T](c, full)
	out := make(map[string]T, len(keys))
	for i, h := range hit {
		if h {
			out[keys[i]] = cached[i]
		}
	}
	b := readBatch{keys: keys}
	dec := decoderFor[T](c.ser)
	c.mgetEach(ctx, full, hit, func(i int, s string, ok bool, err error) {
		switch {
		case err != nil:
			b.fail(i, err)
			return
		case !ok:
			return
		}
		v, err := dec(s)
		if err != nil {
			b.fail(i, opErr("mget", full[i], err))
			return
		}
		out[keys[i]] = v
		if toks != nil {
			localFill(c, full[i], toks[i], v, len(s))
		}
	})
	return out, b.err("mget", full)
}

// decoderFor returns how a batch read turns a raw value into a T: strings
// and byte slices directly, anything else through decodeString, which needs
// the value on the heap. The direct paths keep a batch of strings at the
// allocations of the reply itself.
func decoderFor[T any](ser Serializer) func(string) (T, error) {
	switch any((*T)(nil)).(type) {
	case *string:
		return func(s string) (T, error) { return *(*T)(unsafe.Pointer(&s)), nil }
	case *[]byte:
		return func(s string) (T, error) {
			b := []byte(s) // the caller owns its slices
			return *(*T)(unsafe.Pointer(&b)), nil
		}
	}
	return func(s string) (T, error) {
		var v T
		err := decodeString(ser, s, &v)
		return v, err
	}
}

// mgetEach reads the raw value of each full key not in hit and calls fn with
// its index: the value, ok false for a miss, or the error that kept the key
// from being read. It sends MGET on a single server and a pipeline of GETs
// on a cluster, whose keys may live in different slots; each key gets its own
// outcome, as a pipeline's error says only which command failed first (a
// miss, perhaps). fn runs on the calling goroutine, in key order.
func (c *Client) mgetEach(ctx context.Context, full []string, hit []bool, fn func(i int, s string, ok bool, err error)) {
	ask, idx := full, []int(nil)
	if hit != nil {
		ask = make([]string, 0, len(full))
		idx = make([]int, 0, len(full))
		for i, h := range hit {
			if !h {
				ask, idx = append(ask, full[i]), append(idx, i)
			}
		}
	}
	at := func(j int) int {
		if idx == nil {
			return j
		}
		return idx[j]
	}
	if len(ask) == 0 {
		return
	}
	if !c.isCluster() {
		vals, err := c.shared.rdb.MGet(ctx, ask...).Result()
		for j := range ask {
			if err != nil {
				fn(at(j), "", false, err)
				continue
			}
			s, ok := vals[j].(string)
			fn(at(j), s, ok, nil)
		}
		return
	}
	cmds := make([]*redis.StringCmd, len(ask))
	_, _ = c.shared.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, k := range ask {
			cmds[j] = p.Get(ctx, k)
		}
		return nil
	})
	for j, cmd := range cmds {
		v, err := cmd.Result()
		switch {
		case err == nil:
			fn(at(j), v, true, nil)
		case err == redis.Nil:
			fn(at(j), "", false, nil)
		default:
			fn(at(j), "", false, err)
		}
	}
}

// MSet stores every value in one pipelined round trip, each with the given
// TTL (as for Set). It works across cluster slots.
//
// A batch is not atomic: when some writes fail, the others still happen.
// The error is then a *BatchError listing the keys written (Done) and the
// keys that failed with their cause (Failed); a failed key was not written,
// or, when the connection broke after it was sent, may have been. When every
// key failed for one reason (Redis down) the error is the call's plain
// *Error, as for Set. An invalid key or value fails the whole call before
// anything is sent. Use MSetAtomic for all or nothing.
func (c *Client) MSet(ctx context.Context, values map[string]any, ttl time.Duration) error {
	if err := c.usable("mset", c.ns); err != nil {
		return err
	}
	return c.setMany(ctx, "mset", values, ttl, func(key string) (string, error) { return c.key("mset", key) })
}

// setMany encodes values and writes them under the full keys fullKey gives,
// in one pipeline of SETs, so the keys may live in different cluster slots.
// Each key gets its own expiry, as jitter may differ. Partial failure is a
// *BatchError keyed by the caller's keys, as for the batch reads.
func (c *Client) setMany(ctx context.Context, op string, values map[string]any, ttl time.Duration,
	fullKey func(string) (string, error)) error {
	if len(values) == 0 {
		return nil
	}
	enc, err := c.encodeBatch(op, values, ttl, fullKey)
	if err != nil {
		return err
	}
	cmds := make([]*redis.StatusCmd, len(enc.full))
	_, err = c.shared.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range enc.full {
			exp, _ := c.expiry(ttl)
			cmds[i] = p.Set(ctx, k, enc.vals[i], exp)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	var b batch
	for i, cmd := range cmds {
		if cerr := cmd.Err(); cerr != nil {
			b.fail(enc.keys[i], asClosed(cerr))
		} else {
			b.done(enc.keys[i])
		}
	}
	if berr := b.err(op, enc.full); berr != nil {
		return berr
	}
	return opErr(op, enc.where, err) // the pipeline failed, yet no command says why
}

// encodedBatch is a validated, encoded batch of writes.
type encodedBatch struct {
	keys  []string // the caller's keys
	full  []string // the Redis keys
	vals  []any    // encoded values
	where string   // names the batch in errors
}

func (c *Client) encodeBatch(op string, values map[string]any, ttl time.Duration,
	fullKey func(string) (string, error)) (encodedBatch, error) {
	b := encodedBatch{
		keys: make([]string, 0, len(values)),
		full: make([]string, 0, len(values)),
		vals: make([]any, 0, len(values)),
	}
	for _, key := range slices.Sorted(maps.Keys(values)) { // sorted: Done and errors come out in a stable order
		value := values[key]
		k, err := fullKey(key)
		if err != nil {
			return b, err
		}
		v, err := encodeValue(c.ser, value)
		if err != nil {
			return b, opErr(op, k, err)
		}
		b.keys = append(b.keys, key)
		b.full = append(b.full, k)
		b.vals = append(b.vals, v)
	}
	b.where = fmt.Sprintf("%s (%d keys)", b.full[0], len(b.full))
	if _, err := c.expiry(ttl); err != nil {
		return b, opErr(op, b.where, err)
	}
	return b, nil
}

// MSetAtomic stores every value, each with the given TTL (as for Set), in
// one MULTI/EXEC transaction: all of them or, on error, none. On Redis
// Cluster the keys must share one hash slot (see HashTag); keys in different
// slots fail with an error wrapping ErrCrossSlot before anything is sent.
// When the connection breaks after EXEC was sent, the outcome is unknown and
// the error says so. It is never retried once it may have reached Redis.
func (c *Client) MSetAtomic(ctx context.Context, values map[string]any, ttl time.Duration) error {
	const op = "mset atomic"
	if err := c.usable(op, c.ns); err != nil || len(values) == 0 {
		return err
	}
	batch, err := c.encodeBatch(op, values, ttl, func(key string) (string, error) { return c.key(op, key) })
	if err != nil {
		return err
	}
	if c.isCluster() {
		slot := KeySlot(batch.full[0])
		for _, k := range batch.full[1:] {
			if s := KeySlot(k); s != slot {
				return opErr(op, batch.where, fmt.Errorf("%w: %s is in slot %d, %s in slot %d; give the keys one hash tag (HashTag)",
					ErrCrossSlot, batch.full[0], slot, k, s))
			}
		}
	}
	_, err = c.shared.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range batch.full {
			exp, _ := c.expiry(ttl)
			p.Set(ctx, k, batch.vals[i], exp)
		}
		return nil
	})
	return opErr(op, batch.where, err)
}
