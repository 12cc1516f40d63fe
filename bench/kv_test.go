package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"

	gocache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/systemtrader/redisclient"
	"github.com/vmihailenco/msgpack/v5"
)

// value200 is the 200-byte string of the string benchmarks.
var value200 = strings.Repeat("0123456789abcdefghij", 10)

// stringKeys returns the key of each implementation: the library adds its
// "trading:" namespace itself, the others are given the same full key shape.
func stringKeys(c *clients, what string) (lib, raw, gc, rue string) {
	lib = "bench:" + c.nonce + ":lib:" + what
	raw = "trading:bench:" + c.nonce + ":goredis:" + what
	gc = "trading:bench:" + c.nonce + ":gocache:" + what
	rue = "trading:bench:" + c.nonce + ":rueidis:" + what
	return
}

// moreStringKeys returns the keys of the go-redis AutoPipeliner and of the
// library without auto-pipelining (which adds "trading:" itself).
func moreStringKeys(c *clients, what string) (ap, libDirect string) {
	return "trading:bench:" + c.nonce + ":goredisap:" + what, "bench:" + c.nonce + ":libdirect:" + what
}

func checkString(got string) error {
	if got != value200 {
		return fmt.Errorf("read %d bytes, want the %d written", len(got), len(value200))
	}
	return nil
}

// BenchmarkGetString reads a 200-byte string.
func BenchmarkGetString(b *testing.B) {
	runImpls(b, getStringOps(b, connect(b)))
}

// getStringOps stores the string under each implementation's key and returns
// the reads. c.rue may be nil: rueidis is then left out.
func getStringOps(b *testing.B, c *clients) []impl {
	ctx := context.Background()
	libKey, rawKey, gcKey, rueKey := stringKeys(c, "get")
	apKey, directKey := moreStringKeys(c, "get")
	if err := c.lib.Set(ctx, libKey, value200, ttl); err != nil {
		b.Fatal(err)
	}
	if c.libDirect != nil {
		if err := c.libDirect.Set(ctx, directKey, value200, ttl); err != nil {
			b.Fatal(err)
		}
	}
	for _, k := range []string{rawKey, gcKey, rueKey, apKey} {
		if err := c.rdb.Set(ctx, k, value200, ttl).Err(); err != nil {
			b.Fatal(err)
		}
	}
	return present(c, []impl{
		{"goredis", func(ctx context.Context) error {
			s, err := c.rdb.Get(ctx, rawKey).Result()
			if err != nil {
				return err
			}
			return checkString(s)
		}},
		{"goredisap", func(ctx context.Context) error {
			s, err := c.ap.Get(ctx, apKey).Result()
			if err != nil {
				return err
			}
			return checkString(s)
		}},
		{"lib", func(ctx context.Context) error {
			var s string
			if err := c.lib.Get(ctx, libKey, &s); err != nil {
				return err
			}
			return checkString(s)
		}},
		{"libdirect", func(ctx context.Context) error {
			var s string
			if err := c.libDirect.Get(ctx, directKey, &s); err != nil {
				return err
			}
			return checkString(s)
		}},
		{"gocache", func(ctx context.Context) error {
			var s string
			if err := c.gocache.Get(ctx, gcKey, &s); err != nil {
				return err
			}
			return checkString(s)
		}},
		{"rueidis", func(ctx context.Context) error {
			s, err := c.rue.Do(ctx, c.rue.B().Get().Key(rueKey).Build()).ToString()
			if err != nil {
				return err
			}
			return checkString(s)
		}},
	})
}

// BenchmarkSetString writes a 200-byte string with a TTL.
func BenchmarkSetString(b *testing.B) {
	runImpls(b, setStringOps(connect(b)))
}

func setStringOps(c *clients) []impl {
	libKey, rawKey, gcKey, rueKey := stringKeys(c, "set")
	apKey, directKey := moreStringKeys(c, "set")
	return present(c, []impl{
		{"goredis", func(ctx context.Context) error {
			return c.rdb.Set(ctx, rawKey, value200, ttl).Err()
		}},
		{"goredisap", func(ctx context.Context) error {
			return c.ap.Set(ctx, apKey, value200, ttl).Err()
		}},
		{"lib", func(ctx context.Context) error {
			return c.lib.Set(ctx, libKey, value200, ttl)
		}},
		{"libdirect", func(ctx context.Context) error {
			return c.libDirect.Set(ctx, directKey, value200, ttl)
		}},
		{"gocache", func(ctx context.Context) error {
			return c.gocache.Set(&gocache.Item{Ctx: ctx, Key: gcKey, Value: value200, TTL: ttl})
		}},
		{"rueidis", func(ctx context.Context) error {
			return c.rue.Do(ctx, c.rue.B().Set().Key(rueKey).Value(value200).Ex(ttl).Build()).Error()
		}},
	})
}

// present drops the implementations whose client c lacks (the stub
// clients of Overhead have no rueidis, AutoPipeliner or direct library).
func present(c *clients, impls []impl) []impl {
	missing := map[string]bool{"rueidis": c.rue == nil, "goredisap": c.ap == nil, "libdirect": c.libDirect == nil}
	out := impls[:0]
	for _, im := range impls {
		if !missing[im.name] {
			out = append(out, im)
		}
	}
	return out
}

// BenchmarkPrediction writes a Prediction and reads it back into a fresh
// value: the library's CacheModelPrediction and GetCachedModelPrediction
// against hand-written msgpack on go-redis and rueidis, and go-redis/cache
// (which compresses values of 64 bytes and more with s2).
func BenchmarkPrediction(b *testing.B) {
	runImpls(b, predictionOps(connect(b)))
}

func predictionOps(c *clients) []impl {
	p := samplePrediction(0)
	const model = "lstm"
	libHash := hashOf(c.nonce + "lib")
	key := func(who string) string { return "trading:model:" + model + ":" + hashOf(c.nonce+who) }
	rawKey, gcKey, rueKey, apKey := key("goredis"), key("gocache"), key("rueidis"), key("goredisap")
	directHash := hashOf(c.nonce + "libdirect")
	check := func(got *Prediction) error {
		if got.Signal != p.Signal || len(got.Quantiles) != len(p.Quantiles) || got.Symbol != p.Symbol {
			return fmt.Errorf("read back %+v, want %+v", *got, p)
		}
		return nil
	}
	// raw is hand-written msgpack on a go-redis client or AutoPipeliner.
	raw := func(rdb func() redis.Cmdable, key string) func(context.Context) error {
		return func(ctx context.Context) error {
			v, err := msgpack.Marshal(&p)
			if err != nil {
				return err
			}
			if err := rdb().Set(ctx, key, v, ttl).Err(); err != nil {
				return err
			}
			data, err := rdb().Get(ctx, key).Bytes()
			if err != nil {
				return err
			}
			var got Prediction
			if err := msgpack.Unmarshal(data, &got); err != nil {
				return err
			}
			return check(&got)
		}
	}
	lib := func(lc func() *redisclient.Client, hash string) func(context.Context) error {
		return func(ctx context.Context) error {
			if err := lc().CacheModelPrediction(ctx, model, hash, &p, ttl); err != nil {
				return err
			}
			var got Prediction
			if err := lc().GetCachedModelPrediction(ctx, model, hash, &got); err != nil {
				return err
			}
			return check(&got)
		}
	}
	return present(c, []impl{
		{"goredis", raw(func() redis.Cmdable { return c.rdb }, rawKey)},
		{"goredisap", raw(func() redis.Cmdable { return c.ap }, apKey)},
		{"lib", lib(func() *redisclient.Client { return c.lib }, libHash)},
		{"libdirect", lib(func() *redisclient.Client { return c.libDirect }, directHash)},
		{"gocache", func(ctx context.Context) error {
			if err := c.gocache.Set(&gocache.Item{Ctx: ctx, Key: gcKey, Value: &p, TTL: ttl}); err != nil {
				return err
			}
			var got Prediction
			if err := c.gocache.Get(ctx, gcKey, &got); err != nil {
				return err
			}
			return check(&got)
		}},
		{"rueidis", func(ctx context.Context) error {
			v, err := msgpack.Marshal(&p)
			if err != nil {
				return err
			}
			set := c.rue.B().Set().Key(rueKey).Value(rueidis.BinaryString(v)).Ex(ttl).Build()
			if err := c.rue.Do(ctx, set).Error(); err != nil {
				return err
			}
			data, err := c.rue.Do(ctx, c.rue.B().Get().Key(rueKey).Build()).AsBytes()
			if err != nil {
				return err
			}
			var got Prediction
			if err := msgpack.Unmarshal(data, &got); err != nil {
				return err
			}
			return check(&got)
		}},
	})
}
