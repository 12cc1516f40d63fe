package redisclient

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// ring is a subscription's buffer: a FIFO that grows as messages arrive, so
// an idle subscription holds almost nothing however large its BufferSize.
// An entry whose message is nil marks a completed reconnect (OnReconnect);
// markers do not count against the buffer.
type ring struct {
	buf     []queued
	head, n int
	markers int
}

// messages is the number of buffered messages, markers left out.
func (r *ring) messages() int { return r.n - r.markers }

func (r *ring) push(q queued) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = q
	r.n++
	if q.m == nil {
		r.markers++
	}
}

func (r *ring) pop() (queued, bool) {
	if r.n == 0 {
		return queued{}, false
	}
	q := r.buf[r.head]
	r.buf[r.head] = queued{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	if q.m == nil {
		r.markers--
	}
	return q, true
}

// dropOldest removes the oldest message, keeping any markers before it in
// place. Markers are all alike, so the message's slot becomes a marker and
// the first one goes: the same entries, in the same order, one message less.
func (r *ring) dropOldest() {
	for i := range r.n {
		at := (r.head + i) % len(r.buf)
		if r.buf[at].m == nil {
			continue
		}
		r.buf[at] = queued{}
		r.buf[r.head] = queued{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
		return
	}
}

func (r *ring) grow() {
	buf := make([]queued, max(8, 2*len(r.buf)))
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

// shrink lets a large, empty buffer go: a burst should not pin its peak
// size for the life of the subscription.
func (r *ring) shrink() {
	if r.n == 0 && len(r.buf) > 64 {
		r.buf, r.head = nil, 0
	}
}

// push hands m, read by the shared connection's reader, to s under its
// overflow policy. Only a Block subscription with a full buffer makes the
// reader wait, and then for at most BlockTimeout in total until its handler
// has worked the buffer down to half; see Block.
func (s *Subscription) push(pc *pubsubConn, m *redis.Message) {
	s.received.Add(1)
	q := s.c.shared.tel.stamp(m)
	s.mu.Lock()
	for !s.stopped && s.queue.messages() >= s.opts.BufferSize {
		if s.opts.Overflow == DropOldest {
			s.queue.dropOldest()
			s.dropped.Add(1)
			continue
		}
		if s.shedding {
			break
		}
		left := s.opts.BlockTimeout - s.blocked
		if left <= 0 {
			s.shedding = true
			s.mu.Unlock()
			s.c.shared.log.Warn("redisclient: pubsub handler behind for longer than BlockTimeout; dropping its messages until it catches up",
				"op", s.kind, "channels", keyList(s.names), "block_timeout", s.opts.BlockTimeout)
			s.mu.Lock()
			continue
		}
		room := make(chan struct{})
		s.room = room
		s.mu.Unlock()
		waited := pc.waitRoom(room, s.ctx.Done(), left)
		s.mu.Lock()
		s.blocked += waited
	}
	if s.stopped || s.queue.messages() >= s.opts.BufferSize {
		s.mu.Unlock()
		s.dropped.Add(1)
		return
	}
	s.queue.push(q)
	s.startWorker()
	s.mu.Unlock()
}

// pushReconnect queues the OnReconnect call of a completed reconnect behind
// the messages received before the connection was lost.
func (s *Subscription) pushReconnect() {
	s.reconnects.Add(1)
	if s.opts.OnReconnect == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.queue.push(queued{})
	s.startWorker()
}

// startWorker starts a handler goroutine when fewer than Concurrency run.
// Workers exit when the buffer is empty, so an idle subscription has none.
// s.mu is held.
func (s *Subscription) startWorker() {
	if s.workers >= s.opts.Concurrency {
		return
	}
	s.workers++
	s.wg.Add(1)
	go s.work()
}

// work hands buffered messages to the handler until the buffer is empty.
func (s *Subscription) work() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		q, ok := s.queue.pop()
		if !ok {
			s.workers--
			s.queue.shrink()
			s.mu.Unlock()
			return
		}
		if s.room != nil {
			close(s.room) // the reader waits for room
			s.room = nil
		}
		if s.queue.messages() <= s.opts.BufferSize/2 {
			s.blocked, s.shedding = 0, false
		}
		s.mu.Unlock()
		if q.m == nil {
			s.notifyReconnect()
			continue
		}
		s.noteLag(q)
		s.deliver(q.m)
	}
}

// stop refuses further messages and counts the buffered ones as dropped.
func (s *Subscription) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.dropped.Add(uint64(s.queue.messages()))
	s.queue = ring{} // never used again: nothing is queued once stopped
	if s.room != nil {
		close(s.room)
		s.room = nil
	}
}

// waitRoom waits, on the reader, until room is closed, stop is closed, the
// connection closes or d passes, and returns how long it waited.
func (pc *pubsubConn) waitRoom(room, stop <-chan struct{}, d time.Duration) time.Duration {
	start := time.Now()
	pc.idle.Store(true) // not reading: silence says nothing about the connection
	defer pc.idle.Store(false)
	pc.blockTimer.Reset(d)
	select {
	case <-room:
	case <-stop:
	case <-pc.done:
	case <-pc.blockTimer.C:
	}
	pc.blockTimer.Stop()
	return time.Since(start)
}
