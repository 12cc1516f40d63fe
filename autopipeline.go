package redisclient

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Adaptive auto-pipelining (Options.DisableAutoPipeline turns it off).
//
// go-redis gives each concurrent command a pooled connection of its own and
// a round trip of its own. Under concurrency this hook sends the commands
// that are safe to batch (autopipeline_cmd.go) together instead, as one
// go-redis pipeline per server (per cluster master), while a lone caller
// keeps the direct path: a command is queued only while at least
// minOthersInFlight other commands of the client are in flight.
//
// The hook sits just inside the retry hook, so every guarantee of the
// direct path holds per command: the breaker is checked before a command is
// queued; each caller's retry loop retries its own command under the
// policy, with its own context; the batch itself is one attempt, counted
// once against the breaker (batcher.send) and passed through by the retry
// hook. A caller whose context ends returns at once; its command is never
// sent if the batch had not taken it yet. Only the client's own commands
// are batched, never those of a Tx or a Conn made from it, which must stay
// on their connection (a SELECT on a Conn, a WATCH).

// minOthersInFlight is how many other commands must be in flight for a
// command to be queued rather than sent at once. Measured on loopback
// (BenchmarkAutoPipelineThreshold): below it a batch would mostly hold one
// command and only add a hand-off between goroutines.
const minOthersInFlight = 2

// autoPipeliner is the auto-pipelining hook and its batchers.
type autoPipeliner struct {
	sh        *shared
	minOthers int64        // minOthersInFlight; tests force batching with 0
	inflight  atomic.Int64 // commands inside the hook
	probing   atomic.Int32 // chain probes running (see isMainChain)
	batches   atomic.Uint64
	batched   atomic.Uint64 // commands sent in batches

	single *batcher             // single server and Sentinel
	cc     *redis.ClusterClient // cluster: a batcher per master
	nodes  sync.Map             // master address -> *batcher
	stop   chan struct{}        // closed by close: flushers end
	wg     sync.WaitGroup       // flushers

	mu     sync.Mutex // guards closed and the creation of node batchers
	closed bool
}

func newAutoPipeliner(sh *shared) *autoPipeliner {
	ap := &autoPipeliner{sh: sh, minOthers: minOthersInFlight, stop: make(chan struct{})}
	if cc, ok := sh.rdb.(*redis.ClusterClient); ok {
		ap.cc = cc
	} else {
		ap.single = newBatcher(ap, sh.breaker)
	}
	return ap
}

// DialHook leaves dials alone.
func (ap *autoPipeliner) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessPipelineHook leaves pipelines alone, the batches included.
func (ap *autoPipeliner) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// ProcessHook queues batchable commands while the client is busy. The
// direct path costs two atomic additions and a load.
func (ap *autoPipeliner) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	chain := new(atomic.Int32) // which client this chain belongs to
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ap.probing.Load() != 0 && ctx.Value(chainProbeKey{}) != nil {
			chain.Store(chainMain)
			return nil
		}
		others := ap.inflight.Add(1) - 1
		defer ap.inflight.Add(-1)
		if others < ap.minOthers {
			return next(ctx, cmd)
		}
		return ap.batch(ctx, cmd, chain, next)
	}
}

// batch sends cmd through its server's batcher when it may be batched, or
// else directly.
func (ap *autoPipeliner) batch(ctx context.Context, cmd redis.Cmder, chain *atomic.Int32, next redis.ProcessHook) error {
	size, ok := pipelineSize(cmd)
	// Only an attempt of the retry hook's: not a probe or health check
	// (bypass), not the handshake of a batch's new connection.
	if !ok || attemptOf(ctx) != singleAttempt || !ap.isMainChain(chain) {
		return next(ctx, cmd)
	}
	b := ap.batcherFor(ctx, cmd)
	if b == nil {
		return next(ctx, cmd)
	}
	send := cmd
	if ctx.Done() != nil {
		// The caller may leave before its reply: the batch fills in a copy.
		if send, ok = pipelineCopy(ctx, cmd); !ok {
			return next(ctx, cmd)
		}
	}
	err, queued := b.await(ctx, cmd, send, size)
	if !queued {
		return next(ctx, cmd)
	}
	return err
}

// batcherFor returns the batcher of cmd's server, or nil to send cmd
// directly: on a cluster, when the master of its key is unknown or its
// breaker is not closed (the direct path fails fast and has the slot map
// re-read).
func (ap *autoPipeliner) batcherFor(ctx context.Context, cmd redis.Cmder) *batcher {
	if ap.cc == nil {
		return ap.single
	}
	node, err := ap.cc.MasterForKey(ctx, cmd.Args()[1].(string))
	if err != nil {
		return nil
	}
	addr := node.Options().Addr
	b := ap.nodeBatcher(addr)
	if b == nil {
		return nil
	}
	guard := b.guard.Load()
	if guard == nil {
		if guard = ap.sh.nodes.lookup(addr); guard == nil {
			return nil // no command went to the node yet
		}
		b.guard.Store(guard)
	}
	if guard.State() != BreakerClosed {
		return nil
	}
	return b
}

// nodeBatcher returns the batcher of the cluster master at addr, made on
// first use; nil once the client is closing.
func (ap *autoPipeliner) nodeBatcher(addr string) *batcher {
	if b, ok := ap.nodes.Load(addr); ok {
		return b.(*batcher)
	}
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if ap.closed {
		return nil
	}
	if b, ok := ap.nodes.Load(addr); ok {
		return b.(*batcher)
	}
	b := newBatcher(ap, nil)
	ap.nodes.Store(addr, b)
	return b
}

// close fails the queued commands with ErrClosed and stops batching; the
// commands that arrive later take the direct path. Batches being sent
// finish, or fail once the pool closes; wait waits for them.
func (ap *autoPipeliner) close() {
	if ap == nil {
		return
	}
	ap.mu.Lock()
	ap.closed = true // no node batcher is made from now on
	ap.mu.Unlock()
	if ap.single != nil {
		ap.single.close()
	}
	ap.nodes.Range(func(_, b any) bool {
		b.(*batcher).close()
		return true
	})
	close(ap.stop)
}

// wait waits for the flushers to end; call it after close.
func (ap *autoPipeliner) wait() {
	if ap != nil {
		ap.wg.Wait()
	}
}

// The hooks of a go-redis client are copied into every Tx and Conn made
// from it, each with a chain of its own. Their commands must stay on their
// connection, so the hook batches only the commands of the client's own
// chain. A chain learns which it is from a probe: a no-op command sent
// through the client itself, which the client's chain marks as its own and
// answers without sending.

type chainProbeKey struct{}

// Chain states.
const (
	chainUnknown int32 = iota
	chainMain
	chainOther
)

// isMainChain reports whether chain is the client's own, probing once when
// it does not know yet.
func (ap *autoPipeliner) isMainChain(chain *atomic.Int32) bool {
	switch chain.Load() {
	case chainMain:
		return true
	case chainOther:
		return false
	}
	ap.probing.Add(1)
	ctx := context.WithValue(bypass(context.Background()), chainProbeKey{}, true)
	_ = ap.sh.rdb.Process(ctx, redis.NewStatusCmd(ctx, "ping"))
	ap.probing.Add(-1)
	if chain.Load() == chainMain {
		return true
	}
	chain.CompareAndSwap(chainUnknown, chainOther)
	return false
}
