package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	gocache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// ttl is the expiry of every key written, a whole number of seconds so that
// all clients send SET ... EX.
const ttl = time.Hour

// Prediction is a model prediction of the shape trading services cache:
// six fields, about 100 bytes as MessagePack. The msgpack tags repeat the
// json names so that hand-written msgpack and the library (which names
// fields by their json tags) write the same bytes.
type Prediction struct {
	Model      string    `json:"model" msgpack:"model"`
	Symbol     string    `json:"symbol" msgpack:"symbol"`
	Signal     float64   `json:"signal" msgpack:"signal"`
	Confidence float64   `json:"confidence" msgpack:"confidence"`
	Horizon    int64     `json:"horizon" msgpack:"horizon"`
	Quantiles  []float64 `json:"quantiles" msgpack:"quantiles"`
}

func samplePrediction(i int) Prediction {
	return Prediction{
		Model:      "lstm-v3",
		Symbol:     "BTC-USD",
		Signal:     0.731 + float64(i)*1e-6,
		Confidence: 0.92,
		Horizon:    300,
		Quantiles:  []float64{-0.012, 0.003, 0.019},
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" && f.Value.String() != "^$" && os.Getenv(testkit.EnvURL) == "" {
		fmt.Fprintf(os.Stderr, "bench: %s is not set, so the benchmarks that need a server skip (or fail under REDISCLIENT_INTEGRATION=1); ./run.sh starts one\n", testkit.EnvURL)
	}
	os.Exit(m.Run())
}

// clients are the implementations under test, all on one server.
type clients struct {
	lib *redisclient.Client // namespace "trading"
	// libDirect is the library with Options.DisableAutoPipeline: every
	// command on its own pooled connection, as before auto-pipelining.
	libDirect *redisclient.Client
	rdb       *redis.Client // raw go-redis, same pool size and timeouts
	// ap is go-redis's own AutoPipeliner (blocking face, default options:
	// half-duplex) on a raw client of its own.
	ap      *redis.AutoPipeliner
	apRDB   *redis.Client
	gocache *gocache.Cache // go-redis/cache on its own go-redis client, no local cache
	gcRDB   *redis.Client
	rue     rueidis.Client // defaults: auto-pipelining on
	nonce   string         // makes this process's keys and channels unique
}

var (
	setupOnce sync.Once
	shared    *clients
	setupErr  error
)

// connect returns the clients, or ends b by testkit.RequireEnv when no
// server is configured.
// Clients live until the test binary exits.
func connect(b testing.TB) *clients {
	b.Helper()
	url := testkit.RequireEnv(b, testkit.EnvURL) // ./run.sh starts a server
	setupOnce.Do(func() { shared, setupErr = newClients(url) })
	if setupErr != nil {
		b.Fatalf("connect to %s: %v", url, setupErr)
	}
	return shared
}

func newClients(url string) (*clients, error) {
	// Generous timeouts: a benchmark on a loaded machine must not fail on a
	// scheduling stall. The go-redis clients copy them.
	lib, err := redisclient.New(redisclient.Options{URL: url, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	libOpts := lib.Redis().(*redis.Client).Options()
	rawOpts := func() (*redis.Options, error) {
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, err
		}
		o.PoolSize = libOpts.PoolSize
		o.DialTimeout = libOpts.DialTimeout
		o.ReadTimeout = libOpts.ReadTimeout
		o.WriteTimeout = libOpts.WriteTimeout
		return o, nil
	}
	o, err := rawOpts()
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(o)
	o2, _ := rawOpts()
	gcRDB := redis.NewClient(o2)
	o3, _ := rawOpts()
	apRDB := redis.NewClient(o3)
	ap, err := apRDB.AutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("go-redis AutoPipeline: %w", err)
	}
	libDirect, err := redisclient.New(redisclient.Options{URL: url, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		DisableAutoPipeline: true})
	if err != nil {
		return nil, err
	}
	ro, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	rue, err := rueidis.NewClient(ro)
	if err != nil {
		return nil, fmt.Errorf("rueidis: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lib.Ping(ctx); err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, err
	}
	return &clients{
		lib:       lib,
		libDirect: libDirect,
		rdb:       rdb,
		ap:        ap,
		apRDB:     apRDB,
		gocache:   gocache.New(&gocache.Options{Redis: gcRDB}),
		gcRDB:     gcRDB,
		rue:       rue,
		nonce:     strconv.FormatInt(time.Now().UnixNano(), 36),
	}, nil
}

// impl is one implementation of a benchmarked operation. op is called once
// per iteration, possibly from many goroutines at once.
type impl struct {
	name string
	op   func(ctx context.Context) error
}

// concurrency levels: 0 runs sequentially, otherwise that many goroutines.
var concurrencies = []struct {
	name       string
	goroutines int
}{{"seq", 0}, {"p8", 8}, {"p64", 64}}

// runImpls runs every impl at every concurrency level as
// Benchmark.../conc=C/impl=I, the shape benchstat -col /impl compares.
func runImpls(b *testing.B, impls []impl) {
	for _, cc := range concurrencies {
		b.Run("conc="+cc.name, func(b *testing.B) {
			for _, im := range impls {
				b.Run("impl="+im.name, func(b *testing.B) {
					run(b, cc.goroutines, im.op)
				})
			}
		})
	}
}

// run calls op b.N times, sequentially or from about goroutines goroutines
// through RunParallel (exactly that many when GOMAXPROCS divides it).
func run(b *testing.B, goroutines int, op func(context.Context) error) {
	ctx := context.Background()
	if err := warm(ctx, max(goroutines, 1), op); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	if goroutines == 0 {
		b.ResetTimer()
		defer cpuPerOp(b)()
		for range b.N {
			if err := op(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((goroutines + procs - 1) / procs)
	b.ResetTimer()
	defer cpuPerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// cpuPerOp starts measuring the CPU time of this process (all goroutines,
// GC included; the server's is not) and returns a function that reports it
// per op as cpu-ns/op. On a loaded machine wall time swings with the
// scheduler while CPU time per op stays put, so this shows a wrapper's own
// cost even when the ns/op ratio is noise.
func cpuPerOp(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, _ := processCPU()
		if ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// warm checks op and fills the connection pools: goroutines goroutines call
// it a few times each.
func warm(ctx context.Context, goroutines int, op func(context.Context) error) error {
	errs := make(chan error, goroutines)
	for range goroutines {
		go func() {
			var err error
			for range 4 {
				if err = op(ctx); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	var first error
	for range goroutines {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// hashOf returns a 64-hex-digit input hash, the shape of HashInput's output.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
