package redisclient

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits of one batch, and the batches one node may have in flight at once:
// while they are sent, the next callers queue up for the next batch.
const (
	maxBatchCmds     = 128
	maxBatchBytes    = 256 << 10
	batchesInFlight  = 2
	batchPanicPrefix = "redisclient: auto-pipeline batch panicked: "
)

// States of a waiter. The batch and the caller race for the transitions out
// of waitQueued and waitTaken with compare-and-swap; whoever loses knows the
// other side owns the waiter from then on.
const (
	waitQueued int32 = iota // in the queue, not sent
	waitTaken               // in a batch being sent
	waitDone                // reply delivered: the caller owns the waiter
	waitLeft                // the caller's context ended: the batch owns it
)

// waiter is one caller's command in a batcher's queue. Waiters are pooled:
// exactly one side releases each, the caller once it has the reply, the
// batch when the caller left.
type waiter struct {
	ctx   context.Context
	send  redis.Cmder // the caller's command, or its pipelineCopy
	size  int
	state atomic.Int32
	done  chan struct{} // one token when the reply is in
}

var waiterPool = sync.Pool{New: func() any { return &waiter{done: make(chan struct{}, 1)} }}

func newWaiter(ctx context.Context, send redis.Cmder, size int) *waiter {
	w := waiterPool.Get().(*waiter)
	w.ctx, w.send, w.size = ctx, send, size
	w.state.Store(waitQueued)
	return w
}

func (w *waiter) release() {
	w.ctx, w.send = nil, nil
	waiterPool.Put(w)
}

// batcher queues the batchable commands for one server (one cluster master)
// and sends them as go-redis pipelines from flusher goroutines, started on
// first use and ended by Close. A flusher takes whatever is queued when it
// is free, so batches grow with the load and a command waits at most for
// the batch ahead of it.
type batcher struct {
	ap *autoPipeliner
	// count is the breaker that counts each batch's outcome once: the
	// client's on a single server or Sentinel, nil on a cluster (the node
	// hooks count each node's part of a pipeline once).
	count *breaker
	// guard is a cluster node's breaker, looked up on first use: while it
	// is not closed, the node's commands take the direct path, which fails
	// fast.
	guard atomic.Pointer[breaker]

	wake    chan struct{} // one token: the queue has commands
	sending atomic.Int32  // batches being sent

	mu      sync.Mutex
	queue   []*waiter
	started bool
	closed  bool
}

func newBatcher(ap *autoPipeliner, count *breaker) *batcher {
	return &batcher{ap: ap, count: count, wake: make(chan struct{}, 1)}
}

// enqueue queues w, starting the flushers on first use. It reports false
// once the client is closing: the caller then takes the direct path.
func (b *batcher) enqueue(w *waiter) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	if !b.started {
		b.started = true
		b.ap.wg.Add(batchesInFlight)
		for range batchesInFlight {
			go b.flush()
		}
	}
	b.queue = append(b.queue, w)
	b.mu.Unlock()
	b.signal()
	return true
}

func (b *batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// flusher is the state a flusher goroutine reuses from batch to batch.
type flusher struct {
	pl    redis.Pipeliner
	att   *attempt
	ctx   context.Context // the batches' context: an attempt of the retry hook
	batch []*waiter
	cmds  []redis.Cmder
}

// flush is a flusher goroutine: it sends batches until Close.
func (b *batcher) flush() {
	defer b.ap.wg.Done()
	// A batch is an attempt of the retry hook, which therefore passes it
	// through: each caller's own retry loop decides about its command. The
	// client's pipeline goes through all of its hooks.
	f := &flusher{pl: b.ap.sh.rdb.Pipeline(), att: &attempt{}}
	f.ctx = withAttempt(context.Background(), f.att)
	for {
		select {
		case <-b.wake:
		case <-b.ap.stop:
			return
		}
		for {
			if b.sending.Load() > 0 {
				// Another batch is out: let the callers it woke queue their
				// next commands, so this batch carries them too.
				runtime.Gosched()
			}
			f.batch = b.take(f.batch[:0])
			if len(f.batch) == 0 {
				break
			}
			b.send(f)
			clear(f.batch)
		}
	}
}

// take moves up to one batch of waiters from the queue into batch. A
// waiter whose caller left is dropped, one whose context has ended is
// answered with its context's error: neither is sent.
func (b *batcher) take(batch []*waiter) []*waiter {
	b.mu.Lock()
	n, bytes := 0, 0
	for n < len(b.queue) && len(batch) < maxBatchCmds && bytes < maxBatchBytes {
		w := b.queue[n]
		n++
		if !w.state.CompareAndSwap(waitQueued, waitTaken) {
			w.release() // its caller left
			continue
		}
		if err := w.ctx.Err(); err != nil {
			w.send.SetErr(err)
			b.finish(w)
			continue
		}
		batch = append(batch, w)
		bytes += w.size
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	b.mu.Unlock()
	if rest > 0 {
		b.signal()
	}
	return batch
}

// send sends f's batch as a pipeline and hands each caller its reply.
func (b *batcher) send(f *flusher) {
	batch := f.batch
	b.sending.Add(1)
	defer b.sending.Add(-1)
	defer func() {
		// A panicking hook must not strand the callers.
		if r := recover(); r != nil {
			err := fmt.Errorf("%s%v", batchPanicPrefix, r)
			for _, w := range batch {
				if w.send.Err() == nil {
					w.send.SetErr(err)
				}
			}
			f.pl.Discard()
		}
		for _, w := range batch {
			b.finish(w)
		}
	}()
	f.att.reset()
	ctx := f.ctx
	// The batch's deadline is the latest of its callers', none if one has
	// none: it never outlives all of them.
	if dl, ok := latestDeadline(batch); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	if err := b.count.allow(); err != nil { // opened since the callers checked it
		for _, w := range batch {
			w.send.SetErr(err)
		}
		return
	}
	f.cmds = f.cmds[:0]
	for _, w := range batch {
		f.cmds = append(f.cmds, w.send)
	}
	b.ap.batches.Add(1)
	b.ap.batched.Add(uint64(len(f.cmds)))
	_ = f.pl.BatchProcess(ctx, f.cmds...)
	cmds, err := f.pl.Exec(ctx)
	// One batch, one outcome: a connection lost under it counts once.
	b.count.record(ctx, connFailure(cmds, err))
	clear(f.cmds)
}

// reset forgets the commands noted in the previous batch.
func (a *attempt) reset() {
	a.mu.Lock()
	a.failed = nil
	a.mu.Unlock()
}

// finish hands w's reply to its caller, or releases w if the caller left.
func (b *batcher) finish(w *waiter) {
	if w.state.CompareAndSwap(waitTaken, waitDone) {
		w.done <- struct{}{}
		return
	}
	w.release()
}

// close fails the queued commands with ErrClosed and refuses new ones.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	queued := b.queue
	b.queue = nil
	b.mu.Unlock()
	for _, w := range queued {
		if w.state.CompareAndSwap(waitQueued, waitTaken) {
			w.send.SetErr(ErrClosed)
			b.finish(w)
		} else {
			w.release()
		}
	}
}

// await queues send, cmd or its copy, and waits for its reply or for ctx to
// end, whichever comes first (a context that cannot end sends cmd itself). queued is false when the batcher refused it
// (closing): nothing was sent.
func (b *batcher) await(ctx context.Context, cmd, send redis.Cmder, size int) (err error, queued bool) {
	w := newWaiter(ctx, send, size)
	if !b.enqueue(w) {
		w.release()
		return nil, false
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		if w.state.CompareAndSwap(waitQueued, waitLeft) || w.state.CompareAndSwap(waitTaken, waitLeft) {
			// The batch drops or answers into the copy; cmd is ours alone.
			err := ctx.Err()
			cmd.SetErr(err)
			return err, true
		}
		<-w.done // the reply came in at the same moment
	}
	if send != cmd {
		copyReply(cmd, send)
	}
	w.release()
	if err := cmd.Err(); err != nil && isConnFailure(err) {
		return &batchFailure{err: err}, true
	}
	return cmd.Err(), true
}

// latestDeadline returns the latest deadline of the waiters' contexts, or
// false when one of them has none.
func latestDeadline(batch []*waiter) (time.Time, bool) {
	var latest time.Time
	for _, w := range batch {
		d, ok := w.ctx.Deadline()
		if !ok {
			return time.Time{}, false
		}
		if d.After(latest) {
			latest = d
		}
	}
	return latest, true
}

// batchFailure is a connection failure of a batch as each of its callers'
// retry loops sees it: the batch counted it against the breaker once
// already, so the loops must not count it again (retryhook.go unwraps it).
type batchFailure struct{ err error }

func (e *batchFailure) Error() string { return e.err.Error() }
func (e *batchFailure) Unwrap() error { return e.err }
