package tlscert

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadOrCreateDefaultIsStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	a, err := LoadOrCreateDefault(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateDefault(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.CertPEM, b.CertPEM) {
		t.Fatal("second start generated a new certificate")
	}
	block, _ := pem.Decode(a.CertPEM)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Fatalf("signature %v, want ECDSA with SHA-256", c.SignatureAlgorithm)
	}
	if err := c.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if !a.Valid(time.Now()) || a.Valid(time.Now().Add(11*365*24*time.Hour)) {
		t.Fatal("validity period wrong")
	}
}

func TestParseRejectsMismatchedKey(t *testing.T) {
	a, _ := Generate("a", nil, time.Hour)
	b, _ := Generate("b", nil, time.Hour)
	if _, err := Parse(a.CertPEM, b.KeyPEM); err == nil {
		t.Fatal("certificate accepted with another key")
	}
}
