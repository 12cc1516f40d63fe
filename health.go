package redisclient

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient/internal/noperm"
	"github.com/systemtrader/redisclient/internal/redisinfo"
)

// Ping checks that Redis answers: the server, or every master of a cluster
// (masters that do not answer are named in a *ClusterError).
// It goes through the circuit breaker, so it fails fast with ErrUnavailable
// while the breaker is open.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.usable("ping", ""); err != nil {
		return err
	}
	cc, ok := c.shared.rdb.(*redis.ClusterClient)
	if !ok {
		return opErr("ping", "", c.shared.rdb.Ping(ctx).Err())
	}
	err := eachMaster(ctx, cc, true, func(ctx context.Context, node *redis.Client) error {
		return node.Ping(ctx).Err()
	})
	return opErr("ping", "", err)
}

// HealthStatus is the overall verdict of a HealthReport.
type HealthStatus string

// Health statuses. HealthHandler answers 200 for the first two, 503 for the
// third.
const (
	// StatusHealthy: Redis answers and nothing needs attention.
	StatusHealthy HealthStatus = "healthy"
	// StatusDegraded: Redis answers, but memory is nearly full, keys are
	// being evicted, the circuit breaker is not closed, or a cluster node
	// did not report.
	StatusDegraded HealthStatus = "degraded"
	// StatusUnhealthy: Redis does not answer or refuses the client (see
	// HealthReport.Failure), the cluster is down, or the client is closed or
	// misconfigured.
	//
	// A least-privilege ACL user that may not run INFO or PING does not
	// change the status: the report says so in Notes.
	StatusUnhealthy HealthStatus = "unhealthy"
)

// HealthMemoryThreshold is the share of maxmemory at or above which Health
// reports StatusDegraded. Servers without maxmemory never trigger it.
const HealthMemoryThreshold = 0.90

// DefaultHealthTimeout bounds one HealthHandler request unless the request
// asks for another timeout with ?timeout=500ms (at most MaxHealthTimeout).
const (
	DefaultHealthTimeout = time.Second
	MaxHealthTimeout     = 30 * time.Second
)

// ServerHealth is what one Redis server reports about itself (INFO). Fields
// a server does not report stay zero.
type ServerHealth struct {
	Version string `json:"redis_version,omitempty"`
	// Role is "master" or "slave" (a replica), as INFO reports it.
	Role string `json:"role,omitempty"`
	// MemoryUsed and MaxMemory are in bytes; MaxMemory 0 means no limit.
	MemoryUsed int64 `json:"memory_used"`
	MaxMemory  int64 `json:"max_memory"`
	// MemoryUsagePct is MemoryUsed as a percentage of MaxMemory, 0 without a
	// limit.
	MemoryUsagePct  float64 `json:"memory_usage_pct"`
	MaxMemoryPolicy string  `json:"maxmemory_policy,omitempty"`
	// EvictedKeys counts keys evicted for memory since the server started
	// (or since CONFIG RESETSTAT).
	EvictedKeys    int64 `json:"evicted_keys"`
	KeyspaceHits   int64 `json:"keyspace_hits"`
	KeyspaceMisses int64 `json:"keyspace_misses"`
	// HitRatio is hits / (hits + misses), 0 before any lookup.
	HitRatio         float64 `json:"keyspace_hit_ratio"`
	ConnectedClients int64   `json:"connected_clients"`
}

// NodeHealth is the health of one cluster master.
type NodeHealth struct {
	Address        string        `json:"address"`
	Connected      bool          `json:"connected"`
	Latency        time.Duration `json:"-"`
	ResponseTimeMS float64       `json:"response_time_ms"`
	// Breaker is the state of the node's own circuit breaker.
	Breaker BreakerState `json:"breaker"`
	ServerHealth
	Error string `json:"error,omitempty"`

	err   error    // the failure behind Error, for diagnose
	notes []string // for HealthReport.Notes
}

// PoolHealth is a snapshot of the connection pool (summed over the nodes of
// a cluster).
type PoolHealth struct {
	Hits       uint32 `json:"hits"`
	Misses     uint32 `json:"misses"`
	Timeouts   uint32 `json:"timeouts"`
	WaitCount  uint32 `json:"wait_count"`
	TotalConns uint32 `json:"total_conns"`
	IdleConns  uint32 `json:"idle_conns"`
	StaleConns uint32 `json:"stale_conns"`
}

// HealthReport is the result of Health. Its JSON field names include those of
// the Python original (status, connected, response_time_ms, host, port, db,
// memory_used, max_memory, memory_usage_pct).
type HealthReport struct {
	Status    HealthStatus `json:"status"`
	Connected bool         `json:"connected"`
	// Latency is the round trip of a PING on an open connection.
	Latency        time.Duration `json:"-"`
	ResponseTimeMS float64       `json:"response_time_ms"`
	// Address is where the client connects (host:port, unix:path, the
	// cluster seeds, or the Sentinel master name and sentinels); it never
	// holds a password. Host and Port are its first host and port.
	Address    string `json:"address"`
	Host       string `json:"host"`
	Port       int    `json:"port"`
	DB         int    `json:"db"`
	Deployment string `json:"deployment"`
	// ServerHealth is the server's INFO; on a cluster, sums over the masters
	// (memory, evictions, hits, clients), the highest MemoryUsagePct, and the
	// version, role and policy of the first master.
	ServerHealth
	Pool PoolHealth `json:"pool"`
	// Breaker is the client's circuit breaker; on a cluster the worst state
	// among the masters' breakers (see Client.BreakerState), with each
	// master's own in Nodes.
	Breaker BreakerState `json:"breaker"`
	// ClusterState is CLUSTER INFO's cluster_state ("ok" or "fail") and
	// Nodes the masters, on a cluster only.
	ClusterState string       `json:"cluster_state,omitempty"`
	Nodes        []NodeHealth `json:"nodes,omitempty"`
	// Consumers are the running stream consumers of this client, with
	// their counters; they do not affect Status.
	Consumers []ConsumerHealth `json:"consumers,omitempty"`
	// LocalCache is the state of the near cache, when it is on; it does
	// not affect Status.
	LocalCache *LocalCacheHealth `json:"local_cache,omitempty"`
	// Problems explains a status other than healthy, one line each, with
	// the fix when it is known.
	Problems []string `json:"problems,omitempty"`
	// Failure says why Redis could not be used, when it could not.
	Failure FailureKind `json:"failure,omitempty"`
	// TLS reports whether the client connects with TLS, and
	// TLSInsecureSkipVerify whether it skips certificate verification
	// (TLSOptions.InsecureSkipVerify or skip_verify=true; also a note).
	TLS                   bool `json:"tls"`
	TLSInsecureSkipVerify bool `json:"tls_insecure_skip_verify,omitempty"`
	// Notes are facts worth knowing that do not change the status: INFO or
	// PING not allowed for the ACL user, TLS certificate verification off.
	Notes []string `json:"notes,omitempty"`
	// Error is the failure that made the report unhealthy, if any.
	Error     string    `json:"error,omitempty"`
	Timestamp time.Time `json:"timestamp"`

	cause   error  // the failure behind Error, for diagnose
	problem string // diagnose's line for an unreachable server
}

// Health checks Redis and reports its state. It never fails: an unreachable
// server is a report with StatusUnhealthy and Error set. It bypasses the
// circuit breaker and retries, so it shows Redis as it is even while the
// breaker fails calls fast (an open breaker alone makes the report degraded),
// and ctx bounds it: give it a deadline.
func (c *Client) Health(ctx context.Context) HealthReport {
	r := HealthReport{Status: StatusUnhealthy, Timestamp: time.Now().UTC()}
	if c.err != nil {
		r.Error = opErr("health", "", c.err).Error()
		r.Problems = []string{"client could not be constructed"}
		return r
	}
	sh := c.shared
	r.DB = sh.opts.DB
	r.Deployment = sh.deploy.String()
	r.Address, r.Host, r.Port = healthAddress(&sh.opts, sh.deploy)
	r.Breaker = c.BreakerState()
	r.TLS = sh.opts.TLSConfig != nil
	if tlsInsecure(&sh.opts) {
		r.TLSInsecureSkipVerify = true
		r.Notes = append(r.Notes, insecureWarning)
	}
	if sh.closed.Load() {
		r.Error = opErr("health", "", ErrClosed).Error()
		r.Problems = []string{"client is closed"}
		return r
	}
	ctx = bypass(ctx)
	if cc, ok := sh.rdb.(*redis.ClusterClient); ok {
		clusterHealth(ctx, cc, &r)
		for i := range r.Nodes {
			r.Nodes[i].Breaker = sh.nodes.stateOf(r.Nodes[i].Address)
		}
		r.Breaker = c.BreakerState() // the slot map may have changed meanwhile
	} else {
		n := nodeHealth(ctx, sh.rdb)
		r.Connected, r.Latency, r.ServerHealth, r.Error, r.cause = n.Connected, n.Latency, n.ServerHealth, n.Error, n.err
		r.Notes = append(r.Notes, n.notes...)
	}
	if !r.Connected && r.cause != nil {
		// The port to probe: the first server dialed (not known with
		// Sentinel, which hands out the master's address).
		first := ""
		if sh.deploy != sentinel {
			first, _, _ = strings.Cut(r.Address, ",")
		}
		r.Failure, r.problem = diagnose(ctx, r.cause, first, r.TLS)
	}
	if ps := sh.rdb.PoolStats(); ps != nil {
		r.Pool = PoolHealth{
			Hits: ps.Hits, Misses: ps.Misses, Timeouts: ps.Timeouts, WaitCount: ps.WaitCount,
			TotalConns: ps.TotalConns, IdleConns: ps.IdleConns, StaleConns: ps.StaleConns,
		}
	}
	r.ResponseTimeMS = millis(r.Latency)
	r.Consumers = consumerHealth(&sh.consumers)
	if !r.Connected && sh.closed.Load() {
		// Close overtook the check: say that, not how the socket died.
		r.Error = opErr("health", "", ErrClosed).Error()
		r.Problems = []string{"client is closed"}
		r.Status = StatusUnhealthy
		return r
	}
	r.LocalCache = sh.localHealth()
	r.judge()
	return r
}

// judge sets Status and Problems from the gathered facts.
func (r *HealthReport) judge() {
	var bad, degraded []string
	if !r.Connected {
		bad = append(bad, cmp.Or(r.problem, "redis does not answer"))
	}
	if r.ClusterState != "" && r.ClusterState != "ok" {
		bad = append(bad, "cluster_state is "+r.ClusterState)
	}
	if r.Connected && r.Error != "" {
		degraded = append(degraded, r.Error)
	}
	nodeBreakerOpen := false
	for _, n := range r.Nodes {
		if n.Breaker != BreakerClosed {
			nodeBreakerOpen = true
			degraded = append(degraded, fmt.Sprintf("node %s: circuit breaker is %s", n.Address, n.Breaker))
		}
	}
	if r.Breaker != BreakerClosed && !nodeBreakerOpen {
		degraded = append(degraded, "circuit breaker is "+r.Breaker.String())
	}
	// Memory and evictions are judged per server: on a cluster, per master.
	type server struct {
		prefix string
		info   *ServerHealth
	}
	servers := []server{{"", &r.ServerHealth}}
	if len(r.Nodes) > 0 {
		servers = servers[:0]
		for i := range r.Nodes {
			n := &r.Nodes[i]
			if n.Error != "" {
				degraded = append(degraded, fmt.Sprintf("node %s: %s", n.Address, n.Error))
				continue
			}
			servers = append(servers, server{"node " + n.Address + ": ", &n.ServerHealth})
		}
	}
	for _, sv := range servers {
		s := sv.info
		if s.MaxMemory > 0 && s.MemoryUsagePct >= HealthMemoryThreshold*100 {
			degraded = append(degraded, fmt.Sprintf("%smemory at %.1f%% of maxmemory (threshold %.0f%%)", sv.prefix, s.MemoryUsagePct, HealthMemoryThreshold*100))
		}
		if s.EvictedKeys > 0 && s.MaxMemoryPolicy != "" && s.MaxMemoryPolicy != "noeviction" {
			degraded = append(degraded, fmt.Sprintf("%s%d keys evicted under maxmemory-policy %s", sv.prefix, s.EvictedKeys, s.MaxMemoryPolicy))
		}
	}
	switch {
	case len(bad) > 0:
		r.Status = StatusUnhealthy
	case len(degraded) > 0:
		r.Status = StatusDegraded
	default:
		r.Status = StatusHealthy
	}
	r.Problems = append(bad, degraded...)
}

// nodeHealth pings one server (to connect), reads INFO, and times a second
// PING on the open connection. An ACL user that may not run PING or INFO
// gets NOPERM replies: the server answered, and notes say what is missing.
func nodeHealth(ctx context.Context, rdb redis.Cmdable) NodeHealth {
	var n NodeHealth
	pingDenied := false
	ping := func() error {
		err := rdb.Ping(ctx).Err()
		if noperm.Command(err) == "ping" {
			pingDenied = true
			return nil
		}
		return err
	}
	if err := ping(); err != nil {
		n.Error, n.err = err.Error(), err
		return n
	}
	n.Connected = true
	info, err := rdb.Info(ctx).Result()
	switch {
	case err == nil:
		n.ServerHealth = parseInfo(info)
	case noperm.Command(err) == "info":
		n.notes = append(n.notes, noteNoInfo)
	default:
		n.Error = "INFO: " + err.Error()
	}
	start := time.Now()
	if err := ping(); err != nil {
		n.Connected = false
		n.Error, n.err = err.Error(), err
		return n
	}
	if pingDenied {
		n.notes = append(n.notes, noteNoPing)
	}
	n.Latency = time.Since(start)
	n.ResponseTimeMS = millis(n.Latency)
	return n
}

// clusterHealth reports every master and CLUSTER INFO's state, and sums the
// masters into r.
func clusterHealth(ctx context.Context, cc *redis.ClusterClient, r *HealthReport) {
	if state, err := cc.ClusterInfo(ctx).Result(); err != nil {
		r.Error, r.cause = "CLUSTER INFO: "+err.Error(), err
	} else {
		r.ClusterState = redisinfo.Parse(state)["cluster_state"]
	}
	var mu sync.Mutex
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n := nodeHealth(ctx, node)
		n.Address = node.Options().Addr
		mu.Lock()
		r.Nodes = append(r.Nodes, n)
		mu.Unlock()
		return nil
	})
	if err != nil && r.Error == "" {
		r.Error, r.cause = err.Error(), err
	}
	slices.SortFunc(r.Nodes, func(a, b NodeHealth) int { return strings.Compare(a.Address, b.Address) })
	var s ServerHealth
	for _, n := range r.Nodes {
		for _, note := range n.notes {
			if !slices.Contains(r.Notes, note) {
				r.Notes = append(r.Notes, note)
			}
		}
		if !n.Connected {
			continue
		}
		r.Connected = true
		r.Latency = max(r.Latency, n.Latency)
		if s.Version == "" {
			s.Version, s.Role, s.MaxMemoryPolicy = n.Version, n.Role, n.MaxMemoryPolicy
		}
		s.MemoryUsed += n.MemoryUsed
		s.MaxMemory += n.MaxMemory
		s.MemoryUsagePct = max(s.MemoryUsagePct, n.MemoryUsagePct)
		s.EvictedKeys += n.EvictedKeys
		s.KeyspaceHits += n.KeyspaceHits
		s.KeyspaceMisses += n.KeyspaceMisses
		s.ConnectedClients += n.ConnectedClients
	}
	s.HitRatio = hitRatio(s.KeyspaceHits, s.KeyspaceMisses)
	r.ServerHealth = s
	if !r.Connected && len(r.Nodes) > 0 {
		r.Error = cmp.Or(r.Error, r.Nodes[0].Error)
		if r.cause == nil {
			r.cause = r.Nodes[0].err
		}
	}
}

// parseInfo reads what Health reports from an INFO reply.
func parseInfo(s string) ServerHealth {
	f := redisinfo.Parse(s)
	num := func(k string) int64 {
		n, _ := f.Int(k)
		return n
	}
	h := ServerHealth{
		Version:          f["redis_version"],
		Role:             f["role"],
		MemoryUsed:       num("used_memory"),
		MaxMemory:        num("maxmemory"),
		MaxMemoryPolicy:  f["maxmemory_policy"],
		EvictedKeys:      num("evicted_keys"),
		KeyspaceHits:     num("keyspace_hits"),
		KeyspaceMisses:   num("keyspace_misses"),
		ConnectedClients: num("connected_clients"),
	}
	h.MemoryUsagePct = redisinfo.Percent(h.MemoryUsed, h.MaxMemory)
	h.HitRatio = hitRatio(h.KeyspaceHits, h.KeyspaceMisses)
	return h
}

func hitRatio(hits, misses int64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return math.Round(float64(hits)/float64(hits+misses)*10000) / 10000
}

func millis(d time.Duration) float64 {
	return math.Round(float64(d)/1e3) / 1e3
}

// healthAddress describes where the client connects, without credentials.
func healthAddress(o *Options, d deployment) (addr, host string, port int) {
	var first string
	switch d {
	case cluster:
		seeds := o.Addrs
		if len(seeds) == 0 && o.Addr != "" {
			seeds = []string{o.Addr}
		}
		addr = strings.Join(seeds, ",")
		if len(seeds) > 0 {
			first = seeds[0]
		}
	case sentinel:
		addr = o.MasterName + "@" + strings.Join(o.SentinelAddrs, ",")
		if len(o.SentinelAddrs) > 0 {
			first = o.SentinelAddrs[0]
		}
	default:
		addr, first = o.Addr, o.Addr
	}
	if path, ok := strings.CutPrefix(first, "unix:"); ok {
		return addr, path, 0
	}
	h, p, err := net.SplitHostPort(first)
	if err != nil {
		return addr, first, 0
	}
	port, _ = strconv.Atoi(p)
	return addr, h, port
}

// HealthHandler serves Health as JSON, for Kubernetes probes and load
// balancers: 200 when healthy or degraded, 503 when unhealthy. Each request
// is bounded by DefaultHealthTimeout, or by its ?timeout= parameter (a Go
// duration such as 250ms, at most MaxHealthTimeout), and by the request's
// own context. HEAD gets the status code without a body.
func (c *Client) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		timeout := DefaultHealthTimeout
		if v := req.URL.Query().Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				http.Error(w, "timeout: want a positive Go duration such as 500ms", http.StatusBadRequest)
				return
			}
			timeout = min(d, MaxHealthTimeout)
		}
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		defer cancel()
		rep := c.Health(ctx)
		body, err := json.Marshal(rep)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		code := http.StatusOK
		if rep.Status == StatusUnhealthy {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
		w.WriteHeader(code)
		if req.Method != http.MethodHead {
			_, _ = w.Write(append(body, '\n'))
		}
	})
}
