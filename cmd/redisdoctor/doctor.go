package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/redisinfo"
)

// Status is the verdict of one check.
type Status string

// Check verdicts. SKIP marks a check that could not run (Redis unreachable,
// or the server does not report what it needs); it never fails the run.
const (
	StatusOK   Status = "OK"
	StatusWarn Status = "WARN"
	StatusFail Status = "FAIL"
	StatusSkip Status = "SKIP"
)

func (s Status) rank() int {
	switch s {
	case StatusFail:
		return 3
	case StatusWarn:
		return 2
	case StatusOK:
		return 1
	}
	return 0
}

func worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Check is the result of one check. Advice says how to fix a WARN or FAIL.
type Check struct {
	Name   string   `json:"name"`
	Status Status   `json:"status"`
	Detail string   `json:"detail"`
	Advice []string `json:"advice,omitempty"`
}

// Report is one round of checks. It is what --json prints.
type Report struct {
	// Status is the worst verdict of the checks (OK when all are OK or
	// skipped); ExitCode is 1 when any check failed, else 0.
	Status     Status    `json:"status"`
	ExitCode   int       `json:"exit_code"`
	Target     string    `json:"target"`
	Deployment string    `json:"deployment"`
	DB         int       `json:"db"`
	CheckedAt  time.Time `json:"checked_at"`
	DurationMS float64   `json:"duration_ms"`
	Checks     []Check   `json:"checks"`
	// Health is the library's own report (client.Health).
	Health redisclient.HealthReport `json:"health"`

	// needsPassword: the server wants a password, so redis-cli needs one.
	needsPassword bool
}

// Thresholds of the checks.
const (
	latencyPings      = 5
	latencyWarn       = 10 * time.Millisecond
	memoryWarnPct     = redisclient.HealthMemoryThreshold * 100
	clientsWarnPct    = 80.0
	slowlogShow       = 5
	slowlogRecent     = time.Hour
	saveOverdueMargin = 5 * time.Minute
)

// Names of the checks, in report order.
const (
	checkReachable = "reachable"
	checkAuth      = "auth"
	checkLatency   = "latency"
	checkServer    = "server"
	checkMemory    = "memory"
	checkPolicy    = "eviction-policy"
	checkEvicted   = "evicted-keys"
	checkPersist   = "persistence"
	checkSlowlog   = "slowlog"
	checkClients   = "clients"
	checkCluster   = "cluster"
)

// serverChecks are the checks that need an answering, authenticated server.
var serverChecks = []string{checkLatency, checkServer, checkMemory, checkPolicy, checkEvicted, checkPersist, checkSlowlog, checkClients}

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

func (t target) portOr6379() int {
	if t.port == 0 {
		return 6379
	}
	return t.port
}

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
		user:       opts.Username,
		hasPass:    opts.Password != "",
	}
	if u, err := url.Parse(opts.URL); err == nil && u.User != nil {
		// Explicit fields win over the URL's, as in the library.
		t.user = cmp.Or(t.user, u.User.Username())
		_, inURL := u.User.Password()
		t.hasPass = t.hasPass || inURL
	}
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
	r.Checks = append(r.Checks, reach, auth, tlsCheck(ctx, t, rdb, h, firstAddr, reach.Status != StatusFail))
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

// ---------------------------------------------------------------- connecting

// connectChecks judges the first PING: whether Redis answers at all and
// whether it accepted the client's credentials. ok reports whether the
// remaining checks can run.
func connectChecks(t target, err error, took time.Duration, h redisclient.HealthReport) (reach, auth Check, ok bool) {
	reach = Check{Name: checkReachable}
	auth = Check{Name: checkAuth}
	if deniedCommand(err) == "ping" {
		// A NOPERM reply is an answer: the user authenticated and may not
		// run PING. The other checks run on what it may do.
		reach.Status = StatusOK
		reach.Detail = fmt.Sprintf("%s answers (in %s; NOPERM for PING)", where(t), fmtDur(took))
		auth.Status = StatusWarn
		auth.Detail = "authenticated" + asUser(t) + ", but this user may not run PING: " + err.Error()
		auth.Advice = pingAdvice(t)
		return reach, auth, true
	}
	if err == nil || h.Connected {
		reach.Status = StatusOK
		reach.Detail = fmt.Sprintf("connected to %s in %s (dial, handshake and first PING)", where(t), fmtDur(took))
		if err != nil {
			reach.Status = StatusWarn
			reach.Detail = fmt.Sprintf("the first PING failed (%v), the next one worked", err)
			reach.Advice = []string{"Connections to " + where(t) + " fail intermittently: check the network path and the server's log (" + logHint + ")."}
		}
		auth.Status = StatusOK
		switch {
		case t.user != "":
			auth.Detail = "authenticated as ACL user " + t.user
		case t.hasPass:
			auth.Detail = "authenticated with a password"
		default:
			auth.Detail = "no password configured, and the server does not ask for one"
		}
		return reach, auth, true
	}

	msg := err.Error()
	kind := classify(err)
	switch h.Failure {
	case redisclient.FailureTLSRequired, redisclient.FailureTLSUnsupported, redisclient.FailureTLSCertificate, redisclient.FailureTLSClientCertificate:
		// The library probed the port: it knows better than the error text.
		kind = string(h.Failure)
		if len(h.Problems) > 0 {
			// The problem without its fix, which the advice gives.
			msg = h.Problems[0]
			if i := strings.LastIndex(msg, ": "); i > 0 {
				msg = msg[:i]
			}
		}
	}
	switch kind {
	case "noauth", "wrongpass", "noperm":
		if kind == "noperm" {
			msg = err.Error()
		}
		reach.Status = StatusOK
		reach.Detail = fmt.Sprintf("%s answers (in %s)", where(t), fmtDur(took))
		auth.Status = StatusFail
		auth.Detail = msg
		auth.Advice = authAdvice(t, kind, err)
		return reach, auth, false
	case "loading":
		reach.Status = StatusFail
		reach.Detail = fmt.Sprintf("%s answers but is still loading its data set, and fails every command until it is done: %s", where(t), msg)
		reach.Advice = []string{
			"Redis is reading its RDB/AOF files after a restart; wait, and watch the progress with `" + t.cli("") + " info persistence` (loading_loaded_perc).",
			"If it restarts over and over, read " + logHint + ".",
		}
		auth.Status = StatusOK
		auth.Detail = "the server accepted the connection"
		return reach, auth, true
	case "misconf":
		reach.Status = StatusOK
		reach.Detail = fmt.Sprintf("%s answers (in %s), but refuses writes and PING: %s", where(t), fmtDur(took), firstSentence(msg))
		auth.Status = StatusOK
		auth.Detail = "the server accepted the connection"
		return reach, auth, true
	case "maxclients":
		reach.Status = StatusFail
		reach.Detail = fmt.Sprintf("%s refuses new connections: %s", where(t), msg)
		reach.Advice = clientsAdvice(t.cli(""))
	case "denied":
		reach.Status = StatusFail
		reach.Detail = fmt.Sprintf("%s refuses the connection: %s", where(t), msg)
		reach.Advice = []string{
			"Redis is in protected mode: it accepts connections from other hosts only when a password is set. Set requirepass (deploy/README.md, step 3 of the systemd install) and give the client REDIS_PASSWORD, or connect over loopback.",
		}
	default:
		reach.Status = StatusFail
		reach.Detail = fmt.Sprintf("cannot reach %s: %s", where(t), msg)
		reach.Advice = reachAdvice(t, kind)
		if adv := tlsAdvice(t, redisclient.FailureKind(kind)); adv != nil {
			reach.Detail = "TLS: " + msg
			reach.Advice = append(adv, "Check the address the client uses: REDIS_URL, REDIS_ADDR or REDIS_HOST/REDIS_PORT (now "+where(t)+").")
		}
	}
	auth.Status = StatusSkip
	auth.Detail = "not checked: Redis does not answer"
	return reach, auth, false
}

// firstSentence shortens a long server error to its first sentence.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}

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

// classify names the kind of a connection error for the advice.
func classify(err error) string {
	msg := err.Error()
	has := func(s string) bool { return strings.Contains(msg, s) }
	switch {
	case has("NOAUTH"):
		return "noauth"
	case has("WRONGPASS"), has("invalid password"), has("invalid username-password"):
		return "wrongpass"
	case has("NOPERM"):
		return "noperm"
	case has("LOADING"):
		return "loading"
	case has("MISCONF"):
		return "misconf"
	case has("max number of clients"):
		return "maxclients"
	case has("DENIED"):
		return "denied"
	case errors.Is(err, redisclient.ErrUnavailable):
		return "unavailable"
	case has("connection refused"), has("no such file or directory"):
		return "refused"
	case has("no such host"), has("server misbehaving"):
		return "dns"
	case has("tls:"), has("x509:"), has("first record does not look like a TLS handshake"):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), has("i/o timeout"), has("deadline exceeded"):
		return "timeout"
	case has("EOF"), has("connection reset"), has("broken pipe"):
		return "closed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}

func reachAdvice(t target, kind string) []string {
	port := t.portOr6379()
	running := "Is it running? `systemctl status redisclient-redis` (systemd host), or `" + t.cli("") + " ping`; start one with `systemctl start redisclient-redis` or `deploy/start-redis.sh --port " + strconv.Itoa(port) + "` (deploy/README.md)."
	portOpen := fmt.Sprintf("Is the port open, and by whom? `ss -ltnp 'sport = :%d'`.", port)
	logs := "The logs: " + logHint + "."
	addr := "Check the address the client uses: REDIS_URL, REDIS_ADDR or REDIS_HOST/REDIS_PORT (now " + where(t) + ")."
	if t.deployment == "sentinel" {
		name, sentinels, _ := strings.Cut(t.address, "@")
		first, _, _ := strings.Cut(sentinels, ",")
		ask := "Ask a sentinel where the master is and what it thinks of it: `" + t.cli(first) + " sentinel get-master-addr-by-name " + name + "` and `sentinel master " + name + "`; then check that server as a standalone one (redisdoctor --url redis://MASTER:PORT/0)."
		up := "Are the sentinels up? `" + t.cli(first) + " ping` on each of them (PONG)."
		return []string{ask, up, "Check REDIS_SENTINEL_MASTER and REDIS_SENTINEL_ADDRS (now " + t.address + ") and REDIS_SENTINEL_PASSWORD."}
	}
	switch kind {
	case "refused":
		return []string{running, portOpen, logs, addr}
	case "timeout":
		return []string{
			"Nothing answered in time: the host is down, a firewall drops the packets, Redis listens on another interface (deploy/redis.conf binds loopback only), or the server is stuck (overloaded, swapping, or blocked by a long command).",
			running, portOpen, addr,
			"A slow network or an overloaded server: raise --timeout, or dial_timeout in REDIS_URL.",
		}
	case "dns":
		return []string{"The host name does not resolve: fix the host in REDIS_URL / REDIS_HOST, or /etc/hosts.", addr}
	case "tls":
		return []string{"TLS does not match: use rediss:// (or REDIS_TLS_CA_FILE) only for the server's tls-port, redis:// otherwise, and check the server's certificate (deploy/README.md, \"TLS\").", addr}
	case "closed":
		return []string{
			"The server closed the connection: a TLS server spoken to without TLS (use rediss://), a proxy in between, or a server restarting.",
			running, logs, addr,
		}
	case "unavailable":
		return []string{"The client's circuit breaker is open after repeated failures.", running, portOpen, logs}
	}
	return []string{running, portOpen, logs, addr}
}

func authAdvice(t target, kind string, err error) []string {
	switch kind {
	case "noauth":
		return []string{
			"The server requires a password and the client sent none: set REDIS_PASSWORD, or put it in the URL (redis://:PASSWORD@host:port/0).",
			"The server's password is in /etc/redisclient-redis/conf.d/password.conf (systemd), or the --password-file given to deploy/start-redis.sh.",
		}
	case "noperm":
		return []string{nopermAdvice(t, err)}
	}
	adv := []string{
		"The password (or user name) is wrong: compare REDIS_PASSWORD or the password in REDIS_URL with the server's requirepass (/etc/redisclient-redis/conf.d/password.conf on a systemd host).",
	}
	if t.user != "" {
		adv = append(adv, "For an ACL user, check that it exists and is enabled: `"+t.cli("")+" acl list` (as an admin user).")
	}
	return adv
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

// ---------------------------------------------------------------- gathering

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
	return k == "loading" || k == "misconf" || deniedCommand(err) == "ping"
}

// ---------------------------------------------------------------- checks

// verdict is the result of a check on one node.
type verdict struct {
	status Status
	detail string
	advice []string
}

// perNode runs f on every node and merges the results: the worst status,
// one detail line per node (prefixed by its address on a cluster), and the
// advice of every node without repeats.
func perNode(name string, nodes []*node, f func(*node) verdict) Check {
	ch := Check{Name: name, Status: StatusSkip}
	if len(nodes) == 1 && nodes[0].addr == "" {
		v := f(nodes[0])
		return Check{Name: name, Status: v.status, Detail: v.detail, Advice: v.advice}
	}
	var lines []string
	for _, n := range nodes {
		v := f(n)
		ch.Status = worse(ch.Status, v.status)
		lines = append(lines, n.addr+": "+v.detail)
		for _, a := range v.advice {
			if !slices.Contains(ch.Advice, a) {
				ch.Advice = append(ch.Advice, a)
			}
		}
	}
	ch.Detail = strings.Join(lines, "\n")
	return ch
}

// missing is the verdict for a check whose data the server did not give.
func missing(n *node, what string) verdict {
	if n.infoErr != nil {
		return verdict{status: StatusSkip, detail: "INFO failed: " + n.infoErr.Error(), advice: deniedAdvice(n.infoErr)}
	}
	return verdict{status: StatusSkip, detail: what + " not reported by the server (INFO lacks it)"}
}

// deniedAdvice is the fix for a diagnostic command the ACL user may not
// run: the doctor's operator user, not more rights for the service's user.
func deniedAdvice(err error) []string {
	cmd, _, _ := strings.Cut(deniedCommand(err), "|") // "slowlog|len": SLOWLOG
	if cmd == "" {
		return nil
	}
	rule := map[string]string{"slowlog": "+slowlog|len +slowlog|get", "config": "+config|get"}[cmd]
	if rule == "" {
		rule = "+" + cmd
	}
	adv := "The ACL user may not run " + strings.ToUpper(cmd) + ", which the doctor reads. Run the doctor as the operator user of deploy/users.conf (REDIS_USERNAME=redisdoctor), or allow " + rule + " for this user"
	if cmd == "info" {
		return []string{adv + " (the library's rule has +info: Health reports memory and clients with it)."}
	}
	return []string{adv + "; the library itself does not need it."}
}

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

func persistenceCheck(t target, n *node) verdict {
	rdbStatus, hasRDB := n.info["rdb_last_bgsave_status"]
	aofOn, hasAOF := n.info.Int("aof_enabled")
	if !hasRDB && !hasAOF {
		return missing(n, "persistence status")
	}
	cli := n.cli(t)
	v := verdict{status: StatusOK}
	var parts []string
	bad := func(s Status, advice ...string) {
		v.status = worse(v.status, s)
		for _, a := range advice {
			if !slices.Contains(v.advice, a) {
				v.advice = append(v.advice, a)
			}
		}
	}
	diskAdvice := "Check the data directory (`" + cli + " config get dir`): free space (`df -h DIR`), and that the server's user owns it and may write it (`ls -ld DIR`; on a systemd host, ReadWritePaths= in the unit). The reason is in the server's log: " + logHint + "."
	forkAdvice := "A failed fork (\"Can't save in background: fork: Cannot allocate memory\") needs `vm.overcommit_memory = 1` (deploy/README.md, step 5)."

	if loading, _ := n.info.Int("loading"); loading == 1 {
		parts = append(parts, "loading the data set")
		bad(StatusWarn, "Redis is still loading its data files after a restart; wait and check again.")
	}

	saveCfg, hasSave := n.config["save"]
	savePoints := parseSave(saveCfg)
	if hasRDB {
		changes, _ := n.info.Int("rdb_changes_since_last_save")
		last, hasLast := n.info.Int("rdb_last_save_time")
		var age time.Duration
		if hasLast && last > 0 {
			age = max(n.now.Sub(time.Unix(last, 0)), 0)
		}
		switch {
		case hasSave && len(savePoints) == 0:
			parts = append(parts, "RDB snapshots off")
		case hasLast && last > 0:
			parts = append(parts, fmt.Sprintf("RDB last save %s ago (%s), %d change(s) since", fmtAge(age), rdbStatus, changes))
		default:
			parts = append(parts, "RDB last bgsave "+rdbStatus)
		}
		if rdbStatus != "ok" && rdbStatus != "" {
			bad(StatusFail, "The last background save failed. With stop-writes-on-bgsave-error yes (the default) Redis now refuses every write until a save succeeds.", diskAdvice, forkAdvice,
				"After fixing the cause, `"+cli+" bgsave` and check again.")
		}
		if inProg, _ := n.info.Int("rdb_bgsave_in_progress"); inProg == 1 {
			parts = append(parts, "a save is running")
		} else if due, ok := saveDue(savePoints, changes); ok && hasLast && last > 0 && age > due+saveOverdueMargin {
			parts[len(parts)-1] += fmt.Sprintf(", overdue (the save rule says after %s)", fmtAge(due))
			bad(StatusWarn, "Snapshots are not being taken although the save rules call for one: a restart would lose "+strconv.FormatInt(changes, 10)+" change(s).", diskAdvice)
		}
	}
	if hasAOF {
		if aofOn == 1 {
			w := n.info["aof_last_write_status"]
			rw := n.info["aof_last_bgrewrite_status"]
			parts = append(parts, fmt.Sprintf("AOF on (last write %s, last rewrite %s)", w, rw))
			if w != "ok" && w != "" {
				bad(StatusFail, "Writing the append-only file failed: Redis refuses writes while it cannot append to the AOF.", diskAdvice)
			}
			if rw != "ok" && rw != "" {
				bad(StatusWarn, "The last AOF rewrite failed: the AOF keeps growing until one succeeds.", diskAdvice, forkAdvice)
			}
		} else {
			parts = append(parts, "AOF off")
		}
	}
	if hasSave && len(savePoints) == 0 && aofOn == 0 {
		parts = append(parts, "a restart empties the cache")
	}
	v.detail = strings.Join(parts, "; ")
	return v
}

// savePoint is one "seconds changes" rule of the save setting.
type savePoint struct {
	after   time.Duration
	changes int64
}

func parseSave(s string) []savePoint {
	f := strings.Fields(s)
	var out []savePoint
	for i := 0; i+1 < len(f); i += 2 {
		sec, err1 := strconv.ParseInt(f[i], 10, 64)
		ch, err2 := strconv.ParseInt(f[i+1], 10, 64)
		if err1 == nil && err2 == nil {
			out = append(out, savePoint{time.Duration(sec) * time.Second, ch})
		}
	}
	return out
}

// saveDue is how long after the last save the save rules call for the next
// one, given the changes made since; ok is false when no rule applies.
func saveDue(points []savePoint, changes int64) (due time.Duration, ok bool) {
	for _, p := range points {
		if changes > 0 && changes >= p.changes && (!ok || p.after < due) {
			due, ok = p.after, true
		}
	}
	return due, ok
}

func slowlogCheck(t target, n *node) verdict {
	if n.slowErr != nil {
		if strings.Contains(strings.ToLower(n.slowErr.Error()), "unknown command") {
			return verdict{status: StatusSkip, detail: "the server does not support SLOWLOG"}
		}
		return verdict{status: StatusSkip, detail: "SLOWLOG failed: " + n.slowErr.Error(), advice: deniedAdvice(n.slowErr)}
	}
	threshold := ""
	if us, err := strconv.ParseInt(n.config["slowlog-log-slower-than"], 10, 64); err == nil && us >= 0 {
		threshold = fmt.Sprintf(" (commands slower than %s)", fmtDur(time.Duration(us)*time.Microsecond))
	}
	if n.slowLen == 0 || len(n.slow) == 0 {
		return verdict{status: StatusOK, detail: "empty" + threshold}
	}
	newest := n.slow[0].Time
	for _, e := range n.slow {
		if e.Time.After(newest) {
			newest = e.Time
		}
	}
	ago := max(n.now.Sub(newest), 0)
	lines := []string{fmt.Sprintf("%d entr%s%s, newest %s ago:", n.slowLen, plural(n.slowLen, "y", "ies"), threshold, fmtAge(ago))}
	for _, e := range n.slow {
		lines = append(lines, fmt.Sprintf("  %s ago  %s  %s", fmtAge(max(n.now.Sub(e.Time), 0)), fmtDur(e.Duration), describeArgs(e.Args)))
	}
	v := verdict{status: StatusOK, detail: strings.Join(lines, "\n")}
	if ago < slowlogRecent {
		cli := n.cli(t)
		v.status = StatusWarn
		v.advice = []string{
			"Commands were slow within the last " + fmtAge(slowlogRecent) + ": see them all with `" + cli + " slowlog get 10`. Usual suspects: KEYS, SMEMBERS/HGETALL/LRANGE 0 -1 on big collections, large values, Lua scripts; use SCAN and smaller values.",
			"Once handled, `" + cli + " slowlog reset` clears the log.",
		}
	}
	return v
}

// describeArgs shows a slow command by name and key only, never its values
// (they could be secrets).
func describeArgs(args []string) string {
	if len(args) == 0 {
		return "(no arguments recorded)"
	}
	name := strings.ToUpper(args[0])
	switch name {
	case "AUTH", "HELLO", "CONFIG", "ACL", "MIGRATE", "CLIENT", "EVAL", "EVALSHA", "FCALL":
		return fmt.Sprintf("%s (%d args)", name, len(args)-1)
	}
	if len(args) == 1 {
		return name
	}
	key := args[1]
	if len(key) > 60 {
		key = key[:57] + "..."
	}
	return fmt.Sprintf("%s %s (%d args)", name, key, len(args)-1)
}

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

func clientsAdvice(cli string) []string {
	return []string{
		"Find who holds the connections: `" + cli + " client list` (addr, name, idle).",
		"Every service instance opens up to PoolSize connections per node (default 10 per CPU): lower Options.PoolSize / REDIS_POOL_SIZE, or raise maxclients (`" + cli + " config set maxclients 20000`) together with the file limit (LimitNOFILE= in the systemd unit).",
	}
}

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

// ---------------------------------------------------------------- formatting

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit || u == "TiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// fmtAge formats a duration for people, to two units: 42s, 3m12s, 5h7m,
// 3d4h.
func fmtAge(d time.Duration) string {
	d = d.Round(time.Second)
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return twoUnits(s/60, "m", s%60, "s")
	case s < 48*3600:
		return twoUnits(s/3600, "h", s%3600/60, "m")
	}
	return twoUnits(s/86400, "d", s%86400/3600, "h")
}

func twoUnits(a int64, ua string, b int64, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d%s", a, ua)
	}
	return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
