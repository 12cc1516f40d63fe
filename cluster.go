package redisclient

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// eachMaster runs fn on every master of the cluster, as the cluster reports
// them now: all at once when parallel, else one after the other in address
// order. A master whose fn fails does not stop the others; the failures come
// back as a *ClusterError naming each master. Only errStopScan ends the walk
// early.
func eachMaster(ctx context.Context, cc *redis.ClusterClient, parallel bool, fn func(context.Context, *redis.Client) error) error {
	var mu sync.Mutex
	ce := &ClusterError{}
	record := func(node *redis.Client, err error) {
		mu.Lock()
		defer mu.Unlock()
		addr := node.Options().Addr
		if err == nil {
			ce.Done = append(ce.Done, addr)
			return
		}
		if ce.Failed == nil {
			ce.Failed = make(map[string]error)
		}
		ce.Failed[addr] = err
	}
	// ForEachMaster re-reads the slot map first, so a master replaced by a
	// failover is not visited. It runs fn on a goroutine per master.
	var masters []*redis.Client
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		if parallel {
			record(node, fn(ctx, node))
		} else {
			mu.Lock()
			masters = append(masters, node)
			mu.Unlock()
		}
		return nil
	}); err != nil {
		return err
	}
	slices.SortFunc(masters, func(a, b *redis.Client) int { return strings.Compare(a.Options().Addr, b.Options().Addr) })
	for _, node := range masters {
		err := fn(ctx, node)
		if errors.Is(err, errStopScan) {
			return err
		}
		record(node, err)
	}
	if len(ce.Failed) == 0 {
		return nil
	}
	slices.Sort(ce.Done)
	return ce
}

// eachNode runs fn on the server, or on every master of a cluster one after
// the other (see eachMaster: the failures of some masters come back as a
// *ClusterError).
func (c *Client) eachNode(ctx context.Context, fn func(context.Context, redis.Cmdable) error) error {
	if cc, ok := c.shared.rdb.(*redis.ClusterClient); ok {
		return eachMaster(ctx, cc, false, func(ctx context.Context, node *redis.Client) error { return fn(ctx, node) })
	}
	return fn(ctx, c.shared.rdb)
}

// reloadEvery bounds how often failures ask go-redis to re-read the slot
// map: a few times a second while a node is down, so that its slots follow
// the replica that takes over within a fraction of a second.
const reloadEvery = 200 * time.Millisecond

// topology asks go-redis to re-read the slot map when a node fails. go-redis
// re-reads it only on MOVED, ASK or READONLY replies and once a minute, and
// a dead master sends none of those: without this its slots stay routed to
// it long after a replica took them over.
type topology struct {
	cc   *redis.ClusterClient
	last atomic.Int64 // UnixNano of the last reload asked for
}

// nodeFailed asks for a reload, at most once per reloadEvery. The reload
// runs in the background (go-redis's ReloadState) and the caller goes on.
func (t *topology) nodeFailed() {
	if t == nil {
		return
	}
	now := time.Now().UnixNano()
	last := t.last.Load()
	if now-last < int64(reloadEvery) || !t.last.CompareAndSwap(last, now) {
		return
	}
	t.cc.ReloadState(context.Background())
}

type nodeKey struct{}

// nodeHook guards one cluster node: it runs the node's circuit breaker,
// marks dial errors, asks for a topology reload when the node fails, and
// watches the slot maps read from the node. Inside an attempt of the
// client's retry hook it also keeps go-redis's cluster client from sending a
// failed command again by itself: the retry hook decides, knowing which
// commands may run twice, and reloads the slot map in between.
type nodeHook struct {
	addr string
	b    *breaker
	reg  *nodeBreakers
	top  *topology
}

func newNodeHook(node *redis.Client, reg *nodeBreakers, top *topology) *nodeHook {
	return &nodeHook{addr: node.Options().Addr, b: reg.forNode(node), reg: reg, top: top}
}

// DialHook marks dial failures: the command was never sent.
func (h *nodeHook) DialHook(next redis.DialHook) redis.DialHook { return markDialErrors(next) }

// passThrough reports whether ctx belongs to a probe or health check, or to
// a call this hook already guards (the handshake of a new connection).
func passThrough(ctx context.Context) bool {
	return isBypass(ctx) || ctx.Value(nodeKey{}) != nil
}

func (h *nodeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if passThrough(ctx) {
			err := next(ctx, cmd)
			h.watch(cmd, err)
			return err
		}
		if err := h.b.allow(); err != nil {
			h.top.nodeFailed()
			return hide(ctx, err)
		}
		err := next(context.WithValue(ctx, nodeKey{}, h), cmd)
		h.b.record(ctx, err)
		h.watch(cmd, err)
		if err != nil && isConnFailure(err) {
			h.top.nodeFailed()
		}
		return hide(ctx, err)
	}
}

func (h *nodeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if passThrough(ctx) {
			return next(ctx, cmds)
		}
		att := attemptOf(ctx)
		if att != nil {
			// go-redis sends a node's commands again after a connection
			// error; within one attempt the retry hook's decision stands.
			if cmds = att.fresh(cmds); len(cmds) == 0 {
				return nil
			}
		}
		if err := h.b.allow(); err != nil {
			h.top.nodeFailed()
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		err := next(context.WithValue(ctx, nodeKey{}, h), cmds)
		failure := connFailure(cmds, err)
		h.b.record(ctx, failure)
		if failure != nil {
			h.top.nodeFailed()
			if att != nil {
				att.note(cmds)
			}
		}
		return err
	}
}

// connFailure returns the first connection-level failure among a pipeline's
// commands and its error, or nil.
func connFailure(cmds []redis.Cmder, err error) error {
	for _, cmd := range cmds {
		if e := cmd.Err(); e != nil && isConnFailure(e) {
			return e
		}
	}
	if err != nil && isConnFailure(err) {
		return err
	}
	return nil
}

// watch passes the slot maps read from the node to the breakers, so they
// know which nodes are masters now.
func (h *nodeHook) watch(cmd redis.Cmder, err error) {
	if sc, ok := cmd.(*redis.ClusterSlotsCmd); ok && err == nil {
		h.reg.observe(h.addr, sc.Val())
	}
}

// clusterNodeAddr is the address go-redis uses for a node that a slot map
// read from origin lists as addr: a loopback address seen from a node that
// is not on loopback names that node's host, and port 0 (TLS-only nodes)
// the origin's port.
func clusterNodeAddr(origin, addr string) string {
	oh, op, err := net.SplitHostPort(origin)
	if err != nil {
		return addr
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() && !isLoopbackHost(oh) {
		h = oh
	}
	if p == "0" && op != "" && op != "0" {
		p = op
	}
	return net.JoinHostPort(h, p)
}

func isLoopbackHost(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	host = strings.ToLower(host)
	return host == "localhost" || strings.HasSuffix(host, ".docker.internal")
}
