package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Certs are the files deploy/tls-certs.sh writes.
type Certs struct {
	Dir string
	// Names are the names given to MakeCerts (none: the script's defaults).
	Names                                            []string
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// MakeCerts runs deploy/tls-certs.sh into a new temporary directory, with
// names as the server certificate's names (none: its defaults, localhost
// and the loopback addresses).
func MakeCerts(t testing.TB, names ...string) Certs {
	t.Helper()
	NeedSuite(t)
	dir := filepath.Join(t.TempDir(), "tls")
	cmd := exec.Command("bash", append([]string{RepoPath("deploy", "tls-certs.sh"), dir}, names...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy/tls-certs.sh: %v\n%s", err, out)
	}
	return Certs{
		Dir: dir, Names: names, CA: filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
	}
}

// ClientTLS is a client configuration that trusts the CA, expects the first
// of Names, with the client certificate when withCert is set.
func (c Certs) ClientTLS(t testing.TB, withCert bool) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(c.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if len(c.Names) > 0 {
		cfg.ServerName = c.Names[0]
	}
	if withCert {
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}
