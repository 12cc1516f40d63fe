package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// serverCheck reports the version, mode, role and uptime: a replica the
// client writes to, a lost master link, an end-of-life Redis or a cluster
// node used as a single server warns.
func serverCheck(t target, n *node) verdict {
	version, hasVersion := n.info["redis_version"]
	role := n.info["role"]
	if !hasVersion && n.health.Version != "" {
		version, hasVersion, role = n.health.Version, true, n.health.Role
	}
	if !hasVersion {
		if n.infoErr != nil {
			return missing(n, "version")
		}
		return verdict{status: StatusWarn, detail: "the server does not report its version (INFO server is missing: a proxy or an emulator?)",
			advice: []string{"The doctor cannot tell which Redis this is; checks that need INFO fields are skipped. Run it against the Redis server itself."}}
	}
	v := verdict{status: StatusOK}
	var parts []string
	parts = append(parts, "Redis "+version)
	mode := n.info["redis_mode"]
	if mode != "" {
		parts[0] += " (" + mode + " mode)"
	}
	switch role {
	case "master":
		r := "role master"
		if n.master != "" {
			r += " at " + n.master + " (found through Sentinel)"
		}
		if k, ok := n.info.Int("connected_slaves"); ok {
			r += fmt.Sprintf(", %d replica(s)", k)
		}
		parts = append(parts, r)
	case "slave":
		r := "role replica"
		if m, ok := n.info["master_host"]; ok {
			p := n.info["master_port"]
			r += " of " + m + ":" + p
		}
		if link, ok := n.info["master_link_status"]; ok {
			r += ", link " + link
			if link != "up" {
				v.status = StatusWarn
				v.advice = append(v.advice, "The replica has lost its master: check the master, and the replica's log ("+logHint+"); it serves stale data meanwhile.")
			}
		}
		parts = append(parts, r)
		if t.deployment != "sentinel" {
			v.status = StatusWarn
			v.advice = append(v.advice, "The client talks to a replica: writes fail with READONLY. Point REDIS_URL at the master, or use Sentinel (REDIS_SENTINEL_MASTER, REDIS_SENTINEL_ADDRS) so the client follows failovers.")
		}
	case "":
	default:
		parts = append(parts, "role "+role)
	}
	if up, ok := n.info.Int("uptime_in_seconds"); ok {
		parts = append(parts, "up "+fmtAge(time.Duration(up)*time.Second))
	}
	v.detail = strings.Join(parts, ", ")
	if major, _, _ := strings.Cut(version, "."); major != "" {
		if m, err := strconv.Atoi(major); err == nil && m < 6 {
			v.status = StatusWarn
			v.advice = append(v.advice, "Redis "+version+" is past its end of life and lacks ACLs and RESP3; the library and deploy kit target Redis 7 (Debian's redis-server package).")
		}
	}
	if mode == "cluster" && t.deployment != "cluster" {
		v.status = StatusWarn
		v.advice = append(v.advice, "The server is a cluster node but the client is configured for a single server: keys in other slots fail with MOVED. Set REDIS_CLUSTER_ADDRS to the cluster's nodes instead.")
	}
	return v
}
