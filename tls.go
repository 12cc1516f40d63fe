package redisclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"

	"github.com/systemtrader/redisclient/internal/redact"
)

// Environment variables of TLSOptions, read by OptionsFromEnv.
const (
	EnvTLS                   = "REDIS_TLS"
	EnvTLSCAFile             = "REDIS_TLS_CA_FILE"
	EnvTLSCertFile           = "REDIS_TLS_CERT_FILE"
	EnvTLSKeyFile            = "REDIS_TLS_KEY_FILE"
	EnvTLSServerName         = "REDIS_TLS_SERVER_NAME"
	EnvTLSInsecureSkipVerify = "REDIS_TLS_INSECURE_SKIP_VERIFY"
)

// TLSOptions configures TLS from PEM files, as the REDIS_TLS_* environment
// variables do. Setting any field turns TLS on. New reads the files once;
// a renewed certificate needs a new Client (restart the service). The zero
// value means no TLS unless Options.URL is rediss:// or Options.TLSConfig is
// set.
//
// With a rediss:// URL the fields refine the URL's TLS settings; with a
// redis:// URL they are an error (the URL says no TLS). They cannot be
// combined with Options.TLSConfig: build that one fully instead.
type TLSOptions struct {
	// Enabled turns TLS on with the system's root certificates when no
	// other field is set (REDIS_TLS=true), for a server whose certificate a
	// public CA signed.
	Enabled bool
	// CAFile is a PEM file of the CA certificates that signed the server's
	// certificate (REDIS_TLS_CA_FILE). They replace the system roots: only
	// servers those CAs signed are trusted.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its private
	// key, for servers that require client certificates (tls-auth-clients
	// yes) (REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE). Set both or neither.
	CertFile string
	KeyFile  string
	// ServerName is the name the server's certificate must carry, when it
	// differs from the host the client dials (REDIS_TLS_SERVER_NAME), for
	// example a certificate for redis.internal reached through 10.0.0.5.
	ServerName string
	// InsecureSkipVerify accepts any server certificate
	// (REDIS_TLS_INSECURE_SKIP_VERIFY=true). The connection is encrypted
	// but anyone on the network path can impersonate the server. New logs
	// a warning to Options.Logger, Health adds a note and redisdoctor warns.
	// For tests only; use CAFile for a private CA.
	InsecureSkipVerify bool

	// fromEnv makes errors name the environment variables.
	fromEnv bool
}

func (t TLSOptions) isSet() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// name says where a setting came from, for errors: the environment
// variable, or the Options field.
func (t TLSOptions) name(env, field string) string {
	if t.fromEnv {
		return "environment variable " + env
	}
	return "TLS." + field
}

// firstSet names the first field that is set, for errors about TLS as a
// whole.
func (t TLSOptions) firstSet() string {
	switch {
	case t.CAFile != "":
		return t.name(EnvTLSCAFile, "CAFile")
	case t.CertFile != "":
		return t.name(EnvTLSCertFile, "CertFile")
	case t.KeyFile != "":
		return t.name(EnvTLSKeyFile, "KeyFile")
	case t.ServerName != "":
		return t.name(EnvTLSServerName, "ServerName")
	case t.InsecureSkipVerify:
		return t.name(EnvTLSInsecureSkipVerify, "InsecureSkipVerify")
	}
	return t.name(EnvTLS, "Enabled")
}

// tlsFromEnv reads the REDIS_TLS_* variables. File names are not opened
// here but by New, once.
func tlsFromEnv(env envReader) (TLSOptions, error) {
	t := TLSOptions{
		CAFile:     env.get(EnvTLSCAFile),
		CertFile:   env.get(EnvTLSCertFile),
		KeyFile:    env.get(EnvTLSKeyFile),
		ServerName: env.get(EnvTLSServerName),
		fromEnv:    true,
	}
	var err error
	if t.Enabled, _, err = env.boolVar(EnvTLS); err != nil {
		return t, err
	}
	if t.InsecureSkipVerify, _, err = env.boolVar(EnvTLSInsecureSkipVerify); err != nil {
		return t, err
	}
	if !t.isSet() {
		return TLSOptions{}, nil
	}
	return t, nil
}

// applyTLS merges o.TLS into o.TLSConfig, reading the files. urlTLS is
// whether o.TLSConfig came from a rediss:// URL (rather than the caller),
// plainURL whether o.URL asked for no TLS. o.TLS is cleared once applied,
// so applying again changes nothing.
func (o *Options) applyTLS(urlTLS, plainURL bool) error {
	t := o.TLS
	if !t.isSet() {
		return nil
	}
	switch {
	case o.TLSConfig != nil && !urlTLS:
		return optionsError("TLSConfig and %s are both set: use one", t.firstSet())
	case plainURL:
		return optionsError("%s is set but the URL %s asks for a plain connection: use rediss:// for TLS", t.firstSet(), redact.URL(o.URL))
	}
	cfg, err := t.config(o.TLSConfig)
	if err != nil {
		return err
	}
	o.TLSConfig, o.TLS = cfg, TLSOptions{}
	return nil
}

// config builds the TLS configuration on a copy of base (nil: a new one).
func (t TLSOptions) config(base *tls.Config) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		cfg = base.Clone()
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, optionsError("%s: %v", t.name(EnvTLSCAFile, "CAFile"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, optionsError("%s %q: no PEM certificate in it", t.name(EnvTLSCAFile, "CAFile"), t.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, optionsError("%s %q and %s %q: %v", t.name(EnvTLSCertFile, "CertFile"), t.CertFile,
				t.name(EnvTLSKeyFile, "KeyFile"), t.KeyFile, keyPairError(err))
		}
		cfg.Certificates = []tls.Certificate{cert}
	case t.CertFile != "":
		return nil, optionsError("%s is set but %s is not: a client certificate needs its key", t.name(EnvTLSCertFile, "CertFile"), t.name(EnvTLSKeyFile, "KeyFile"))
	case t.KeyFile != "":
		return nil, optionsError("%s is set but %s is not: a client key needs its certificate", t.name(EnvTLSKeyFile, "KeyFile"), t.name(EnvTLSCertFile, "CertFile"))
	}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	if t.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// keyPairError shortens crypto/tls's key pair errors, which never contain
// key material, to their reason.
func keyPairError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return strings.TrimPrefix(err.Error(), "tls: ")
}

// tlsInsecure reports whether the options turn certificate verification
// off.
func tlsInsecure(o *Options) bool {
	return o.TLSConfig != nil && o.TLSConfig.InsecureSkipVerify
}

// insecureWarning is what New logs, and Health notes, when certificate
// verification is off.
const insecureWarning = "TLS certificate verification is off (REDIS_TLS_INSECURE_SKIP_VERIFY or skip_verify=true): " +
	"the connection is encrypted but any host on the network path can impersonate the server; trust its CA with REDIS_TLS_CA_FILE instead"
