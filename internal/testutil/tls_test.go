package testutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"
	"time"
)

func TestNewCerts(t *testing.T) {
	t.Parallel()
	c := NewCertsT(t)
	pair, err := tls.LoadX509KeyPair(c.CertFile(), c.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.Pool(), DNSName: name}); err != nil {
			t.Errorf("the server certificate does not verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.Pool(), DNSName: "redis.example"}); err == nil {
		t.Error("the server certificate verifies for redis.example")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool()}); err == nil {
		t.Error("the server certificate verifies without the CA")
	}
	ca, err := os.ReadFile(c.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(ca); b == nil || b.Type != "CERTIFICATE" {
		t.Errorf("ca.crt is not a PEM certificate")
	}
}

func TestStartTLSServer(t *testing.T) {
	t.Parallel()
	c := NewCertsT(t)
	s := StartTLSServerT(t, c)
	client := newClient(t, s)
	if got, err := client.Ping(t.Context()).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING over TLS = %q, %v", got, err)
	}
	if err := ping(s.Addr(), time.Second); err == nil {
		t.Error("a plain-text PING got an answer")
	}
	var unknown x509.UnknownAuthorityError
	if err := pingTLS(s.Addr(), &tls.Config{MinVersion: tls.VersionTLS12}, time.Second); !errors.As(err, &unknown) {
		t.Errorf("PING without the CA: %v, want x509.UnknownAuthorityError", err)
	}
	// It restarts with TLS too.
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}
