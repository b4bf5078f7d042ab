package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs is a throwaway certificate authority and a server certificate it
// signed for 127.0.0.1 and localhost, made for one test and written as PEM
// files into Dir.
type Certs struct {
	// Dir holds ca.crt, server.crt and server.key.
	Dir string
	// CA is the authority's certificate.
	CA *x509.Certificate
}

// CAFile is the path of the authority's certificate, PEM-encoded.
func (c *Certs) CAFile() string { return filepath.Join(c.Dir, "ca.crt") }

// CertFile is the path of the server's certificate, PEM-encoded.
func (c *Certs) CertFile() string { return filepath.Join(c.Dir, "server.crt") }

// KeyFile is the path of the server's private key, PEM-encoded.
func (c *Certs) KeyFile() string { return filepath.Join(c.Dir, "server.key") }

// Pool is a certificate pool holding only the authority.
func (c *Certs) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.CA)
	return p
}

// ClientConfig is a TLS client configuration that trusts only the
// authority, with verification on.
func (c *Certs) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: c.Pool(), MinVersion: tls.VersionTLS12}
}

// NewCerts makes a new authority (ECDSA P-256) and a server certificate it
// signs, valid for an hour for IP 127.0.0.1 and DNS name localhost, and
// writes them into dir.
func NewCerts(dir string) (*Certs, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testutil: CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fairway test CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("testutil: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("testutil: CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testutil: server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("testutil: server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testutil: server key: %w", err)
	}
	c := &Certs{Dir: dir, CA: ca}
	files := []struct {
		path, kind string
		der        []byte
	}{
		{c.CAFile(), "CERTIFICATE", caDER},
		{c.CertFile(), "CERTIFICATE", der},
		{c.KeyFile(), "PRIVATE KEY", keyDER},
	}
	for _, f := range files {
		data := pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der})
		if err := os.WriteFile(f.path, data, 0o600); err != nil {
			return nil, fmt.Errorf("testutil: write %s: %w", f.path, err)
		}
	}
	return c, nil
}

// NewCertsT is NewCerts in a temporary directory of t, failing t on error.
func NewCertsT(t testing.TB) *Certs {
	t.Helper()
	c, err := NewCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// StartTLSServer is StartServer for a server that speaks only TLS: it
// listens with TLS on its port (and on no plain port), presents the server
// certificate of certs, and does not ask clients for certificates. The
// server's Client trusts certs' authority.
func StartTLSServer(certs *Certs, extraArgs ...string) (*Server, error) {
	args := append([]string{
		"--tls-cert-file", certs.CertFile(),
		"--tls-key-file", certs.KeyFile(),
		"--tls-ca-cert-file", certs.CAFile(),
		"--tls-auth-clients", "no",
	}, extraArgs...)
	return startServer(certs.ClientConfig(), args)
}

// StartTLSServerT is StartTLSServer for tests, as StartServerT is for
// StartServer. A redis-server built without TLS fails to start, so t is
// skipped (or failed with FAIRWAY_REQUIRE_REDIS=1) with the server's own
// reason.
func StartTLSServerT(t testing.TB, certs *Certs, extraArgs ...string) *Server {
	t.Helper()
	s, err := StartTLSServer(certs, extraArgs...)
	if err != nil {
		redisUnavailable(t, fmt.Errorf("TLS: %w", err))
		return nil
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("testutil: %v", err)
		}
	})
	return s
}
