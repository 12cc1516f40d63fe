package redisclient

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// pubsubHub holds the shared pub/sub connections of a pool: one per node a
// subscription's first channel or pattern lives on (one in all off a
// cluster). A connection opens with its first subscription and closes with
// its last. The zero value is ready to use.
type pubsubHub struct {
	mu     sync.Mutex
	conns  map[string]*pubsubConn
	closed bool
}

// join adds s to the connection of its node and returns once Redis has
// confirmed its channels.
func (h *pubsubHub) join(ctx context.Context, s *Subscription) (*pubsubConn, error) {
	node := s.c.pubsubNode(ctx, s.names[0])
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	pc := h.conns[node]
	if pc == nil {
		if h.conns == nil {
			h.conns = make(map[string]*pubsubConn)
		}
		pc = newPubsubConn(s.c.shared, node)
		h.conns[node] = pc
	}
	pc.members++
	h.mu.Unlock()
	if err := pc.add(ctx, s); err != nil {
		h.leave(pc, s)
		return nil, err
	}
	return pc, nil
}

// leave takes s off pc, closing pc when s was its last subscription.
func (h *pubsubHub) leave(pc *pubsubConn, s *Subscription) {
	h.mu.Lock()
	pc.members--
	last := pc.members == 0
	if last && h.conns[pc.node] == pc {
		delete(h.conns, pc.node)
	}
	h.mu.Unlock()
	if last {
		pc.close()
		return
	}
	pc.remove(s)
}

// close closes every connection; joins after it fail with ErrClosed.
func (h *pubsubHub) close() {
	h.mu.Lock()
	h.closed = true
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	for _, pc := range conns {
		pc.close()
	}
}

// pubsubNode names the connection a subscription whose first channel or
// pattern is name joins: on a cluster the master of name's slot, as go-redis
// would pick for a connection of its own; "" elsewhere, or when the slot map
// cannot be read (the subscribe then reports why).
func (c *Client) pubsubNode(ctx context.Context, name string) string {
	cc, ok := c.shared.rdb.(*redis.ClusterClient)
	if !ok {
		return ""
	}
	node, err := cc.MasterForKey(ctx, name)
	if err != nil {
		return ""
	}
	return node.Options().Addr
}
