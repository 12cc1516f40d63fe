package redisclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// pubsubConn is one pub/sub connection shared by subscriptions of a pool:
// one goroutine reads it and routes each message to the subscriptions of its
// channel or pattern, and one checks that it is alive. A channel subscribed
// by several subscriptions is subscribed once; it is unsubscribed when the
// last of them closes. When the connection breaks, go-redis reconnects and
// subscribes everything again in one command per kind; once Redis has
// confirmed every channel and pattern, each subscription that was live
// before the loss gets its OnReconnect.
type pubsubConn struct {
	sh      *shared
	node    string // the cluster master it was opened for; "" off a cluster
	members int    // subscriptions joined or joining; guarded by the hub's mu

	// wmu orders the (un)subscribe writes with the state changes they go
	// with, so the replies, which come in write order, match the state.
	wmu sync.Mutex

	mu          sync.Mutex // guards the fields below
	ps          *redis.PubSub
	started     bool
	channels    map[string]*topic
	patterns    map[string]*topic
	subs        map[*Subscription]struct{}
	unconfirmed int         // topics with subscriptions that Redis has not confirmed
	lost        bool        // the connection broke and is not confirmed again yet
	epoch       uint64      // losses so far
	inflight    []*joinWait // SUBSCRIBEs written whose replies are not all read, in write order
	noUnsub     bool        // the server refused UNSUBSCRIBE (an ACL without it)

	done       chan struct{}
	closeOnce  sync.Once
	closing    atomic.Bool
	idle       atomic.Bool   // the reader is not waiting on Redis
	seen       atomic.Uint64 // replies read, for watch
	retune     chan struct{} // a subscription with a shorter health check joined
	blockTimer *time.Timer   // the reader's, for Block waits
	wg         sync.WaitGroup
}

// topic is a channel or pattern of a pubsubConn.
type topic struct {
	subs      []*Subscription // copied on write: the reader routes to a snapshot
	unsubs    int             // UNSUBSCRIBEs written whose reply is not read yet
	ready     chan struct{}   // closed when Redis confirmed the subscription
	confirmed bool
}

// joinWait is the SUBSCRIBE (or PSUBSCRIBE) of a Subscribe call, awaiting
// Redis's replies: one per channel, or one error for the whole command.
// Replies come in write order, so they are matched to the oldest command
// still awaiting them; that way an error reply (an ACL refusing a channel)
// reaches the call that caused it.
type joinWait struct {
	kind string
	left int        // replies still to come
	err  chan error // the error reply, if any (buffered: the caller may be gone)
}

func newPubsubConn(sh *shared, node string) *pubsubConn {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pubsubConn{
		sh:         sh,
		node:       node,
		channels:   make(map[string]*topic),
		patterns:   make(map[string]*topic),
		subs:       make(map[*Subscription]struct{}),
		done:       make(chan struct{}),
		retune:     make(chan struct{}, 1),
		blockTimer: t,
	}
}

// topics returns the channels or the patterns, by the kind of a command or
// of its reply.
func (pc *pubsubConn) topics(kind string) map[string]*topic {
	if strings.HasPrefix(kind, "p") {
		return pc.patterns
	}
	return pc.channels
}

// errNoConfirmation is the cause of a Subscribe that Redis did not confirm
// within ReadTimeout.
var errNoConfirmation = fmt.Errorf("%w: Redis did not confirm the subscription within Options.ReadTimeout", context.DeadlineExceeded)

// add subscribes s's channels on the connection, as far as no other
// subscription has them already, and returns once Redis has confirmed all of
// them. On error the caller removes s again.
func (pc *pubsubConn) add(ctx context.Context, s *Subscription) error {
	var timeout <-chan time.Time
	if rt := pc.sh.opts.ReadTimeout; rt > 0 {
		t := time.NewTimer(rt)
		defer t.Stop()
		timeout = t.C
	}
	jw := &joinWait{kind: s.kind, err: make(chan error, 1)}
	if err := pc.register(ctx, s, jw); err != nil {
		return err
	}
	return pc.confirmed(ctx, s, jw, timeout)
}

// register routes s's channels to it and sends SUBSCRIBE for those the
// connection does not have yet. The first subscription opens the
// connection, on the node of its first channel, and starts the goroutines.
func (pc *pubsubConn) register(ctx context.Context, s *Subscription, jw *joinWait) error {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	if pc.closing.Load() {
		return ErrClosed
	}
	pc.mu.Lock()
	if pc.ps == nil {
		pc.ps = pc.sh.rdb.Subscribe(ctx) // no channels: nothing is sent yet
	}
	topics := pc.topics(s.kind)
	var fresh []string
	for _, n := range s.names {
		t := topics[n]
		if t == nil {
			t = &topic{}
			topics[n] = t
		}
		if len(t.subs) == 0 {
			fresh = append(fresh, n)
			t.ready, t.confirmed = make(chan struct{}), false
			pc.unconfirmed++
		}
		t.subs = append(t.subs[:len(t.subs):len(t.subs)], s)
	}
	pc.subs[s] = struct{}{}
	if len(fresh) > 0 {
		jw.left = len(fresh)
		pc.inflight = append(pc.inflight, jw)
	}
	ps := pc.ps
	pc.mu.Unlock()
	if hc := s.opts.HealthCheckInterval; hc > 0 {
		select {
		case pc.retune <- struct{}{}:
		default:
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	var err error
	if s.kind == "psubscribe" {
		err = ps.PSubscribe(ctx, fresh...)
	} else {
		err = ps.Subscribe(ctx, fresh...)
	}
	if err != nil {
		// Nothing will answer it. It is the newest: the writes are in order.
		pc.mu.Lock()
		if n := len(pc.inflight); n > 0 && pc.inflight[n-1] == jw {
			pc.inflight = pc.inflight[:n-1]
		}
		pc.mu.Unlock()
		return err
	}
	if !pc.started {
		pc.started = true
		pc.wg.Add(2)
		go pc.read()
		go pc.watch()
	}
	return nil
}

// confirmed waits until every channel of s is confirmed, again after a
// loss of the connection meanwhile, and marks s live.
func (pc *pubsubConn) confirmed(ctx context.Context, s *Subscription, jw *joinWait, timeout <-chan time.Time) error {
	i, epoch := 0, uint64(0)
	for {
		pc.mu.Lock()
		if pc.epoch != epoch {
			i, epoch = 0, pc.epoch
		}
		topics := pc.topics(s.kind)
		var wait chan struct{}
		for ; i < len(s.names); i++ {
			if t := topics[s.names[i]]; !t.confirmed {
				wait = t.ready
				break
			}
		}
		if wait == nil {
			s.live = true
			pc.mu.Unlock()
			return nil
		}
		pc.mu.Unlock()
		select {
		case <-wait:
		case err := <-jw.err:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return errNoConfirmation
		case <-pc.done:
			return ErrClosed
		}
	}
}

// remove stops routing to s and unsubscribes the channels no other
// subscription has.
func (pc *pubsubConn) remove(s *Subscription) {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.mu.Lock()
	if _, ok := pc.subs[s]; !ok {
		pc.mu.Unlock()
		return
	}
	delete(pc.subs, s)
	topics := pc.topics(s.kind)
	var gone []string
	for _, n := range s.names {
		t := topics[n]
		if t == nil {
			continue
		}
		t.subs = without(t.subs, s)
		if len(t.subs) > 0 {
			continue
		}
		if !t.confirmed {
			pc.unconfirmed--
		}
		if pc.noUnsub {
			if t.unsubs == 0 {
				delete(topics, n)
			}
			continue
		}
		t.unsubs++
		gone = append(gone, n)
	}
	pc.checkReconnected() // s may have been the last one awaited
	ps, lost := pc.ps, pc.lost
	pc.mu.Unlock()
	// A subscription closing with the client need not unsubscribe: its
	// connection closes anyway.
	if len(gone) == 0 || pc.closing.Load() || pc.sh.closed.Load() {
		return
	}
	ctx := context.Background()
	if lost {
		// The connection is down: take the channels off go-redis's list,
		// so the next connection does not subscribe them, without
		// dialing just for that.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		ctx = cctx
	}
	if s.kind == "psubscribe" {
		_ = ps.PUnsubscribe(ctx, gone...)
	} else {
		_ = ps.Unsubscribe(ctx, gone...)
	}
}

func without(subs []*Subscription, s *Subscription) []*Subscription {
	out := make([]*Subscription, 0, len(subs))
	for _, x := range subs {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// read receives from Redis until the connection closes, routing messages,
// matching confirmations and reconnecting after errors.
//
// Reads carry no deadline, so a message costs no timer update; watch finds
// connections that went silent.
func (pc *pubsubConn) read() {
	defer pc.wg.Done()
	ctx := context.Background()
	ps := pc.current()
	failures := 0
	for {
		msg, err := ps.Receive(ctx)
		if pc.closing.Load() {
			return
		}
		if err != nil {
			if pc.answered(err) {
				continue
			}
			pc.lose(err)
			// On a cluster the node may have failed over: the reconnect
			// goes to a master in the slot map, so have it re-read.
			pc.sh.topo.nodeFailed()
			failures++
			pause := reconnectPause(failures)
			if errors.Is(err, ErrUnavailable) {
				// The circuit breaker fails calls without touching the
				// network; ask often so the connection returns soon after
				// its probe closes it.
				pause = min(pause, 100*time.Millisecond)
			}
			if !pc.sleep(pause) {
				return
			}
			if isReply(err) {
				// An error reply to the resubscribe after a reconnect:
				// go-redis keeps that connection, unsubscribed.
				pc.renew()
			}
			ps = pc.current() // watch may have replaced it
			continue
		}
		failures = 0
		pc.seen.Add(1)
		switch m := msg.(type) {
		case *redis.Message:
			pc.route(m)
		case *redis.Subscription:
			pc.answer(m)
		}
	}
}

// route hands m to every subscription of its channel or pattern.
func (pc *pubsubConn) route(m *redis.Message) {
	pc.mu.Lock()
	t := pc.channels[m.Channel]
	if m.Pattern != "" {
		t = pc.patterns[m.Pattern]
	}
	var subs []*Subscription
	if t != nil {
		subs = t.subs
	}
	pc.mu.Unlock()
	for _, s := range subs {
		s.push(pc, m)
	}
}

// answer applies Redis's reply to a (un)subscribe.
func (pc *pubsubConn) answer(m *redis.Subscription) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.inflight) > 0 && !pc.lost && pc.inflight[0].kind == m.Kind {
		if h := pc.inflight[0]; h.left <= 1 {
			pc.inflight = pc.inflight[1:]
		} else {
			h.left--
		}
	}
	topics := pc.topics(m.Kind)
	t := topics[m.Channel]
	if t == nil {
		return
	}
	switch m.Kind {
	case "subscribe", "psubscribe":
		// With an UNSUBSCRIBE still unanswered, this confirms a SUBSCRIBE
		// that it undoes; the one after it is still to come.
		if t.unsubs > 0 || t.confirmed || len(t.subs) == 0 {
			return
		}
		t.confirmed = true
		close(t.ready)
		pc.unconfirmed--
		pc.checkReconnected()
	case "unsubscribe", "punsubscribe":
		if t.unsubs == 0 {
			return
		}
		if t.unsubs--; t.unsubs == 0 && len(t.subs) == 0 {
			delete(topics, m.Channel)
		}
	}
}

// answered takes an error reply that answers one command and leaves the
// connection as it was: a refused UNSUBSCRIBE, or the refusal of the
// SUBSCRIBE a Subscribe call awaits, which that call returns. It reports
// false for anything else.
func (pc *pubsubConn) answered(err error) bool {
	msg, ok := replyError(err)
	if !ok {
		return false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if strings.HasPrefix(msg, "NOPERM") && (strings.Contains(msg, "'unsubscribe'") || strings.Contains(msg, "'punsubscribe'")) {
		if !pc.noUnsub {
			pc.noUnsub = true
			pc.sh.log.Warn("redisclient: the server refuses UNSUBSCRIBE (allow +unsubscribe +punsubscribe in the ACL); "+
				"channels of closed subscriptions stay subscribed on the shared connection, their messages are discarded",
				"node", pc.node, "error", err)
		}
		for _, topics := range []map[string]*topic{pc.channels, pc.patterns} {
			for n, t := range topics {
				if t.unsubs > 0 {
					if t.unsubs = 0; len(t.subs) == 0 {
						delete(topics, n)
					}
				}
			}
		}
		return true
	}
	// After a loss the replies of go-redis's resubscribe come first, and
	// an error among them concerns every channel: that is a reconnect
	// failure, for the reader to handle.
	if len(pc.inflight) > 0 && !pc.lost {
		jw := pc.inflight[0]
		pc.inflight = pc.inflight[1:]
		jw.err <- err
		return true
	}
	return false
}

// lose records that the connection broke: every channel needs Redis's
// confirmation again, and the live subscriptions an OnReconnect once they
// have it.
func (pc *pubsubConn) lose(err error) {
	pc.mu.Lock()
	pc.epoch++
	first := !pc.lost
	pc.lost = true
	pc.inflight = nil // their replies died with the connection
	for _, topics := range []map[string]*topic{pc.channels, pc.patterns} {
		for n, t := range topics {
			t.unsubs = 0 // their replies died with the connection
			if len(t.subs) == 0 {
				delete(topics, n)
				continue
			}
			if t.confirmed {
				t.ready, t.confirmed = make(chan struct{}), false
				pc.unconfirmed++
			}
		}
	}
	for s := range pc.subs {
		if s.live {
			s.gap = true
		}
	}
	n := len(pc.subs)
	pc.mu.Unlock()
	if first {
		pc.sh.log.Warn("redisclient: pubsub connection lost, reconnecting",
			"node", pc.node, "subscriptions", n, "error", err)
	}
}

// checkReconnected ends a loss once every channel is confirmed again: each
// subscription that lived through it gets its OnReconnect. pc.mu is held.
func (pc *pubsubConn) checkReconnected() {
	if !pc.lost || pc.unconfirmed > 0 {
		return
	}
	pc.lost = false
	pc.inflight = nil // replies counted while lost no longer say which command they answer
	n := 0
	for s := range pc.subs {
		if s.gap {
			s.gap = false
			s.pushReconnect()
			n++
		}
	}
	pc.sh.log.Info("redisclient: pubsub resubscribed; messages published meanwhile are lost",
		"node", pc.node, "subscriptions", n)
}

// watch checks the connection every health-check interval (the shortest of
// its subscriptions'): when the reader waited on Redis for a whole interval
// without a reply, it sends a PING; when the next interval brings no reply
// either, the connection is silently dead (a vanished peer, a stalled proxy)
// and watch replaces it, which makes the reader reconnect.
func (pc *pubsubConn) watch() {
	defer pc.wg.Done()
	hc := pc.interval()
	t := time.NewTimer(orDefault(hc, DefaultHealthCheckInterval))
	defer t.Stop()
	var (
		last     uint64
		pingSent bool
	)
	for {
		select {
		case <-pc.done:
			return
		case <-pc.retune:
			if h := pc.interval(); h > 0 && (hc <= 0 || h < hc) {
				hc = h
				t.Reset(hc)
			}
			continue
		case <-t.C:
		}
		if hc = pc.interval(); hc <= 0 {
			last, pingSent = pc.seen.Load(), false
			t.Reset(DefaultHealthCheckInterval)
			continue
		}
		switch seen := pc.seen.Load(); {
		case seen != last || pc.idle.Load():
			last, pingSent = seen, false
		case !pingSent:
			pingSent = true
			ctx, cancel := context.WithTimeout(context.Background(), hc)
			// The reply reaches the reader. A failed write makes go-redis
			// drop the connection, which the reader sees and reports.
			_ = pc.current().Ping(ctx)
			cancel()
		default:
			pingSent = false
			pc.sh.log.Warn("redisclient: pubsub connection silent, replacing it", "node", pc.node, "silence", 2*hc)
			pc.renew()
		}
		t.Reset(hc)
	}
}

// interval is the shortest HealthCheckInterval of the subscriptions, 0 when
// all of them turned the check off.
func (pc *pubsubConn) interval() time.Duration {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	var hc time.Duration
	for s := range pc.subs {
		if h := s.opts.HealthCheckInterval; h > 0 && (hc == 0 || h < hc) {
			hc = h
		}
	}
	return hc
}

// current returns the PubSub in use.
func (pc *pubsubConn) current() *redis.PubSub {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.ps
}

// renew replaces the connection with a new one, subscribed to the same
// channels. Closing the old one ends a Receive waiting on it with an error,
// after which the reader moves to the new one.
func (pc *pubsubConn) renew() {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	if pc.closing.Load() {
		return
	}
	pc.mu.Lock()
	chans, pats := liveNames(pc.channels), liveNames(pc.patterns)
	pc.mu.Unlock()
	ctx := context.Background()
	nps := pc.sh.rdb.Subscribe(ctx)
	// Errors are left to the reader: the PubSub remembers the channels and
	// subscribes them when it next connects.
	if len(chans) > 0 {
		_ = nps.Subscribe(ctx, chans...)
	}
	if len(pats) > 0 {
		_ = nps.PSubscribe(ctx, pats...)
	}
	pc.mu.Lock()
	old := pc.ps
	pc.ps = nps
	pc.mu.Unlock()
	_ = old.Close()
}

func liveNames(topics map[string]*topic) []string {
	names := make([]string, 0, len(topics))
	for n, t := range topics {
		if len(t.subs) > 0 {
			names = append(names, n)
		}
	}
	return names
}

// sleep pauses the reader for d and reports false when the connection
// closed meanwhile.
func (pc *pubsubConn) sleep(d time.Duration) bool {
	pc.idle.Store(true)
	defer pc.idle.Store(false)
	return sleepUnless(d, pc.done)
}

// close closes the connection and waits for its goroutines.
func (pc *pubsubConn) close() {
	pc.closeOnce.Do(func() {
		pc.closing.Store(true)
		close(pc.done)
		pc.wmu.Lock()
		ps := pc.current()
		pc.wmu.Unlock()
		if ps != nil {
			_ = ps.Close()
		}
	})
	pc.wg.Wait()
}
