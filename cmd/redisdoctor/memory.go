package main

import (
	"fmt"
	"strings"

	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/redisinfo"
)

// This file judges memory: use against maxmemory, the eviction policy and
// the keys evicted.

// memoryWarnPct is the share of maxmemory in use that warns, as in Health.
const memoryWarnPct = redisclient.HealthMemoryThreshold * 100

// memoryCheck compares memory use with maxmemory: no limit, or use at or
// over memoryWarnPct of it, warns.
func memoryCheck(t target, n *node) verdict {
	used, ok := n.info.Int("used_memory")
	if !ok {
		return missing(n, "memory use")
	}
	maxMem, _ := n.info.Int("maxmemory")
	pct := redisinfo.Percent(used, maxMem)
	var extra []string
	if peak, ok := n.info.Int("used_memory_peak"); ok {
		extra = append(extra, "peak "+fmtBytes(peak))
	}
	if frag, ok := n.info.Float("mem_fragmentation_ratio"); ok && frag > 0 {
		extra = append(extra, fmt.Sprintf("fragmentation %.2f", frag))
	}
	tail := ""
	if len(extra) > 0 {
		tail = "; " + strings.Join(extra, ", ")
	}
	cli := n.cli(t)
	if maxMem == 0 {
		return verdict{status: StatusWarn,
			detail: fmt.Sprintf("%s used, no maxmemory limit%s", fmtBytes(used), tail),
			advice: []string{
				"A cache without maxmemory grows until the host runs out of memory and the kernel kills Redis. Set a limit and an eviction policy: `" + cli + " config set maxmemory 256mb` and `" + cli + " config set maxmemory-policy allkeys-lru`.",
				"Make it permanent in redis.conf or conf.d/ (deploy/redis.conf uses 256mb); deploy/README.md, \"Sizing maxmemory\", says how to size it.",
			}}
	}
	v := verdict{status: StatusOK, detail: fmt.Sprintf("%s used of %s maxmemory (%.1f%%)%s", fmtBytes(used), fmtBytes(maxMem), pct, tail)}
	if pct >= memoryWarnPct {
		v.status = StatusWarn
		v.advice = []string{
			fmt.Sprintf("Memory is at %.1f%% of maxmemory (warning at %.0f%%): look at what uses it with `%s info memory` and `%s --bigkeys`.", pct, memoryWarnPct, cli, cli),
			"Raise maxmemory (`" + cli + " config set maxmemory 512mb`, then make it permanent: deploy/README.md, \"Sizing maxmemory\") or lower the TTLs (Options.DefaultTTL, REDIS_DEFAULT_TTL) so keys expire sooner.",
		}
	}
	return v
}

// policyCheck reports maxmemory-policy: noeviction warns, as writes then
// fail with OOM instead of evicting.
func policyCheck(t target, n *node) verdict {
	policy, ok := n.info["maxmemory_policy"]
	if !ok {
		policy = n.health.MaxMemoryPolicy
	}
	if policy == "" {
		return missing(n, "maxmemory-policy")
	}
	cli := n.cli(t)
	switch {
	case policy == "noeviction":
		v := verdict{status: StatusWarn,
			detail: "noeviction: when memory reaches maxmemory, writes fail with OOM errors instead of evicting old keys",
			advice: []string{
				"For a cache, evict the least recently used keys instead: `" + cli + " config set maxmemory-policy allkeys-lru`, and make it permanent in redis.conf or conf.d/ (deploy/redis.conf sets allkeys-lru).",
				"Keep noeviction only if this Redis holds data that must not disappear; then size maxmemory with room to spare.",
			}}
		if oom := n.info.ErrorCount("OOM"); oom > 0 {
			v.detail += fmt.Sprintf("; %d command(s) already failed with OOM", oom)
		}
		return v
	case strings.HasPrefix(policy, "volatile-"):
		return verdict{status: StatusOK, detail: policy + ": only keys with a TTL are evicted (keys written with NoExpiry never are)"}
	}
	return verdict{status: StatusOK, detail: policy}
}

// evictedCheck warns when keys were evicted: maxmemory is too small for the
// working set.
func evictedCheck(t target, n *node) verdict {
	ev, ok := n.info.Int("evicted_keys")
	if !ok {
		return missing(n, "evicted_keys")
	}
	if ev == 0 {
		return verdict{status: StatusOK, detail: "0 keys evicted since the server started"}
	}
	cli := n.cli(t)
	return verdict{status: StatusWarn,
		detail: fmt.Sprintf("%d keys evicted since the server started (or since CONFIG RESETSTAT)", ev),
		advice: []string{
			"maxmemory is too small for the working set: cached values are dropped before they expire, so the hit ratio falls. Raise maxmemory or lower the TTLs (Options.DefaultTTL, REDIS_DEFAULT_TTL).",
			"Watch whether it keeps growing: `" + cli + " info stats | grep evicted_keys`; `" + cli + " config resetstat` resets the counter once fixed.",
		}}
}
