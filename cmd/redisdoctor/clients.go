package main

import (
	"fmt"
	"strconv"
)

// clientsWarnPct is the share of maxclients connected that warns.
const clientsWarnPct = 80.0

// clientsCheck compares connected clients with maxclients: clientsWarnPct
// of it, or connections already rejected, warns.
func clientsCheck(t target, n *node) verdict {
	conn, ok := n.info.Int("connected_clients")
	if !ok {
		return missing(n, "connected_clients")
	}
	maxc, hasMax := n.info.Int("maxclients")
	if !hasMax {
		if m, err := strconv.ParseInt(n.config["maxclients"], 10, 64); err == nil {
			maxc, hasMax = m, true
		}
	}
	v := verdict{status: StatusOK}
	if hasMax && maxc > 0 {
		pct := float64(conn) / float64(maxc) * 100
		v.detail = fmt.Sprintf("%d connected of maxclients %d (%.1f%%)", conn, maxc, pct)
		if pct >= clientsWarnPct {
			v.status = StatusWarn
			v.advice = clientsAdvice(n.cli(t))
		}
	} else {
		v.detail = fmt.Sprintf("%d connected (maxclients not reported)", conn)
	}
	if b, ok := n.info.Int("blocked_clients"); ok && b > 0 {
		v.detail += fmt.Sprintf(", %d blocked", b)
	}
	if rej, ok := n.info.Int("rejected_connections"); ok && rej > 0 {
		v.status = StatusWarn
		v.detail += fmt.Sprintf("; %d connection(s) rejected since start (maxclients reached)", rej)
		v.advice = clientsAdvice(n.cli(t))
	}
	return v
}

// clientsAdvice is the fix for running out of connections.
func clientsAdvice(cli string) []string {
	return []string{
		"Find who holds the connections: `" + cli + " client list` (addr, name, idle).",
		"Every service instance opens up to PoolSize connections per node (default 10 per CPU): lower Options.PoolSize / REDIS_POOL_SIZE, or raise maxclients (`" + cli + " config set maxclients 20000`) together with the file limit (LimitNOFILE= in the systemd unit).",
	}
}
