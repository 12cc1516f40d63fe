package redisclient

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Which commands auto-pipelining may batch, and how a batched command's
// reply reaches its caller.
//
// A batch is sent on whichever pooled connection is free and its commands
// may be retried one by one, so only plain data commands qualify: named
// below, idempotent per the retry table (idempotency.go; SET NX, ZADD INCR
// and the like are not), no blocking, pub/sub, transaction, script or
// connection-state command, and no argument above maxPipelinedArg.

// pipelinable names the commands auto-pipelining may batch (lower case, as
// Cmder.Name returns them). Each has its first key at position 1.
var pipelinable = wordSet(`
	get mget exists ttl pttl type strlen getrange getbit bitcount
	set setex psetex mset del unlink expire pexpire expireat pexpireat persist setbit
	hget hmget hgetall hexists hlen hkeys hvals hstrlen hset hmset hdel
	smembers sismember smismember scard sadd srem
	zscore zmscore zcard zrank zrevrank zcount zrange zrangebyscore zrevrange zrevrangebyscore zadd zrem
	lrange llen lindex
	xlen
	pfcount`)

// maxPipelinedArg is the largest argument a batched command may carry: a
// big value gains nothing from sharing a round trip and would hold up the
// replies of the commands batched with it.
const maxPipelinedArg = 16 << 10

// pipelineSize returns the argument bytes of cmd and whether it may be
// batched: a name of pipelinable, idempotent, a string key, no big argument.
func pipelineSize(cmd redis.Cmder) (int, bool) {
	args := cmd.Args()
	if len(args) < 2 || !pipelinable[cmd.Name()] || !isIdempotent(cmd) {
		return 0, false
	}
	if _, ok := args[1].(string); !ok {
		return 0, false
	}
	n := 0
	for _, a := range args {
		switch v := a.(type) {
		case string:
			if len(v) > maxPipelinedArg {
				return 0, false
			}
			n += len(v)
		case []byte:
			if len(v) > maxPipelinedArg {
				return 0, false
			}
			n += len(v)
		default:
			n += 8
		}
	}
	return n, true
}

// pipelineCopy returns a command like cmd (same arguments, same reply
// type) for the batch to fill in. A caller whose context can end gets a
// copy: it returns at once when its context ends, and the batch must not
// then write into the command the caller is reading. ok is false for reply
// types it does not know; those commands are not batched then.
func pipelineCopy(ctx context.Context, cmd redis.Cmder) (redis.Cmder, bool) {
	args := cmd.Args() // shared, read-only: the copy costs one allocation
	switch cmd.(type) {
	case *redis.StringCmd:
		return redis.NewStringCmd(ctx, args...), true
	case *redis.StatusCmd:
		return redis.NewStatusCmd(ctx, args...), true
	case *redis.IntCmd:
		return redis.NewIntCmd(ctx, args...), true
	case *redis.BoolCmd:
		return redis.NewBoolCmd(ctx, args...), true
	case *redis.FloatCmd:
		return redis.NewFloatCmd(ctx, args...), true
	case *redis.SliceCmd:
		return redis.NewSliceCmd(ctx, args...), true
	case *redis.StringSliceCmd:
		return redis.NewStringSliceCmd(ctx, args...), true
	case *redis.IntSliceCmd:
		return redis.NewIntSliceCmd(ctx, args...), true
	case *redis.BoolSliceCmd:
		return redis.NewBoolSliceCmd(ctx, args...), true
	case *redis.FloatSliceCmd:
		return redis.NewFloatSliceCmd(ctx, args...), true
	case *redis.MapStringStringCmd:
		return redis.NewMapStringStringCmd(ctx, args...), true
	case *redis.Cmd:
		return redis.NewCmd(ctx, args...), true
	case *redis.DurationCmd:
		switch cmd.Name() {
		case "ttl":
			return redis.NewDurationCmd(ctx, time.Second, args...), true
		case "pttl":
			return redis.NewDurationCmd(ctx, time.Millisecond, args...), true
		}
	}
	return nil, false
}

// valueCmd is a command whose reply is one value of type T.
type valueCmd[T any] interface {
	Val() T
	SetVal(T)
	SetErr(error)
	Err() error
}

func copyValue[T any, C valueCmd[T]](dst, src C) {
	dst.SetVal(src.Val())
	dst.SetErr(src.Err())
}

// copyReply gives dst, the caller's command, the reply that src, its copy
// made by pipelineCopy, received in a batch.
func copyReply(dst, src redis.Cmder) {
	switch d := dst.(type) {
	case *redis.StringCmd:
		copyValue(d, src.(*redis.StringCmd))
	case *redis.StatusCmd:
		copyValue(d, src.(*redis.StatusCmd))
	case *redis.IntCmd:
		copyValue(d, src.(*redis.IntCmd))
	case *redis.BoolCmd:
		copyValue(d, src.(*redis.BoolCmd))
	case *redis.FloatCmd:
		copyValue(d, src.(*redis.FloatCmd))
	case *redis.SliceCmd:
		copyValue(d, src.(*redis.SliceCmd))
	case *redis.StringSliceCmd:
		copyValue(d, src.(*redis.StringSliceCmd))
	case *redis.IntSliceCmd:
		copyValue(d, src.(*redis.IntSliceCmd))
	case *redis.BoolSliceCmd:
		copyValue(d, src.(*redis.BoolSliceCmd))
	case *redis.FloatSliceCmd:
		copyValue(d, src.(*redis.FloatSliceCmd))
	case *redis.MapStringStringCmd:
		copyValue(d, src.(*redis.MapStringStringCmd))
	case *redis.Cmd:
		copyValue(d, src.(*redis.Cmd))
	case *redis.DurationCmd:
		copyValue(d, src.(*redis.DurationCmd))
	default:
		dst.SetErr(src.Err()) // not reached: pipelineCopy refuses other types
	}
}
