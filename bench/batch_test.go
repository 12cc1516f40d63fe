package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/systemtrader/redisclient"
	"github.com/vmihailenco/msgpack/v5"
)

// batchSize is the number of predictions read per op.
const batchSize = 1000

// BenchmarkBatch reads 1000 cached predictions of one model and decodes
// them into a map by input hash, sequentially (one op at a time):
//
//	goredis       a go-redis pipeline of 1000 GETs + msgpack decode (the base)
//	goredismget   one go-redis MGET of 1000 keys + msgpack decode
//	lib           redisclient.GetModelPredictions
//	rueidis       rueidis DoMulti of 1000 GETs + msgpack decode
//	seq           1000 GetCachedModelPrediction calls, one round trip each
func BenchmarkBatch(b *testing.B) {
	c := connect(b)
	ctx := context.Background()
	const model = "batch"
	hashes := make([]string, batchSize)
	preds := make(map[string]any, batchSize)
	for i := range hashes {
		hashes[i] = hashOf(c.nonce + "batch" + strconv.Itoa(i))
		p := samplePrediction(i)
		preds[hashes[i]] = &p
	}
	if err := c.lib.CacheModelPredictions(ctx, model, preds, ttl); err != nil {
		b.Fatal(err)
	}
	prefix := "trading:model:" + model + ":"
	check := func(n int) error {
		if n != batchSize {
			return fmt.Errorf("found %d predictions, want %d", n, batchSize)
		}
		return nil
	}
	impls := []impl{
		{"goredis", func(ctx context.Context) error {
			cmds := make([]*redis.StringCmd, len(hashes))
			_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, h := range hashes {
					cmds[i] = p.Get(ctx, prefix+h)
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			found := make(map[string]Prediction, len(hashes))
			for i, cmd := range cmds {
				data, err := cmd.Bytes()
				if err != nil {
					continue
				}
				var p Prediction
				if err := msgpack.Unmarshal(data, &p); err != nil {
					return err
				}
				found[hashes[i]] = p
			}
			return check(len(found))
		}},
		{"goredismget", func(ctx context.Context) error {
			keys := make([]string, len(hashes))
			for i, h := range hashes {
				keys[i] = prefix + h
			}
			vals, err := c.rdb.MGet(ctx, keys...).Result()
			if err != nil {
				return err
			}
			found := make(map[string]Prediction, len(hashes))
			for i, v := range vals {
				s, ok := v.(string)
				if !ok {
					continue
				}
				var p Prediction
				if err := msgpack.Unmarshal([]byte(s), &p); err != nil {
					return err
				}
				found[hashes[i]] = p
			}
			return check(len(found))
		}},
		{"lib", func(ctx context.Context) error {
			found, _, err := redisclient.GetModelPredictions[Prediction](ctx, c.lib, model, hashes)
			if err != nil {
				return err
			}
			return check(len(found))
		}},
		{"rueidis", func(ctx context.Context) error {
			cmds := make(rueidis.Commands, len(hashes))
			for i, h := range hashes {
				cmds[i] = c.rue.B().Get().Key(prefix + h).Build()
			}
			found := make(map[string]Prediction, len(hashes))
			for i, r := range c.rue.DoMulti(ctx, cmds...) {
				data, err := r.AsBytes()
				if rueidis.IsRedisNil(err) {
					continue
				}
				if err != nil {
					return err
				}
				var p Prediction
				if err := msgpack.Unmarshal(data, &p); err != nil {
					return err
				}
				found[hashes[i]] = p
			}
			return check(len(found))
		}},
		{"seq", func(ctx context.Context) error {
			found := make(map[string]Prediction, len(hashes))
			for _, h := range hashes {
				var p Prediction
				err := c.lib.GetCachedModelPrediction(ctx, model, h, &p)
				if errors.Is(err, redisclient.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				found[h] = p
			}
			return check(len(found))
		}},
	}
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) { run(b, 0, im.op) })
	}
}
