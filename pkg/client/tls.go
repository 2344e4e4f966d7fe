package client

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Fingerprint returns the SHA-256 fingerprint of a certificate's DER bytes
// as lower-case hex pairs separated by colons, the form accepted by
// Options.PinnedCert.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var sb strings.Builder
	for i, b := range sum {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(hex.EncodeToString([]byte{b}))
	}
	return sb.String()
}

// parsePin turns Options.PinnedCert (PEM or SHA-256 fingerprint) into the
// 32-byte SHA-256 digest of the pinned certificate's DER.
func parsePin(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "-----BEGIN") {
		cert, err := parseCertPEM([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("client: PinnedCert: %w", err)
		}
		sum := sha256.Sum256(cert.Raw)
		return sum[:], nil
	}
	lower := strings.ToLower(s)
	for _, p := range []string{"sha256:", "sha256=", "sha-256:"} {
		lower = strings.TrimPrefix(lower, p)
	}
	digits := strings.Map(func(r rune) rune {
		switch r {
		case ':', ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, lower)
	pin, err := hex.DecodeString(digits)
	if err != nil || len(pin) != sha256.Size {
		return nil, errors.New("client: PinnedCert is neither a PEM certificate nor a SHA-256 fingerprint")
	}
	return pin, nil
}

// parseCertPEM returns the first CERTIFICATE block of a PEM text.
func parseCertPEM(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// tlsConfig builds the TLS client configuration for the verification mode
// chosen in the options. hostCert is the parsed HOST_CERT (nil, certErr if
// it did not parse).
func (c *Client) tlsConfig(pin []byte, hostCert *x509.Certificate, certErr error) (*tls.Config, error) {
	var cfg *tls.Config
	if c.opts.TLSConfig != nil {
		cfg = c.opts.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cfg.ServerName = c.cn
	// exact trusts exactly one certificate: the handshake's leaf must be it.
	exact := func(want *x509.Certificate) {
		cfg.InsecureSkipVerify = true // replaced by VerifyConnection below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want.Raw) {
				return fmt.Errorf("%w: the TLS handshake presented a different certificate than HOST_CERT", ErrCertMismatch)
			}
			return nil
		}
	}
	switch {
	case pin != nil:
		if certErr != nil {
			return nil, fmt.Errorf("client: HOST_CERT: %w", certErr)
		}
		if sum := sha256.Sum256(hostCert.Raw); !bytes.Equal(sum[:], pin) {
			return nil, fmt.Errorf("%w the pinned certificate (host sent sha256 %s)", ErrCertMismatch, Fingerprint(hostCert))
		}
		exact(hostCert)
	case c.opts.RootCAs != nil:
		cfg.RootCAs = c.opts.RootCAs
	case c.opts.TrustHostCert:
		if certErr != nil {
			return nil, fmt.Errorf("client: HOST_CERT: %w", certErr)
		}
		exact(hostCert)
	}
	return cfg, nil
}
