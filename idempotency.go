package redisclient

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// nonIdempotent lists the commands that must not run twice: they change
// data again (INCR, LPUSH, XADD, ...), pop or deliver something that is then
// lost (LPOP, SPOP, XREADGROUP, ...), or reply differently the second time in
// a way callers rely on (SETNX and SET NX, used for locks; GETSET, GETDEL).
// Scripts are opaque and may do any of these. Names are lower case, as
// Cmder.Name returns them.
var nonIdempotent = wordSet(`
	incr incrby incrbyfloat decr decrby
	append setrange getdel getset setnx msetnx hsetnx hgetdel
	lpush rpush lpushx rpushx linsert lrem
	lpop rpop lmpop blpop brpop blmpop lmove blmove rpoplpush brpoplpush
	spop
	zincrby zpopmin zpopmax bzpopmin bzpopmax zmpop bzmpop
	hincrby hincrbyfloat bitfield
	publish spublish
	xadd xreadgroup xclaim xautoclaim
	rename renamenx restore
	eval evalsha fcall
	multi exec`)

func wordSet(s string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// isIdempotent reports whether running cmd twice leaves the same data and
// reply as running it once.
func isIdempotent(cmd redis.Cmder) bool {
	name := cmd.Name()
	if nonIdempotent[name] {
		return false
	}
	switch name {
	case "set": // SET key value [NX|XX] [GET] ...
		return !hasArg(cmd.Args(), 3, "nx", "get")
	case "zadd": // ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...
		return !hasArg(cmd.Args(), 2, "incr")
	}
	return true
}

// hasArg reports whether any string argument from position from on equals
// one of names, ignoring case.
func hasArg(args []any, from int, names ...string) bool {
	for i := from; i < len(args); i++ {
		s, ok := args[i].(string)
		if !ok {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(s, n) {
				return true
			}
		}
	}
	return false
}
