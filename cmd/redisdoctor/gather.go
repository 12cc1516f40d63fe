package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/noperm"
	"github.com/systemtrader/redisclient/internal/redisinfo"
)

// node is what the doctor gathered from one server: the server itself, or
// one master of a cluster.
type node struct {
	addr    string // "" for the single server of a standalone or Sentinel setup
	master  string // the master's address as it sees our connection, with Sentinel
	health  redisclient.ServerHealth
	info    redisinfo.Fields
	infoErr error
	pings   []time.Duration
	pingErr error
	config  map[string]string // CONFIG GET values that could be read
	now     time.Time         // the server's clock, or the local one
	slowLen int64
	slow    []redis.SlowLog
	slowErr error
}

// cli is the redis-cli command line for this server: on a cluster with
// placeholders, as the advice covers every node listed.
func (n *node) cli(t target) string {
	switch {
	case n.addr != "":
		return "redis-cli -h HOST -p PORT"
	case n.master != "":
		return t.cli(n.master)
	}
	return t.cli("")
}

// gather reads what the checks need from every server: the single server,
// or each master of a cluster.
func gather(ctx context.Context, rdb redis.UniversalClient, h redisclient.HealthReport) []*node {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		n := &node{health: h.ServerHealth}
		collect(ctx, rdb, n)
		if h.Deployment == "sentinel" {
			// CLIENT INFO's laddr is the master's end of this connection.
			if s, err := rdb.Do(ctx, "CLIENT", "INFO").Text(); err == nil {
				for f := range strings.FieldsSeq(s) {
					if v, ok := strings.CutPrefix(f, "laddr="); ok {
						n.master = v
					}
				}
			}
		}
		return []*node{n}
	}
	byAddr := make(map[string]redisclient.NodeHealth, len(h.Nodes))
	for _, nh := range h.Nodes {
		byAddr[nh.Address] = nh
	}
	var (
		mu    sync.Mutex
		nodes []*node
	)
	_ = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n := &node{addr: c.Options().Addr}
		n.health = byAddr[n.addr].ServerHealth
		collect(ctx, c, n)
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
		return nil
	})
	slices.SortFunc(nodes, func(a, b *node) int { return strings.Compare(a.addr, b.addr) })
	if len(nodes) == 0 {
		n := &node{health: h.ServerHealth, pingErr: errors.New("no cluster master answered")}
		n.infoErr = n.pingErr
		n.slowErr = n.pingErr
		nodes = append(nodes, n)
	}
	return nodes
}

// collect runs the raw commands on one server. Every failure is kept for
// the check that needs it; none stops the others.
func collect(ctx context.Context, c redis.Cmdable, n *node) {
	for range latencyPings {
		start := time.Now()
		// A LOADING, MISCONF or NOPERM reply is still a round trip.
		if err := c.Ping(ctx).Err(); err != nil && !answered(err) {
			n.pingErr = err
			break
		}
		n.pings = append(n.pings, time.Since(start))
	}
	if s, err := c.Info(ctx).Result(); err != nil {
		n.infoErr = err
	} else {
		n.info = redisinfo.Parse(s)
	}
	n.now = time.Now()
	if tm, err := c.Time(ctx).Result(); err == nil && !tm.IsZero() {
		n.now = tm
	}
	n.config = make(map[string]string)
	for _, p := range []string{"save", "maxclients", "slowlog-log-slower-than"} {
		if _, ok := n.info[p]; ok {
			continue
		}
		if m, err := c.ConfigGet(ctx, p).Result(); err == nil {
			if v, ok := m[p]; ok {
				n.config[p] = v
			}
		}
	}
	n.slowLen, n.slowErr = c.SlowLogLen(ctx).Result()
	if n.slowErr == nil && n.slowLen > 0 {
		n.slow, n.slowErr = c.SlowLogGet(ctx, slowlogShow).Result()
	}
}

// answered reports whether err is a reply of a server that works but
// refuses the command for now (loading its data, or a persistence error).
func answered(err error) bool {
	k := classify(err)
	return k == "loading" || k == "misconf" || noperm.Command(err) == "ping"
}
