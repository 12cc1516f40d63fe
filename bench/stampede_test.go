package bench

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
	"github.com/vmihailenco/msgpack/v5"
)

const (
	stampedeCallers = 64
	stampedeLoad    = time.Millisecond // how long the load function sleeps
	stampedeTTL     = time.Minute
)

// BenchmarkStampede releases 64 goroutines at once on one cold key (a fresh
// key every op) through a cache-aside call whose load sleeps 1 ms. ns/op is
// the time from the release until all 64 have their value; loads/op counts
// calls of the load function per op (1 with stampede protection):
//
//	goredis   naive cache-aside on go-redis: GET, on a miss load and SET
//	lib       redisclient.GetOrSet (singleflight in the process)
//	gocache   go-redis/cache Once (singleflight in the process)
func BenchmarkStampede(b *testing.B) {
	c := connect(b)
	var seq atomic.Int64
	fresh := func() string { return "stampede:" + c.nonce + ":" + strconv.FormatInt(seq.Add(1), 10) }
	impls := []struct {
		name string
		get  func(ctx context.Context, key string, load func(context.Context) (Prediction, error)) (Prediction, error)
	}{
		{"goredis", func(ctx context.Context, key string, load func(context.Context) (Prediction, error)) (Prediction, error) {
			var p Prediction
			key = "trading:" + key
			data, err := c.rdb.Get(ctx, key).Bytes()
			if err == nil {
				return p, msgpack.Unmarshal(data, &p)
			}
			if !errors.Is(err, redis.Nil) {
				return p, err
			}
			if p, err = load(ctx); err != nil {
				return p, err
			}
			v, err := msgpack.Marshal(&p)
			if err != nil {
				return p, err
			}
			return p, c.rdb.Set(ctx, key, v, stampedeTTL).Err()
		}},
		{"lib", func(ctx context.Context, key string, load func(context.Context) (Prediction, error)) (Prediction, error) {
			return redisclient.GetOrSet(ctx, c.lib, key, stampedeTTL, load)
		}},
		{"gocache", func(ctx context.Context, key string, load func(context.Context) (Prediction, error)) (Prediction, error) {
			var p Prediction
			err := c.gocache.Once(&gocache.Item{
				Ctx:   ctx,
				Key:   "trading:" + key,
				Value: &p,
				TTL:   stampedeTTL,
				Do:    func(it *gocache.Item) (any, error) { return load(it.Context()) },
			})
			return p, err
		}},
	}
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			ctx := context.Background()
			var loads atomic.Int64
			load := func(ctx context.Context) (Prediction, error) {
				loads.Add(1)
				time.Sleep(stampedeLoad)
				return samplePrediction(1), nil
			}
			var maxLoads int64
			b.ReportAllocs()
			b.ResetTimer()
			stopCPU := cpuPerOp(b)
			for range b.N {
				b.StopTimer()
				key := fresh()
				before := loads.Load()
				start := make(chan struct{})
				var ready, done sync.WaitGroup
				errs := make(chan error, stampedeCallers)
				for range stampedeCallers {
					ready.Add(1)
					done.Add(1)
					go func() {
						defer done.Done()
						ready.Done()
						<-start
						p, err := im.get(ctx, key, load)
						if err == nil && p.Horizon != 300 {
							err = errors.New("wrong value")
						}
						if err != nil {
							errs <- err
						}
					}()
				}
				ready.Wait()
				b.StartTimer()
				close(start)
				done.Wait()
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				maxLoads = max(maxLoads, loads.Load()-before)
				b.StartTimer()
			}
			b.StopTimer()
			stopCPU()
			b.ReportMetric(float64(loads.Load())/float64(b.N), "loads/op")
			b.ReportMetric(float64(maxLoads), "max-loads")
		})
	}
}
