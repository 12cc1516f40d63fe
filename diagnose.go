package redisclient

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/systemtrader/redisclient/internal/noperm"
)

// FailureKind says why Health could not use Redis, so that monitoring and
// redisdoctor can give the right fix. HealthReport.Failure holds it when
// the report is unhealthy because Redis did not answer or refused the
// client.
type FailureKind string

// Failure kinds.
const (
	// FailureRefused: nothing listens at the address (connection refused).
	FailureRefused FailureKind = "refused"
	// FailureDNS: the host name does not resolve.
	FailureDNS FailureKind = "dns"
	// FailureTimeout: no answer in time (host down, packets dropped, server
	// stalled). With TLS on, a server without TLS on that port looks the
	// same when the deadline leaves no time to check.
	FailureTimeout FailureKind = "timeout"
	// FailureTLSRequired: the port speaks TLS but the client connects
	// without it (redis:// at a tls-port).
	FailureTLSRequired FailureKind = "tls_required"
	// FailureTLSUnsupported: the client uses TLS but the port answers plain
	// Redis (rediss:// or REDIS_TLS_* at a plain port).
	FailureTLSUnsupported FailureKind = "tls_unsupported"
	// FailureTLSCertificate: the server's certificate failed verification
	// (unknown CA, a name it does not carry, expired).
	FailureTLSCertificate FailureKind = "tls_certificate"
	// FailureTLSClientCertificate: the server wants a client certificate
	// and got none, or one it does not trust (tls-auth-clients yes).
	FailureTLSClientCertificate FailureKind = "tls_client_certificate"
	// FailureAuth: the server rejected the credentials (NOAUTH, WRONGPASS).
	FailureAuth FailureKind = "auth"
	// FailureNoPerm: the ACL user may not run a command every connection
	// needs (SELECT for a DB other than 0).
	FailureNoPerm FailureKind = "noperm"
	// FailureLoading: the server is loading its data set (LOADING).
	FailureLoading FailureKind = "loading"
	// FailureRefusing: the server answers every command with another error
	// (MISCONF, BUSY, MASTERDOWN, ...).
	FailureRefusing FailureKind = "refusing"
	// FailureClosed: the server closed the connection without answering.
	FailureClosed FailureKind = "closed"
	// FailureOther: anything else; HealthReport.Error has the details.
	FailureOther FailureKind = "other"
)

// Notes of a HealthReport about what a least-privilege user may not see.
const (
	noteNoInfo = "INFO is not allowed for this ACL user (NOPERM): version, memory and clients are not reported; " +
		"allow +info to see them (deploy/users.conf)"
	noteNoPing = "PING is not allowed for this ACL user (NOPERM): the round trip was timed on the NOPERM reply, " +
		"and Client.Ping fails for this user; allow +ping (deploy/users.conf)"
)

// probeTimeout bounds each of diagnose's extra connections.
const probeTimeout = time.Second

// diagnose tells why err, the failure of a health check against addr (the
// first server the client dials, "" if unknown), happened, and returns the
// problem line with its fix. It may open one more connection to addr,
// within ctx, to tell a TLS mismatch from a timeout or a closed connection.
func diagnose(ctx context.Context, err error, addr string, tlsOn bool) (FailureKind, string) {
	if msg, ok := replyError(err); ok {
		return diagnoseReply(err, msg)
	}
	if kind, why, ok := diagnoseTLS(err, addr); ok {
		return kind, why
	}
	if kind, why, ok := diagnoseDial(err, addr); ok {
		return kind, why
	}
	return diagnoseSilence(ctx, err, addr, tlsOn)
}

// diagnoseReply explains an error reply msg of the server.
func diagnoseReply(err error, msg string) (FailureKind, string) {
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "NOPERM":
		if cmd := noperm.Command(err); cmd != "" {
			return FailureNoPerm, "the ACL user may not run " + strings.ToUpper(cmd) + " (NOPERM), which every new connection needs: allow +" + cmd
		}
		return FailureNoPerm, "the ACL user is refused (NOPERM): " + msg
	case "NOAUTH":
		return FailureAuth, "redis wants a password (NOAUTH): set REDIS_PASSWORD or put it in REDIS_URL"
	case "WRONGPASS":
		return FailureAuth, "redis rejects the credentials (WRONGPASS): check REDIS_USERNAME and REDIS_PASSWORD"
	case "LOADING":
		return FailureLoading, "redis answers but is loading its data set (LOADING): wait until it is done"
	}
	return FailureRefusing, "redis answers but refuses commands (" + code + ")"
}

// diagnoseTLS explains a failed TLS handshake; ok is false when err is not
// one.
func diagnoseTLS(err error, addr string) (kind FailureKind, why string, ok bool) {
	var unknownCA x509.UnknownAuthorityError
	var badName x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &badName), errors.As(err, &invalid), errors.As(err, &verify):
		return FailureTLSCertificate, "the server's TLS certificate is not trusted (" + tlsReason(err) + "): " +
			"set REDIS_TLS_CA_FILE to the CA that signed it and REDIS_TLS_SERVER_NAME to a name it carries", true
	case strings.Contains(err.Error(), "remote error: tls:") && strings.Contains(err.Error(), "certificate"):
		// certificate required, bad certificate, unknown certificate authority...
		return FailureTLSClientCertificate, "the server refused the TLS handshake (" + tlsReason(err) + "): " +
			"it wants a client certificate its CA signed (tls-auth-clients yes); set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE", true
	case strings.Contains(err.Error(), "remote error: tls:"):
		return FailureOther, "the server refused the TLS handshake (" + tlsReason(err) + "): check tls-protocols and tls-ciphers on the server", true
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return FailureTLSUnsupported, tlsUnsupported(addr), true
	}
	return "", "", false
}

// diagnoseDial explains a connection refused or a name that does not
// resolve; ok is false for other errors.
func diagnoseDial(err error, addr string) (kind FailureKind, why string, ok bool) {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailureRefused, "nothing listens at " + cmp.Or(addr, "the address") + " (connection refused): start redis-server, or fix the address", true
	case errors.As(err, &dnsErr):
		return FailureDNS, "the host name does not resolve (" + dnsErr.Name + "): fix the host in REDIS_URL or REDIS_HOST", true
	}
	return "", "", false
}

// diagnoseSilence explains a server that timed out or closed the
// connection, probing addr to tell a TLS mismatch from the rest.
func diagnoseSilence(ctx context.Context, err error, addr string, tlsOn bool) (FailureKind, string) {
	timeout := isTimeout(err)
	closed := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
	switch {
	case tlsOn && (timeout || closed) && speaksPlain(ctx, addr):
		return FailureTLSUnsupported, tlsUnsupported(addr)
	case !tlsOn && closed && speaksTLS(ctx, addr):
		return FailureTLSRequired, "the server at " + cmp.Or(addr, "the address") + " speaks TLS (a tls-port) but the client connects without it: " +
			"use rediss:// in REDIS_URL, or set REDIS_TLS_CA_FILE (REDIS_TLS=true for a public CA)"
	case timeout && tlsOn:
		return FailureTimeout, "redis does not answer in time (timeout): the host is down, packets are dropped, the server is stalled, " +
			"or the port does not speak TLS (redisdoctor tells which)"
	case timeout:
		return FailureTimeout, "redis does not answer in time (timeout): the host is down, packets are dropped, or the server is stalled"
	case closed:
		return FailureClosed, "the server closed the connection without answering: a proxy in between, or a server restarting"
	}
	return FailureOther, "redis does not answer"
}

func tlsUnsupported(addr string) string {
	return "the server at " + cmp.Or(addr, "the address") + " answers plain Redis, not TLS, but the client uses TLS: " +
		"use redis:// and unset REDIS_TLS_*, or point the client at the server's tls-port"
}

// tlsReason is the part of a TLS error after its last "tls: " or "x509: ".
func tlsReason(err error) string {
	msg := err.Error()
	for _, p := range []string{"x509: ", "tls: "} {
		if i := strings.LastIndex(msg, p); i >= 0 {
			return msg[i:]
		}
	}
	return msg
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// probeConn dials addr for a probe, bounded by ctx and probeTimeout; nil
// when that is not possible.
func probeConn(ctx context.Context, addr string) (net.Conn, context.Context, context.CancelFunc) {
	if addr == "" || strings.HasPrefix(addr, "unix:") || ctx.Err() != nil {
		return nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		cancel()
		return nil, nil, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return conn, ctx, cancel
}

// speaksTLS reports whether addr completes (or answers with an alert) a TLS
// handshake. It sends no command: the server's certificate is not checked,
// as nothing is trusted to it.
func speaksTLS(ctx context.Context, addr string) bool {
	conn, ctx, cancel := probeConn(ctx, addr)
	if conn == nil {
		return false
	}
	defer cancel()
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // detection only, no data is sent
	defer tc.Close()
	err := tc.HandshakeContext(ctx)
	return err == nil || strings.Contains(err.Error(), "remote error: tls:")
}

// speaksPlain reports whether addr answers an inline PING with a RESP reply
// (+PONG, or an error such as -NOAUTH).
func speaksPlain(ctx context.Context, addr string) bool {
	conn, _, cancel := probeConn(ctx, addr)
	if conn == nil {
		return false
	}
	defer cancel()
	defer conn.Close()
	if _, err := io.WriteString(conn, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && len(line) > 1 && (line[0] == '+' || line[0] == '-')
}
