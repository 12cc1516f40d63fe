package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/redisinfo"
)

// clusterCheck reports CLUSTER INFO: a state other than ok fails; failing
// slots or nodes that did not answer warn.
func clusterCheck(ctx context.Context, t target, rdb redis.UniversalClient, h redisclient.HealthReport) Check {
	ch := Check{Name: checkCluster, Status: StatusOK}
	cli := strings.Replace(t.cli(""), "redis-cli", "redis-cli -c", 1)
	var parts []string
	state := h.ClusterState
	if state == "" {
		state = "unknown"
	}
	parts = append(parts, "cluster_state "+state)
	if s, err := rdb.ClusterInfo(ctx).Result(); err == nil {
		f := redisinfo.Parse(s)
		parts = append(parts, fmt.Sprintf("%s of 16384 slots ok (%s pfail, %s fail), %s known nodes, %s masters with slots",
			f["cluster_slots_ok"], f["cluster_slots_pfail"], f["cluster_slots_fail"], f["cluster_known_nodes"], f["cluster_size"]))
		if f["cluster_slots_pfail"] != "0" || f["cluster_slots_fail"] != "0" {
			ch.Status = worse(ch.Status, StatusWarn)
		}
	}
	down := 0
	for _, nh := range h.Nodes {
		if nh.Error != "" {
			down++
			parts = append(parts, "node "+nh.Address+": "+nh.Error)
		}
	}
	if down > 0 {
		ch.Status = worse(ch.Status, StatusWarn)
	}
	if state != "ok" {
		ch.Status = StatusFail
	}
	if ch.Status != StatusOK {
		ch.Advice = []string{
			"See which nodes and slots are affected: `" + cli + " cluster info` and `" + cli + " cluster nodes`; `redis-cli --cluster check HOST:PORT` checks the whole cluster.",
			"Start the failed nodes (their logs say why they stopped: " + logHint + "); `redis-cli --cluster fix HOST:PORT` reassigns uncovered slots.",
		}
	}
	ch.Detail = strings.Join(parts, "; ")
	return ch
}
