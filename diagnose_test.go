package redisclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDiagnoseClassifies checks the classification of errors that need no
// probe (the probes are covered against real servers in
// tls_integration_test.go).
func TestDiagnoseClassifies(t *testing.T) {
	ctx := context.Background()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name  string
		err   error
		tlsOn bool
		kind  FailureKind
		text  string
	}{
		{"refused", fmt.Errorf("dial: %w", refused), false, FailureRefused, "nothing listens at 127.0.0.1:1 (connection refused)"},
		{"dns", &net.DNSError{Name: "redis.nowhere", Err: "no such host"}, false, FailureDNS, "does not resolve (redis.nowhere)"},
		{"timeout", timeout, false, FailureTimeout, "does not answer in time (timeout)"},
		{"timeout with TLS", context.DeadlineExceeded, true, FailureTimeout, "or the port does not speak TLS"},
		{"closed", io.EOF, false, FailureClosed, "closed the connection without answering"},
		{"unknown CA", fmt.Errorf("tls: failed to verify certificate: %w", x509.UnknownAuthorityError{}), true, FailureTLSCertificate, "set REDIS_TLS_CA_FILE"},
		{"wrong name", x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"a.example"}}, Host: "b.example"}, true, FailureTLSCertificate, "not b.example"},
		{"client cert", errors.New("remote error: tls: certificate required"), true, FailureTLSClientCertificate, "set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE"},
		{"other alert", errors.New("remote error: tls: protocol version not supported"), true, FailureOther, "tls-protocols"},
		{"plain reply to TLS", errors.New("tls: first record does not look like a TLS handshake"), true, FailureTLSUnsupported, "answers plain Redis, not TLS"},
		{"NOAUTH", replyErr("NOAUTH Authentication required."), false, FailureAuth, "set REDIS_PASSWORD"},
		{"WRONGPASS", fmt.Errorf("failed to authenticate: %w", replyErr("WRONGPASS invalid username-password pair")), false, FailureAuth, "REDIS_USERNAME and REDIS_PASSWORD"},
		{"NOPERM select", replyErr("NOPERM this user has no permissions to run the 'select' command"), false, FailureNoPerm, "allow +select"},
		{"LOADING", replyErr("LOADING Redis is loading the dataset in memory"), false, FailureLoading, "wait until it is done"},
		{"BUSY", replyErr("BUSY Redis is busy running a script."), false, FailureRefusing, "refuses commands (BUSY)"},
	} {
		// Port 1 on loopback: probes find nothing there.
		kind, text := diagnose(ctx, tc.err, "127.0.0.1:1", tc.tlsOn)
		assert.Equal(t, tc.kind, kind, tc.name)
		assert.Contains(t, text, tc.text, tc.name)
	}
	kind, text := diagnose(ctx, refused, "", false)
	assert.Equal(t, FailureRefused, kind)
	assert.Contains(t, text, "nothing listens at the address")
}
