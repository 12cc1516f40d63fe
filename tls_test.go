package redisclient

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pemFiles writes a self-signed CA and a client key pair it signed to dir,
// for the option tests (the integration tests use deploy/tls-certs.sh).
func pemFiles(t *testing.T) (ca, cert, key string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	cliKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	cliTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cliDER, err := x509.CreateCertificate(rand.Reader, cliTmpl, caTmpl, &cliKey.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(cliKey)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	return write("ca.crt", "CERTIFICATE", caDER), write("client.crt", "CERTIFICATE", cliDER), write("client.key", "EC PRIVATE KEY", keyDER)
}

func envLookup(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestTLSFromEnvironment(t *testing.T) {
	ca, cert, key := pemFiles(t)
	o, err := optionsFromLookup(envLookup(
		EnvAddr, "redis.internal:6380",
		EnvTLSCAFile, ca, EnvTLSCertFile, cert, EnvTLSKeyFile, key,
		EnvTLSServerName, "redis.example",
	))
	require.NoError(t, err)
	assert.Equal(t, ca, o.TLS.CAFile)
	assert.Nil(t, o.TLSConfig, "files are read by New, once")

	w, err := o.withDefaults()
	require.NoError(t, err)
	require.NotNil(t, w.TLSConfig)
	assert.NotNil(t, w.TLSConfig.RootCAs)
	assert.Len(t, w.TLSConfig.Certificates, 1)
	assert.Equal(t, "redis.example", w.TLSConfig.ServerName)
	assert.False(t, w.TLSConfig.InsecureSkipVerify)
	assert.Equal(t, uint16(tls.VersionTLS12), w.TLSConfig.MinVersion)
	assert.False(t, w.TLS.isSet(), "applied once")
	again, err := w.withDefaults()
	require.NoError(t, err)
	assert.Same(t, w.TLSConfig, again.TLSConfig)

	// REDIS_TLS alone: TLS with the system roots.
	o, err = optionsFromLookup(envLookup(EnvAddr, "redis.internal:6380", EnvTLS, "true"))
	require.NoError(t, err)
	w, err = o.withDefaults()
	require.NoError(t, err)
	require.NotNil(t, w.TLSConfig)
	assert.Nil(t, w.TLSConfig.RootCAs)

	// A rediss:// URL keeps its server name; the CA file adds the roots.
	o, err = optionsFromLookup(envLookup(EnvURL, "rediss://:pw@cache.example:6380/2", EnvTLSCAFile, ca))
	require.NoError(t, err)
	w, err = o.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "cache.example", w.TLSConfig.ServerName)
	assert.NotNil(t, w.TLSConfig.RootCAs)

	// Cluster seeds have no scheme: the variables turn TLS on.
	o, err = optionsFromLookup(envLookup(EnvClusterAddrs, "10.0.0.1:7000,10.0.0.2:7000", EnvTLSCAFile, ca))
	require.NoError(t, err)
	c, err := New(o)
	require.NoError(t, err)
	defer c.Close()
	assert.NotNil(t, c.shared.opts.universal().TLSConfig)
}

// Every bad TLS setting is an error wrapping ErrInvalidOptions that names
// the variable (from the environment) or the field (in code), and never
// holds a password.
func TestTLSErrorsNameTheSetting(t *testing.T) {
	ca, cert, key := pemFiles(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	missing := filepath.Join(t.TempDir(), "missing.pem")

	env := []struct {
		name string
		kv   []string
		want []string
	}{
		{"missing CA", []string{EnvTLSCAFile, missing}, []string{"environment variable REDIS_TLS_CA_FILE", "no such file"}},
		{"CA not PEM", []string{EnvTLSCAFile, notPEM}, []string{"REDIS_TLS_CA_FILE", "no PEM certificate"}},
		{"cert without key", []string{EnvTLSCertFile, cert}, []string{"REDIS_TLS_CERT_FILE is set but environment variable REDIS_TLS_KEY_FILE is not"}},
		{"key without cert", []string{EnvTLSKeyFile, key}, []string{"REDIS_TLS_KEY_FILE is set but environment variable REDIS_TLS_CERT_FILE is not"}},
		{"key is not the cert's", []string{EnvTLSCertFile, cert, EnvTLSKeyFile, ca}, []string{"REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE"}},
		{"missing key", []string{EnvTLSCertFile, cert, EnvTLSKeyFile, missing}, []string{"REDIS_TLS_KEY_FILE", "no such file"}},
		{"bad bool", []string{EnvTLSInsecureSkipVerify, "yes please"}, []string{`REDIS_TLS_INSECURE_SKIP_VERIFY="yes please": want true or false`}},
		{"bad REDIS_TLS", []string{EnvTLS, "maybe"}, []string{`REDIS_TLS="maybe"`}},
		{"plain URL", []string{EnvURL, "redis://:hunter2@cache:6379/0", EnvTLSCAFile, ca}, []string{"REDIS_TLS_CA_FILE is set but the URL redis://xxxxx@cache:6379/0 asks for a plain connection: use rediss://"}},
	}
	for _, tc := range env {
		t.Run(tc.name, func(t *testing.T) {
			kv := append([]string{EnvAddr, "127.0.0.1:6380"}, tc.kv...)
			if tc.kv[0] == EnvURL {
				kv = tc.kv
			}
			o, err := optionsFromLookup(envLookup(kv...))
			if err == nil {
				_, err = New(o)
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidOptions)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}

	code := []struct {
		name string
		opts Options
		want string
	}{
		{"missing CA", Options{TLS: TLSOptions{CAFile: missing}}, "TLS.CAFile"},
		{"cert without key", Options{TLS: TLSOptions{CertFile: cert}}, "TLS.CertFile is set but TLS.KeyFile is not"},
		{"with TLSConfig", Options{TLSConfig: &tls.Config{}, TLS: TLSOptions{CAFile: ca}}, "TLSConfig and TLS.CAFile are both set"},
		{"plain URL", Options{URL: "redis://cache:6379/0", TLS: TLSOptions{Enabled: true}}, "TLS.Enabled is set but the URL"},
	}
	for _, tc := range code {
		t.Run("code/"+tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			require.ErrorIs(t, err, ErrInvalidOptions)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "environment variable")
		})
	}
}

// Turning verification off, by variable, field or URL, is logged as a
// warning when the client starts.
func TestTLSInsecureIsLogged(t *testing.T) {
	for name, opts := range map[string]Options{
		"field": {Addr: "127.0.0.1:6380", TLS: TLSOptions{InsecureSkipVerify: true}},
		"url":   {URL: "rediss://:pw@127.0.0.1:6380/0?skip_verify=true"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			opts.Logger = slog.New(slog.NewTextHandler(&buf, nil))
			c, err := New(opts)
			require.NoError(t, err)
			defer c.Close()
			assert.Contains(t, buf.String(), "level=WARN")
			assert.Contains(t, buf.String(), "TLS certificate verification is off")
			assert.NotContains(t, buf.String(), "pw@")
		})
	}
	var buf bytes.Buffer
	c, err := New(Options{URL: "rediss://127.0.0.1:6380/0", Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	defer c.Close()
	assert.Empty(t, buf.String(), "verified TLS logs nothing")

	o, err := optionsFromLookup(envLookup(EnvAddr, "127.0.0.1:6380", EnvTLSInsecureSkipVerify, "true"))
	require.NoError(t, err)
	w, err := o.withDefaults()
	require.NoError(t, err)
	assert.True(t, tlsInsecure(&w))
}
