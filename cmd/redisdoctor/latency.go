package main

import (
	"fmt"
	"slices"
	"time"
)

// latencyPings round trips are timed; a median at or over latencyWarn warns.
const (
	latencyPings = 5
	latencyWarn  = 10 * time.Millisecond
)

// latencyCheck times PING round trips on an open connection: a median at
// or over latencyWarn warns, a PING failing after others worked warns too.
func latencyCheck(t target, n *node) verdict {
	if n.pingErr != nil && len(n.pings) == 0 {
		return verdict{status: StatusFail, detail: "PING failed: " + n.pingErr.Error(), advice: reachAdvice(t, classify(n.pingErr))}
	}
	p := slices.Clone(n.pings)
	slices.Sort(p)
	med := p[len(p)/2]
	if len(p)%2 == 0 {
		med = (p[len(p)/2-1] + p[len(p)/2]) / 2
	}
	v := verdict{status: StatusOK, detail: fmt.Sprintf("PING median %s over %d round trips (min %s, max %s)", fmtDur(med), len(p), fmtDur(p[0]), fmtDur(p[len(p)-1]))}
	if n.pingErr != nil {
		v.status = StatusWarn
		v.detail += "; then a PING failed: " + n.pingErr.Error()
		v.advice = append(v.advice, "Connections fail intermittently: check the network path and "+logHint+".")
	}
	if med >= latencyWarn {
		v.status = StatusWarn
		v.advice = append(v.advice,
			fmt.Sprintf("A round trip should take well under a millisecond on the same host or LAN (warning at %s).", latencyWarn),
			"Measure from this host with `"+n.cli(t)+" --latency`, and see the server's own view with `"+n.cli(t)+" latency latest` and `slowlog get 10`.",
			"Common causes: a server far away on the network, a busy or swapping host (CPU steal on a VM), slow commands blocking the server, or background saves forking a large data set.")
	}
	return v
}
