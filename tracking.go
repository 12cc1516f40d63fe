package redisclient

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// invalidateChannel is where Redis sends the invalidation messages of
// CLIENT TRACKING to a RESP2 connection named by REDIRECT.
const invalidateChannel = "__redis__:invalidate"

// tracking keeps one tracking connection per node (the server, the current
// Sentinel master, or every cluster master) and tells the local cache when
// every node is tracked (live) and which keys changed. Each connection
// enables BCAST tracking on the namespace prefix redirected to itself, then
// subscribes to the invalidation channel, so one connection per node both
// asks for and receives the invalidations; losing it loses both together.
type tracking struct {
	lc      *localCache
	prefix  string
	log     *slog.Logger
	ping    time.Duration
	cluster *redis.ClusterClient
	// sentinel: check the role on connect, as the master may have moved
	sentinel bool

	base *redis.Options // of the one node (standalone, Sentinel)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}

	mu      sync.Mutex
	nodes   map[string]*nodeTracker
	topoGen uint64 // bumped when the cluster makes a node client
	doneGen uint64 // topoGen covered by the last reconcile
	closed  bool
}

// nodeTracker is the tracking connection of one node.
type nodeTracker struct {
	addr   string // the cluster node; "" for the one server or Sentinel master
	rdb    *redis.Client
	up     bool   // subscribed with tracking on (under tracking.mu)
	err    string // why it is not, the last failure (under tracking.mu)
	cancel context.CancelFunc
	done   chan struct{}
	remote atomic.Value // string: the address of the server last dialed
}

// server returns the address of the server the tracker last connected to,
// or its configured address before the first connection.
func (n *nodeTracker) server() string {
	if s, _ := n.remote.Load().(string); s != "" {
		return s
	}
	return n.addr
}

func startTracking(lc *localCache, sh *shared) *tracking {
	t := &tracking{
		lc:     lc,
		prefix: sh.opts.Namespace + sh.opts.Separator,
		log:    sh.log,
		ping:   lc.opts.PingInterval,
		nodes:  map[string]*nodeTracker{},
		kick:   make(chan struct{}, 1),

		sentinel: sh.deploy == sentinel,
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	switch rdb := sh.rdb.(type) {
	case *redis.ClusterClient:
		t.cluster = rdb
		rdb.OnNewNode(func(*redis.Client) { t.topologyChanged() })
		t.topoGen = 1
		t.wg.Add(1)
		go t.followCluster()
	case *redis.Client:
		t.base = rdb.Options()
		t.mu.Lock()
		t.startNode("", t.base)
		t.mu.Unlock()
		if t.sentinel {
			t.wg.Add(1)
			go t.followSentinel(newSentinelWatch(sh.opts, t.ping))
		}
	}
	return t
}

// trackingOptions derives the options of n's tracking connection from a
// node's: RESP2 (invalidations arrive as Pub/Sub messages), one connection,
// a dialer that records the server it reached, and an OnConnect that turns
// tracking on for every new connection.
func (t *tracking) trackingOptions(base *redis.Options, n *nodeTracker) *redis.Options {
	o := *base
	dial := o.Dialer
	if dial == nil {
		dial = redis.NewDialer(base)
	}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		cn, err := dial(ctx, network, addr)
		if err == nil {
			remote := addr
			if a := cn.RemoteAddr(); a != nil && a.Network() == "tcp" {
				remote = a.String()
			}
			n.remote.Store(remote)
		}
		return cn, err
	}
	o.Protocol = 2
	o.PoolSize = 1
	o.MinIdleConns = 0
	o.MaxIdleConns = 0
	o.MaxRetries = -1
	o.ReadTimeout = 2 * t.ping
	prev := base.OnConnect
	o.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		if prev != nil {
			if err := prev(ctx, cn); err != nil {
				return err
			}
		}
		if t.sentinel {
			// A demoted master must not be tracked: its keys no longer change.
			role, err := cn.Do(ctx, "ROLE").Slice()
			if err != nil {
				return err
			}
			if len(role) == 0 || role[0] != "master" {
				return errors.New("near cache: tracked server is not a master")
			}
		}
		id, err := cn.ClientID(ctx).Result()
		if err != nil {
			return err
		}
		return cn.Do(ctx, "CLIENT", "TRACKING", "ON", "REDIRECT", id, "BCAST", "PREFIX", t.prefix).Err()
	}
	return &o
}

// startNode starts tracking one node. Called with t.mu held.
func (t *tracking) startNode(addr string, base *redis.Options) {
	ctx, cancel := context.WithCancel(t.ctx)
	n := &nodeTracker{addr: addr, cancel: cancel, done: make(chan struct{})}
	n.rdb = redis.NewClient(t.trackingOptions(base, n))
	t.nodes[addr] = n
	t.recompute()
	t.wg.Add(1)
	go t.run(ctx, n)
}

// stopNode stops tracking a node that is no longer a master. Called with
// t.mu held; the goroutine finishes on its own.
func (t *tracking) stopNode(n *nodeTracker) {
	n.cancel()
	delete(t.nodes, n.addr)
	t.recompute()
}

// setUp records a node's state and recomputes liveness.
func (t *tracking) setUp(n *nodeTracker, up bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if up {
		n.err = ""
	}
	if n.up == up || t.nodes[n.addr] != n {
		return
	}
	n.up = up
	t.recompute()
}

// setFailed marks a node down and records why, for the health report.
func (t *tracking) setFailed(n *nodeTracker, why string) {
	t.mu.Lock()
	n.err = why
	t.mu.Unlock()
	t.setUp(n, false)
}

// trackingACLHint is what an ACL user needs for the near cache beyond the
// library user of deploy/users.conf.
const trackingACLHint = "the near cache needs +client|id +client|tracking &__redis__:invalidate (and +role under Sentinel) in the ACL user's rule"

// trackingFailure describes why a tracking connection failed, with what to
// grant when the server refused a command or the channel.
func trackingFailure(err error) string {
	var re redis.Error
	if errors.As(err, &re) && strings.HasPrefix(re.Error(), "NOPERM") {
		return err.Error() + ": " + trackingACLHint
	}
	return err.Error()
}

// trackingLogEvery: a tracking connection that keeps failing the same way
// is logged once per this period, not once per attempt.
const trackingLogEvery = time.Minute

// recompute makes the cache live exactly when every node is tracked and the
// cluster topology seen by the client has been reconciled. Called with t.mu
// held.
func (t *tracking) recompute() {
	live := !t.closed && len(t.nodes) > 0 && t.topoGen == t.doneGen
	for _, n := range t.nodes {
		live = live && n.up
	}
	if live != t.lc.live.Load() {
		t.lc.setLive(live)
	}
}

// run holds a node's tracking connection: it applies invalidations, pings
// an idle connection, and on any loss marks the node down (flushing the
// cache) and subscribes again with backoff.
func (t *tracking) run(ctx context.Context, n *nodeTracker) {
	defer t.wg.Done()
	defer close(n.done)
	defer n.rdb.Close()
	defer t.setUp(n, false)
	const minBackoff = 10 * time.Millisecond
	backoff := minBackoff
	var logged string // the failure last logged, "" after tracking was up
	var loggedAt time.Time
	for ctx.Err() == nil {
		ps := n.rdb.Subscribe(ctx, invalidateChannel)
		subscribed, err := t.receive(ctx, n, ps)
		_ = ps.Close()
		if ctx.Err() != nil {
			return
		}
		why := trackingFailure(err)
		t.setFailed(n, why)
		if subscribed {
			backoff, logged = minBackoff, ""
		}
		if why != logged || time.Since(loggedAt) >= trackingLogEvery {
			t.log.Warn("redisclient: near cache tracking connection lost, reading from Redis until it is back", "node", n.server(), "error", why)
			logged, loggedAt = why, time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// receive reads one subscription until it fails, and reports whether it
// was subscribed meanwhile.
func (t *tracking) receive(ctx context.Context, n *nodeTracker, ps *redis.PubSub) (subscribed bool, _ error) {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, t.ping)
		if err != nil {
			if ctx.Err() != nil {
				return subscribed, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pinged {
					return subscribed, errors.New("no answer to ping")
				}
				if err := ps.Ping(ctx); err != nil {
					return subscribed, err
				}
				pinged = true
				continue
			}
			if strings.Contains(err.Error(), "unsupported pubsub message payload") {
				// A null invalidation: FLUSHALL or FLUSHDB.
				t.lc.flush()
				continue
			}
			return subscribed, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == invalidateChannel {
				subscribed = true
				t.setUp(n, true)
			}
		case *redis.Message:
			for _, k := range m.PayloadSlice {
				t.lc.invalidate(k)
			}
			if m.PayloadSlice == nil && m.Payload != "" {
				t.lc.invalidate(m.Payload)
			}
		}
	}
}

// topologyChanged runs when the cluster client makes a node client: until
// the next reconcile the cache is not live, as a new master may hold keys
// nobody tracks yet.
func (t *tracking) topologyChanged() {
	t.mu.Lock()
	t.topoGen++
	t.recompute()
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// followCluster keeps one tracker per cluster master.
func (t *tracking) followCluster() {
	defer t.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		t.reconcile()
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		case <-t.kick:
		}
	}
}

func (t *tracking) reconcile() {
	t.mu.Lock()
	gen := t.topoGen
	t.mu.Unlock()
	var mu sync.Mutex
	masters := map[string]*redis.Options{}
	err := t.cluster.ForEachMaster(t.ctx, func(_ context.Context, node *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		masters[node.Options().Addr] = node.Options()
		return nil
	})
	if err != nil || len(masters) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for addr, n := range t.nodes {
		if _, ok := masters[addr]; !ok {
			t.stopNode(n)
		}
	}
	for addr, o := range masters {
		if _, ok := t.nodes[addr]; !ok {
			t.startNode(addr, o)
		}
	}
	t.doneGen = gen
	t.recompute()
}

// close stops every tracker and waits for them.
func (t *tracking) close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.closed = true
	t.recompute()
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}
