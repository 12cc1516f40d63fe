package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
)

// certWarnBefore is how long before its expiry a server certificate warns.
const certWarnBefore = 30 * 24 * time.Hour

const checkTLS = "tls"

// tlsFlags are the --tls-* flags, the same settings as the REDIS_TLS_*
// variables, which they override.
type tlsFlags struct {
	caFile, certFile, keyFile, serverName string
	insecure                              bool
	set                                   map[string]bool // flags given
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.caFile, "tls-ca-file", "", "PEM `FILE` of the CA that signed the server's certificate (as REDIS_TLS_CA_FILE); turns TLS on")
	fs.StringVar(&f.certFile, "tls-cert-file", "", "PEM client certificate `FILE` for mutual TLS (as REDIS_TLS_CERT_FILE)")
	fs.StringVar(&f.keyFile, "tls-key-file", "", "PEM `FILE` of the client certificate's key (as REDIS_TLS_KEY_FILE)")
	fs.StringVar(&f.serverName, "tls-server-name", "", "`NAME` the server's certificate must carry, if not the host dialed (as REDIS_TLS_SERVER_NAME)")
	fs.BoolVar(&f.insecure, "tls-insecure-skip-verify", false, "accept any server certificate (as REDIS_TLS_INSECURE_SKIP_VERIFY); reported as a WARN")
}

// any reports whether a TLS flag was given.
func (f *tlsFlags) any() bool { return len(f.set) > 0 }

// apply puts the flags given over the environment's TLS settings. A plain
// --url (redis://, unix://) without TLS flags drops the environment's:
// they belong to the environment's server.
func (f *tlsFlags) apply(opts *redisclient.Options, plainURL bool) {
	if !f.any() {
		if plainURL {
			opts.TLS = redisclient.TLSOptions{}
		}
		return
	}
	t := opts.TLS
	merged := redisclient.TLSOptions{
		Enabled: t.Enabled, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if f.set["tls-ca-file"] {
		merged.CAFile = f.caFile
	}
	if f.set["tls-cert-file"] {
		merged.CertFile = f.certFile
	}
	if f.set["tls-key-file"] {
		merged.KeyFile = f.keyFile
	}
	if f.set["tls-server-name"] {
		merged.ServerName = f.serverName
	}
	if f.set["tls-insecure-skip-verify"] {
		merged.InsecureSkipVerify = f.insecure
	}
	opts.TLS = merged
}

// flagNames turns the library's names of TLS fields into the flags, for
// configuration errors once TLS flags were given.
var flagNames = strings.NewReplacer(
	"TLS.CAFile", "--tls-ca-file (or REDIS_TLS_CA_FILE)",
	"TLS.CertFile", "--tls-cert-file (or REDIS_TLS_CERT_FILE)",
	"TLS.KeyFile", "--tls-key-file (or REDIS_TLS_KEY_FILE)",
	"TLS.ServerName", "--tls-server-name (or REDIS_TLS_SERVER_NAME)",
	"TLS.InsecureSkipVerify", "--tls-insecure-skip-verify (or REDIS_TLS_INSECURE_SKIP_VERIFY)",
	"TLS.Enabled", "REDIS_TLS",
)

// cliTLSArgs are the redis-cli arguments that reach the server the way
// the client does (" --tls --cacert ..."), or "" without TLS.
func cliTLSArgs(opts redisclient.Options, h redisclient.HealthReport) string {
	if !h.TLS {
		return ""
	}
	args := " --tls"
	if opts.TLS.CAFile != "" {
		args += " --cacert " + shellWord(opts.TLS.CAFile)
	}
	if opts.TLS.CertFile != "" && opts.TLS.KeyFile != "" {
		args += " --cert " + shellWord(opts.TLS.CertFile) + " --key " + shellWord(opts.TLS.KeyFile)
	}
	if opts.TLS.ServerName != "" {
		args += " --sni " + shellWord(opts.TLS.ServerName)
	}
	if h.TLSInsecureSkipVerify {
		args += " --insecure"
	}
	return args
}

// shellWord quotes s for a shell when it needs it.
func shellWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>()*?[]#~!{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tlsConfigOf returns the TLS configuration the client dials with.
func tlsConfigOf(rdb redis.UniversalClient) *tls.Config {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().TLSConfig
	case *redis.ClusterClient:
		return c.Options().TLSConfig
	}
	return nil
}

// tlsCheck reports how the connection is secured: the TLS version, the
// server's certificate and its expiry, a client certificate, and whether
// verification is off. It makes one TLS connection of its own to addr.
func tlsCheck(ctx context.Context, rdb redis.UniversalClient, h redisclient.HealthReport, addr string, reachable bool) Check {
	ch := Check{Name: checkTLS, Status: StatusOK}
	cfg := tlsConfigOf(rdb)
	switch {
	case !reachable:
		ch.Status = StatusSkip
		ch.Detail = "not checked: Redis does not answer (see reachable)"
		return ch
	case !h.TLS:
		ch.Detail = "off: plain TCP"
		return ch
	}
	var parts []string
	if cfg != nil && addr != "" && !strings.HasPrefix(addr, "unix:") {
		d := tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			parts = append(parts, "on (details not read: "+err.Error()+")")
		} else {
			st := conn.(*tls.Conn).ConnectionState()
			_ = conn.Close()
			parts = append(parts, tls.VersionName(st.Version)+" ("+tls.CipherSuiteName(st.CipherSuite)+")")
			if len(st.PeerCertificates) > 0 {
				leaf := st.PeerCertificates[0]
				left := time.Until(leaf.NotAfter)
				parts = append(parts, fmt.Sprintf("server certificate %s issued by %s, valid until %s (%s)",
					certNames(leaf), leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format("2006-01-02"), fmtAge(max(left, 0))))
				switch {
				case left <= 0:
					ch.Status = StatusFail
					ch.Advice = append(ch.Advice, "The server's certificate has expired: renew it (deploy/tls-certs.sh DIR NAMES... keeps the CA) and restart Redis.")
				case left < certWarnBefore:
					ch.Status = StatusWarn
					ch.Advice = append(ch.Advice, fmt.Sprintf("The server's certificate expires in %s: renew it (deploy/tls-certs.sh DIR NAMES... keeps the CA) and restart Redis before then.", fmtAge(left)))
				}
			}
			if len(cfg.Certificates) > 0 {
				parts = append(parts, "client certificate sent")
			}
		}
	} else {
		parts = append(parts, "on")
	}
	if h.TLSInsecureSkipVerify {
		ch.Status = worse(ch.Status, StatusWarn)
		parts = append(parts, "certificate verification is OFF")
		ch.Advice = append(ch.Advice,
			"REDIS_TLS_INSECURE_SKIP_VERIFY=true, --tls-insecure-skip-verify or skip_verify=true in the URL accepts any certificate: "+
				"anyone on the network path can pose as the server and read passwords and values. Trust the server's CA instead with "+
				"REDIS_TLS_CA_FILE (--tls-ca-file) and remove the switch (deploy/README.md, \"TLS\").")
	} else {
		parts = append(parts, "certificate verified")
	}
	ch.Detail = strings.Join(parts, "; ")
	return ch
}

// certNames is the certificate's names: its SANs, or its CN.
func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "CN=" + c.Subject.CommonName
	}
	return "for " + strings.Join(names, ", ")
}

// tlsAdvice is the fix for the TLS failures the library's health report
// names.
func tlsAdvice(t target, kind redisclient.FailureKind) []string {
	cli := t.cli("")
	switch kind {
	case redisclient.FailureTLSRequired:
		return []string{
			"The port speaks TLS and the client does not: use rediss:// in REDIS_URL (or --url), or set REDIS_TLS_CA_FILE (--tls-ca-file) to the CA of the server's certificate; REDIS_TLS=true for a public CA.",
			"Check by hand: `" + strings.Replace(cli, "redis-cli", "redis-cli --tls --cacert CA.crt", 1) + " ping` (add --cert and --key when the server wants client certificates).",
		}
	case redisclient.FailureTLSUnsupported:
		return []string{
			"The port answers plain Redis and the client speaks TLS: use redis:// and unset REDIS_TLS_* (or drop the --tls-* flags), or point the client at the server's tls-port.",
			"Which ports does the server listen on? `" + plainCLI(cli) + " config get tls-port` and `ss -ltnp | grep redis`.",
		}
	case redisclient.FailureTLSCertificate:
		return []string{
			"Set REDIS_TLS_CA_FILE (--tls-ca-file) to the CA that signed the server's certificate (tls-ca-cert-file or your PKI's CA), and REDIS_TLS_SERVER_NAME (--tls-server-name) when the address dialed is not one of the certificate's names.",
			"See what the server presents: `openssl s_client -connect " + t.address + " -CAfile CA.crt -verify_return_error </dev/null`.",
		}
	case redisclient.FailureTLSClientCertificate:
		return []string{
			"The server wants a client certificate signed by the CA in its tls-ca-cert-file (tls-auth-clients yes): set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE (--tls-cert-file, --tls-key-file); deploy/tls-certs.sh makes one.",
			"Or, if clients without certificates are meant to connect, set tls-auth-clients optional on the server (deploy/tls.conf).",
		}
	}
	return nil
}

// plainCLI drops the TLS arguments of a redis-cli line, for a port that
// does not speak TLS.
func plainCLI(cli string) string {
	f := strings.Fields(cli)
	var out []string
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "--tls", "--insecure":
			continue
		case "--cacert", "--cert", "--key", "--sni":
			i++
			continue
		}
		out = append(out, f[i])
	}
	return strings.Join(out, " ")
}
