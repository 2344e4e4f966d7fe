// Package tlscert creates and loads the host's TLS certificates: a
// self-signed default generated on first start (ECDSA P-256, SHA-256) and
// the per-common-name certificates administrators install.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Pair is a certificate with its key, as PEM and ready for crypto/tls.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
	TLS     tls.Certificate
}

// Parse builds a Pair from PEM bytes.
func Parse(certPEM, keyPEM []byte) (*Pair, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	return &Pair{CertPEM: certPEM, KeyPEM: keyPEM, TLS: c}, nil
}

// Valid reports whether the pair's leaf certificate is currently within its
// validity period.
func (p *Pair) Valid(now time.Time) bool {
	leaf := p.TLS.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(p.TLS.Certificate[0]); err != nil {
			return false
		}
	}
	return now.After(leaf.NotBefore) && now.Before(leaf.NotAfter)
}

// Generate creates a self-signed certificate for commonName, valid for
// validity from now, with the given names and addresses as SANs.
func Generate(commonName string, names []string, validity time.Duration) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlscert: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tlscert: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Country: []string{"USA"}, Organization: []string{"mrci"}, CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range append([]string{commonName}, names...) {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlscert: create: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlscert: key: %w", err)
	}
	return Parse(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// LoadOrCreateDefault loads cert.pem and key.pem from dir, generating a
// self-signed pair (valid 10 years, for localhost, the loopback addresses
// and the host name) when they do not exist yet.
func LoadOrCreateDefault(dir string) (*Pair, error) {
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil {
		return Parse(certPEM, keyPEM)
	}
	if !errors.Is(err1, os.ErrNotExist) && err1 != nil {
		return nil, fmt.Errorf("tlscert: %w", err1)
	}
	host, _ := os.Hostname()
	p, err := Generate(host, []string{"localhost", "127.0.0.1", "::1"}, 10*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	if err := os.WriteFile(keyPath, p.KeyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	if err := os.WriteFile(certPath, p.CertPEM, 0o644); err != nil {
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	return p, nil
}
