package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	gocache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
)

// stubServer is a go-redis hook that answers SET and GET from a map instead
// of sending them, so a client that has it as its innermost hook never
// touches the network. Installed on the library's go-redis client it sits
// inside the library's own retry and breaker hook.
type stubServer struct {
	mu   sync.Mutex
	vals map[string]string
}

func (s *stubServer) DialHook(redis.DialHook) redis.DialHook {
	return func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("stub: no network")
	}
}

func (s *stubServer) ProcessHook(redis.ProcessHook) redis.ProcessHook {
	return func(_ context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		key, _ := args[1].(string)
		switch c := cmd.(type) {
		case *redis.StatusCmd: // SET key value EX n
			var v string
			switch x := args[2].(type) {
			case string:
				v = x
			case []byte:
				v = string(x)
			default:
				return fmt.Errorf("stub: SET of %T", x)
			}
			s.mu.Lock()
			s.vals[key] = v
			s.mu.Unlock()
			c.SetVal("OK")
		case *redis.StringCmd: // GET key
			s.mu.Lock()
			v, ok := s.vals[key]
			s.mu.Unlock()
			if !ok {
				c.SetErr(redis.Nil)
				return redis.Nil
			}
			c.SetVal(v)
		default:
			return fmt.Errorf("stub: %s is not supported", cmd.Name())
		}
		return nil
	}
}

func (s *stubServer) ProcessPipelineHook(redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(context.Context, []redis.Cmder) error { return errors.New("stub: no pipelines") }
}

// stubClients returns the library (with and without auto-pipelining), raw
// go-redis and go-redis/cache on stub servers (no rueidis, no AutoPipeliner).
// It needs no Redis. One goroutine calls them, so the library's
// auto-pipelining takes its direct path: lib − libdirect is what that check
// costs a lone caller.
func stubClients(b *testing.B) *clients {
	lib, err := redisclient.New(redisclient.Options{Addr: "127.0.0.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lib.Close() })
	lib.Redis().AddHook(&stubServer{vals: map[string]string{}})
	direct, err := redisclient.New(redisclient.Options{Addr: "127.0.0.1:1", DisableAutoPipeline: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { direct.Close() })
	direct.Redis().AddHook(&stubServer{vals: map[string]string{}})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	rdb.AddHook(&stubServer{vals: map[string]string{}})
	b.Cleanup(func() { rdb.Close() })
	return &clients{
		lib:       lib,
		libDirect: direct,
		rdb:       rdb,
		gocache:   gocache.New(&gocache.Options{Redis: rdb}),
		nonce:     "stub",
	}
}

// BenchmarkOverhead runs the operations of GetString, SetString and
// Prediction with the network cut out: each client's go-redis is answered by
// a stub hook. What remains is each implementation's own CPU cost per call
// (key building, hooks, encoding, decoding, go-redis's command objects), so
// the difference lib − goredis is the wrapper's overhead in nanoseconds, free
// of the loopback round trip and of scheduler noise. No server needed.
func BenchmarkOverhead(b *testing.B) {
	c := stubClients(b)
	ops := []struct {
		name  string
		impls []impl
	}{
		{"get", getStringOps(b, c)},
		{"set", setStringOps(c)},
		{"prediction", predictionOps(c)},
	}
	for _, op := range ops {
		b.Run("op="+op.name, func(b *testing.B) {
			for _, im := range op.impls {
				b.Run("impl="+im.name, func(b *testing.B) {
					ctx := context.Background()
					if err := im.op(ctx); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if err := im.op(ctx); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
