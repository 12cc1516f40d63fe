package main

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/systemtrader/redisclient"
)

// diagnose checks the server behind c once and returns the report. c should
// be fresh (no connection yet), so that the first PING measures connecting;
// it is not closed.
func diagnose(ctx context.Context, c *redisclient.Client, opts redisclient.Options) Report {
	start := time.Now()
	rdb := c.Redis()

	connErr := rdb.Ping(ctx).Err()
	connTime := time.Since(start)
	h := c.Health(ctx)

	t := target{
		deployment: h.Deployment,
		address:    h.Address,
		host:       h.Host,
		port:       h.Port,
	}
	t.user, t.hasPass = credentials(rdb)
	t.tlsArgs = cliTLSArgs(opts, h)
	r := Report{
		Target:     h.Address,
		Deployment: h.Deployment,
		DB:         h.DB,
		CheckedAt:  start.UTC().Truncate(time.Millisecond),
		Health:     h,
	}

	reach, auth, ok := connectChecks(t, connErr, connTime, h)
	r.needsPassword = t.hasPass || auth.Status == StatusFail
	firstAddr := ""
	if h.Deployment != "sentinel" {
		firstAddr, _, _ = strings.Cut(h.Address, ",")
	}
	r.Checks = append(r.Checks, reach, auth, tlsCheck(ctx, rdb, h, firstAddr, reach.Status != StatusFail))
	if !ok {
		why := "not checked: Redis does not answer"
		if reach.Status == StatusOK {
			why = "not checked: the server refused the client (see auth)"
		}
		for _, name := range serverChecks {
			r.Checks = append(r.Checks, Check{Name: name, Status: StatusSkip, Detail: why})
		}
		if h.Deployment == "cluster" {
			r.Checks = append(r.Checks, Check{Name: checkCluster, Status: StatusSkip, Detail: why})
		}
	} else {
		nodes := gather(ctx, rdb, h)
		r.Checks = append(r.Checks,
			perNode(checkLatency, nodes, func(n *node) verdict { return latencyCheck(t, n) }),
			perNode(checkServer, nodes, func(n *node) verdict { return serverCheck(t, n) }),
			perNode(checkMemory, nodes, func(n *node) verdict { return memoryCheck(t, n) }),
			perNode(checkPolicy, nodes, func(n *node) verdict { return policyCheck(t, n) }),
			perNode(checkEvicted, nodes, func(n *node) verdict { return evictedCheck(t, n) }),
			perNode(checkPersist, nodes, func(n *node) verdict { return persistenceCheck(t, n) }),
			perNode(checkSlowlog, nodes, func(n *node) verdict { return slowlogCheck(t, n) }),
			perNode(checkClients, nodes, func(n *node) verdict { return clientsCheck(t, n) }),
		)
		if h.Deployment == "cluster" {
			r.Checks = append(r.Checks, clusterCheck(ctx, t, rdb, h))
		}
	}

	r.Status = StatusOK
	for _, ch := range r.Checks {
		r.Status = worse(r.Status, ch.Status)
	}
	if r.Status == StatusFail {
		r.ExitCode = 1
	}
	r.DurationMS = math.Round(float64(time.Since(start))/1e3) / 1e3
	return r
}
