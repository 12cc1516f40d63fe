package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/noperm"
)

// This file judges the first connection: the reachable and auth checks.

// connectChecks judges the first PING: whether Redis answers at all and
// whether it accepted the client's credentials. ok reports whether the
// remaining checks can run.
func connectChecks(t target, err error, took time.Duration, h redisclient.HealthReport) (reach, auth Check, ok bool) {
	reach = Check{Name: checkReachable}
	auth = Check{Name: checkAuth}
	if noperm.Command(err) == "ping" {
		// A NOPERM reply is an answer: the user authenticated and may not
		// run PING. The other checks run on what it may do.
		reach.Status = StatusOK
		reach.Detail = fmt.Sprintf("%s answers (in %s; NOPERM for PING)", where(t), fmtDur(took))
		auth.Status = StatusWarn
		auth.Detail = "authenticated" + asUser(t) + ", but this user may not run PING: " + err.Error()
		auth.Advice = pingAdvice()
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

// reachAdvice is the fix for a server that does not answer, by the kind of
// failure (classify).
func reachAdvice(t target, kind string) []string {
	port := cmp.Or(t.port, 6379)
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

// authAdvice is the fix for a server that refused the credentials.
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
