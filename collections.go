package redisclient

import (
	"context"
	"fmt"
	"reflect"

	"github.com/redis/go-redis/v9"
)

// This file holds the hash, list, set and sorted-set commands. Values and
// members are encoded like Set values; results are decoded like Get.

// HSet stores value in field of the hash at key and reports whether the
// field is new.
func (c *Client) HSet(ctx context.Context, key, field string, value any) (bool, error) {
	k, err := c.key("hset", key)
	if err != nil {
		return false, err
	}
	v, err := encodeValue(c.ser, value)
	if err != nil {
		return false, opErr("hset", k, fmt.Errorf("field %q: %w", field, err))
	}
	n, err := c.shared.rdb.HSet(ctx, k, field, v).Result()
	return n == 1, opErr("hset", k, err)
}

// HSetMap stores several fields of the hash at key in one command.
func (c *Client) HSetMap(ctx context.Context, key string, fields map[string]any) error {
	k, err := c.key("hset", key)
	if err != nil || len(fields) == 0 {
		return err
	}
	args := make([]any, 0, 2*len(fields))
	for f, value := range fields {
		v, err := encodeValue(c.ser, value)
		if err != nil {
			return opErr("hset", k, fmt.Errorf("field %q: %w", f, err))
		}
		args = append(args, f, v)
	}
	return opErr("hset", k, c.shared.rdb.HSet(ctx, k, args...).Err())
}

// HGet decodes field of the hash at key into dest; ErrNotFound when the key
// or field is missing.
func (c *Client) HGet(ctx context.Context, key, field string, dest any) error {
	k, err := c.key("hget", key)
	if err != nil {
		return err
	}
	s, err := c.shared.rdb.HGet(ctx, k, field).Result()
	if err != nil {
		return opErr("hget", k, fieldErr(field, notFound(err)))
	}
	return opErr("hget", k, fieldErr(field, decodeString(c.ser, s, dest)))
}

func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("field %q: %w", field, err)
}

// HGetAll decodes every field of the hash at key into dest, a pointer to a
// map with string keys (map[string]T). A missing key gives an empty map.
func (c *Client) HGetAll(ctx context.Context, key string, dest any) error {
	k, err := c.key("hgetall", key)
	if err != nil {
		return err
	}
	m, err := c.shared.rdb.HGetAll(ctx, k).Result()
	if err != nil {
		return opErr("hgetall", k, err)
	}
	return opErr("hgetall", k, decodeMap(c.ser, m, dest))
}

// HDel removes fields from the hash at key and returns how many existed.
func (c *Client) HDel(ctx context.Context, key string, fields ...string) (int64, error) {
	k, err := c.key("hdel", key)
	if err != nil || len(fields) == 0 {
		return 0, err
	}
	n, err := c.shared.rdb.HDel(ctx, k, fields...).Result()
	return n, opErr("hdel", k, err)
}

// HExists reports whether field exists in the hash at key.
func (c *Client) HExists(ctx context.Context, key, field string) (bool, error) {
	k, err := c.key("hexists", key)
	if err != nil {
		return false, err
	}
	ok, err := c.shared.rdb.HExists(ctx, k, field).Result()
	return ok, opErr("hexists", k, err)
}

// encodeAll encodes values for a variadic command.
func (c *Client) encodeAll(op, k string, values []any) ([]any, error) {
	out := make([]any, len(values))
	for i, value := range values {
		v, err := encodeValue(c.ser, value)
		if err != nil {
			return nil, opErr(op, k, err)
		}
		out[i] = v
	}
	return out, nil
}

// LPush prepends values to the list at key and returns its new length. Not
// retried once it may have reached the server.
func (c *Client) LPush(ctx context.Context, key string, values ...any) (int64, error) {
	return c.push(ctx, "lpush", key, values, redis.UniversalClient.LPush)
}

// RPush appends values to the list at key and returns its new length. Not
// retried once it may have reached the server.
func (c *Client) RPush(ctx context.Context, key string, values ...any) (int64, error) {
	return c.push(ctx, "rpush", key, values, redis.UniversalClient.RPush)
}

func (c *Client) push(ctx context.Context, op, key string, values []any,
	cmd func(redis.UniversalClient, context.Context, string, ...any) *redis.IntCmd) (int64, error) {
	k, err := c.key(op, key)
	if err != nil {
		return 0, err
	}
	if len(values) == 0 {
		return 0, opErr(op, k, fmt.Errorf("%w: no values", ErrInvalidKey))
	}
	vs, err := c.encodeAll(op, k, values)
	if err != nil {
		return 0, err
	}
	n, err := cmd(c.shared.rdb, ctx, k, vs...).Result()
	return n, opErr(op, k, err)
}

// LPop removes the first element of the list at key and decodes it into
// dest; ErrNotFound when the list is empty.
func (c *Client) LPop(ctx context.Context, key string, dest any) error {
	return c.pop(ctx, "lpop", key, dest, redis.UniversalClient.LPop)
}

// RPop removes the last element of the list at key and decodes it into dest;
// ErrNotFound when the list is empty.
func (c *Client) RPop(ctx context.Context, key string, dest any) error {
	return c.pop(ctx, "rpop", key, dest, redis.UniversalClient.RPop)
}

func (c *Client) pop(ctx context.Context, op, key string, dest any,
	cmd func(redis.UniversalClient, context.Context, string) *redis.StringCmd) error {
	k, err := c.key(op, key)
	if err != nil {
		return err
	}
	s, err := cmd(c.shared.rdb, ctx, k).Result()
	if err != nil {
		return opErr(op, k, notFound(err))
	}
	return opErr(op, k, decodeString(c.ser, s, dest))
}

// LRange decodes the elements start..stop (inclusive, negative from the end)
// of the list at key into dest, a pointer to a slice.
func (c *Client) LRange(ctx context.Context, key string, start, stop int64, dest any) error {
	k, err := c.key("lrange", key)
	if err != nil {
		return err
	}
	vals, err := c.shared.rdb.LRange(ctx, k, start, stop).Result()
	if err != nil {
		return opErr("lrange", k, err)
	}
	return opErr("lrange", k, decodeSlice(c.ser, vals, dest))
}

// LLen returns the length of the list at key (0 when missing).
func (c *Client) LLen(ctx context.Context, key string) (int64, error) {
	k, err := c.key("llen", key)
	if err != nil {
		return 0, err
	}
	n, err := c.shared.rdb.LLen(ctx, k).Result()
	return n, opErr("llen", k, err)
}

// LTrim keeps only the elements start..stop of the list at key.
func (c *Client) LTrim(ctx context.Context, key string, start, stop int64) error {
	k, err := c.key("ltrim", key)
	if err != nil {
		return err
	}
	return opErr("ltrim", k, c.shared.rdb.LTrim(ctx, k, start, stop).Err())
}

// SAdd adds members to the set at key and returns how many were new.
func (c *Client) SAdd(ctx context.Context, key string, members ...any) (int64, error) {
	k, err := c.key("sadd", key)
	if err != nil || len(members) == 0 {
		return 0, err
	}
	ms, err := c.encodeAll("sadd", k, members)
	if err != nil {
		return 0, err
	}
	n, err := c.shared.rdb.SAdd(ctx, k, ms...).Result()
	return n, opErr("sadd", k, err)
}

// SMembers decodes the members of the set at key into dest, a pointer to a
// slice, in no particular order.
func (c *Client) SMembers(ctx context.Context, key string, dest any) error {
	k, err := c.key("smembers", key)
	if err != nil {
		return err
	}
	vals, err := c.shared.rdb.SMembers(ctx, k).Result()
	if err != nil {
		return opErr("smembers", k, err)
	}
	return opErr("smembers", k, decodeSlice(c.ser, vals, dest))
}

// SRem removes members from the set at key and returns how many existed.
func (c *Client) SRem(ctx context.Context, key string, members ...any) (int64, error) {
	k, err := c.key("srem", key)
	if err != nil || len(members) == 0 {
		return 0, err
	}
	ms, err := c.encodeAll("srem", k, members)
	if err != nil {
		return 0, err
	}
	n, err := c.shared.rdb.SRem(ctx, k, ms...).Result()
	return n, opErr("srem", k, err)
}

// SIsMember reports whether member is in the set at key.
func (c *Client) SIsMember(ctx context.Context, key string, member any) (bool, error) {
	k, err := c.key("sismember", key)
	if err != nil {
		return false, err
	}
	m, err := encodeValue(c.ser, member)
	if err != nil {
		return false, opErr("sismember", k, err)
	}
	ok, err := c.shared.rdb.SIsMember(ctx, k, m).Result()
	return ok, opErr("sismember", k, err)
}

// ZAdd adds member with score to the sorted set at key (updating the score
// of an existing member) and reports whether the member is new.
func (c *Client) ZAdd(ctx context.Context, key string, score float64, member any) (bool, error) {
	k, err := c.key("zadd", key)
	if err != nil {
		return false, err
	}
	m, err := encodeValue(c.ser, member)
	if err != nil {
		return false, opErr("zadd", k, err)
	}
	n, err := c.shared.rdb.ZAdd(ctx, k, redis.Z{Score: score, Member: m}).Result()
	return n == 1, opErr("zadd", k, err)
}

// ZIncrBy adds by to the score of member and returns the new score. Not
// retried once it may have reached the server.
func (c *Client) ZIncrBy(ctx context.Context, key string, by float64, member any) (float64, error) {
	k, err := c.key("zincrby", key)
	if err != nil {
		return 0, err
	}
	m, err := encodeValue(c.ser, member)
	if err != nil {
		return 0, opErr("zincrby", k, err)
	}
	s, ok := m.(string)
	if !ok {
		s = string(m.([]byte))
	}
	f, err := c.shared.rdb.ZIncrBy(ctx, k, by, s).Result()
	return f, opErr("zincrby", k, err)
}

// ZRange decodes the members ranked start..stop (inclusive, negative from the
// end) of the sorted set at key into dest, a pointer to a slice; by ascending
// score, or descending when desc is true.
func (c *Client) ZRange(ctx context.Context, key string, start, stop int64, desc bool, dest any) error {
	k, err := c.key("zrange", key)
	if err != nil {
		return err
	}
	vals, err := c.shared.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k, Start: start, Stop: stop, Rev: desc}).Result()
	if err != nil {
		return opErr("zrange", k, err)
	}
	return opErr("zrange", k, decodeSlice(c.ser, vals, dest))
}

// ScoredMember is a sorted-set member with its score.
type ScoredMember struct {
	Score float64
	raw   string
	key   string
	ser   Serializer
}

// Raw returns a copy of the member as stored.
func (m ScoredMember) Raw() []byte { return []byte(m.raw) }

// Decode decodes the member into dest, like Client.Get; errors name the
// sorted set's key.
func (m ScoredMember) Decode(dest any) error {
	ser := m.ser
	if ser == nil {
		ser = MsgpackSerializer{}
	}
	return opErr("decode member", m.key, decodeString(ser, m.raw, dest))
}

// ZRangeWithScores returns the members ranked start..stop of the sorted set at
// key with their scores, ascending or descending.
func (c *Client) ZRangeWithScores(ctx context.Context, key string, start, stop int64, desc bool) ([]ScoredMember, error) {
	k, err := c.key("zrange", key)
	if err != nil {
		return nil, err
	}
	zs, err := c.shared.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: k, Start: start, Stop: stop, Rev: desc}).Result()
	if err != nil {
		return nil, opErr("zrange", k, err)
	}
	out := make([]ScoredMember, len(zs))
	for i, z := range zs {
		s, _ := z.Member.(string)
		out[i] = ScoredMember{Score: z.Score, raw: s, key: k, ser: c.ser}
	}
	return out, nil
}

// ZCard returns the number of members of the sorted set at key.
func (c *Client) ZCard(ctx context.Context, key string) (int64, error) {
	k, err := c.key("zcard", key)
	if err != nil {
		return 0, err
	}
	n, err := c.shared.rdb.ZCard(ctx, k).Result()
	return n, opErr("zcard", k, err)
}

// ZRem removes members from the sorted set at key and returns how many
// existed.
func (c *Client) ZRem(ctx context.Context, key string, members ...any) (int64, error) {
	k, err := c.key("zrem", key)
	if err != nil || len(members) == 0 {
		return 0, err
	}
	ms, err := c.encodeAll("zrem", k, members)
	if err != nil {
		return 0, err
	}
	n, err := c.shared.rdb.ZRem(ctx, k, ms...).Result()
	return n, opErr("zrem", k, err)
}

// decodeSlice decodes raw values into dest, a pointer to a slice.
func decodeSlice(s Serializer, vals []string, dest any) error {
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("decode: destination must be a pointer to a slice, got %T", dest)
	}
	sl := reflect.MakeSlice(rv.Elem().Type(), len(vals), len(vals))
	for i, v := range vals {
		if err := decodeString(s, v, sl.Index(i).Addr().Interface()); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	rv.Elem().Set(sl)
	return nil
}

// decodeMap decodes raw hash fields into dest, a pointer to a map keyed by
// string.
func decodeMap(s Serializer, m map[string]string, dest any) error {
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Map ||
		rv.Elem().Type().Key().Kind() != reflect.String {
		return fmt.Errorf("decode: destination must be a pointer to a map[string]T, got %T", dest)
	}
	mt := rv.Elem().Type()
	out := reflect.MakeMapWithSize(mt, len(m))
	for f, v := range m {
		ev := reflect.New(mt.Elem())
		if err := decodeString(s, v, ev.Interface()); err != nil {
			return fmt.Errorf("field %q: %w", f, err)
		}
		out.SetMapIndex(reflect.ValueOf(f).Convert(mt.Key()), ev.Elem())
	}
	rv.Elem().Set(out)
	return nil
}
