package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// target describes where the doctor connects, for the advice texts. It holds
// no credentials.
type target struct {
	deployment string
	address    string // as HealthReport.Address
	host       string
	port       int
	user       string // ACL user name, if any (not a secret)
	hasPass    bool
	tlsArgs    string // redis-cli's TLS arguments (" --tls --cacert ..."), "" without TLS
}

// cli is the redis-cli command line for the target (or for one node), with
// the TLS arguments the client uses.
func (t target) cli(addr string) string {
	return strings.Replace(t.plainCLI(addr), "redis-cli", "redis-cli"+t.tlsArgs, 1)
}

// plainCLI is cli without the TLS arguments.
func (t target) plainCLI(addr string) string {
	host, port := t.host, t.port
	if addr != "" {
		if h, p, err := net.SplitHostPort(addr); err == nil {
			host = h
			port, _ = strconv.Atoi(p)
		}
	}
	switch {
	case strings.HasPrefix(t.address, "unix:") && addr == "":
		return "redis-cli -s " + host
	case port == 0:
		return "redis-cli"
	case (host == "localhost" || host == "127.0.0.1") && port == 6379:
		return "redis-cli"
	case host == "localhost" || host == "127.0.0.1":
		return fmt.Sprintf("redis-cli -p %d", port)
	}
	return fmt.Sprintf("redis-cli -h %s -p %d", host, port)
}

// credentials returns the ACL user the client authenticates as and whether
// it sends a password, read from the go-redis options the library built: the
// URL's user and password win over Username and Password there, and the
// doctor must not apply a rule of its own.
func credentials(rdb redis.UniversalClient) (user string, hasPass bool) {
	switch c := rdb.(type) {
	case *redis.Client: // standalone, and the master behind Sentinel
		return c.Options().Username, c.Options().Password != ""
	case *redis.ClusterClient:
		return c.Options().Username, c.Options().Password != ""
	}
	return "", false
}

// where names the server for people: its address, or the cluster seeds or
// Sentinel master.
func where(t target) string {
	switch t.deployment {
	case "cluster":
		return "cluster seeds " + t.address
	case "sentinel":
		return "Sentinel master " + t.address
	}
	return t.address
}

const logHint = "`journalctl -u redisclient-redis -e` and /var/log/redisclient-redis/redis-server.log (systemd), or LOGDIR/redis-PORT.log (deploy/start-redis.sh)"
