package tlscert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of Import.
var (
	// ErrCertFormat means the bytes hold no PEM or DER X.509 certificate.
	ErrCertFormat = errors.New("tlscert: not a PEM or DER X.509 certificate")
	// ErrKeyFormat means the bytes hold no usable PEM or DER private key
	// (RSA, ECDSA or Ed25519; PKCS#1, SEC 1 or PKCS#8, unencrypted).
	ErrKeyFormat = errors.New("tlscert: not a PEM or DER RSA, ECDSA or Ed25519 private key")
	// ErrKeyMismatch means the key is not the certificate's key.
	ErrKeyMismatch = errors.New("tlscert: the private key does not match the certificate")
)

// Import validates a certificate (chain) and its private key given as PEM
// or DER, checks that the key belongs to the leaf certificate, and returns
// the pair re-encoded as PEM (CERTIFICATE blocks and a PKCS#8 PRIVATE KEY),
// which is what the host stores: exactly what was validated.
func Import(certBytes, keyBytes []byte) (*Pair, error) {
	chain, err := parseCerts(certBytes)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyBytes)
	if err != nil {
		return nil, err
	}
	pub, ok := chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, ErrKeyMismatch
	}
	var certPEM bytes.Buffer
	for _, c := range chain {
		_ = pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFormat, err)
	}
	return Parse(certPEM.Bytes(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, ErrCertFormat
		}
		chain = append(chain, c)
	}
	if len(chain) > 0 {
		return chain, nil
	}
	certs, err := x509.ParseCertificates(b) // DER, possibly concatenated
	if err != nil || len(certs) == 0 {
		return nil, ErrCertFormat
	}
	return certs, nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	if block, _ := pem.Decode(b); block != nil {
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			// Skip leading blocks such as EC PARAMETERS.
			rest := b
			for block != nil && !strings.HasSuffix(block.Type, "PRIVATE KEY") {
				block, rest = pem.Decode(rest)
			}
			if block == nil {
				return nil, ErrKeyFormat
			}
		}
		b = block.Bytes
	}
	if k, err := x509.ParsePKCS8PrivateKey(b); err == nil {
		return signer(k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(b); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(b); err == nil {
		return k, nil
	}
	return nil, ErrKeyFormat
}

func signer(k any) (crypto.Signer, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, ErrKeyFormat
}

// Info describes a stored certificate (cert_info).
type Info struct {
	SelfSigned  bool
	NotBefore   time.Time
	NotAfter    time.Time
	Subject     string
	Issuer      string
	SANs        []string
	Fingerprint string // SHA-256 of the DER leaf, colon-separated upper-case hex
	KeyType     string // e.g. "ECDSA P-256", "RSA 2048", "Ed25519"
}

// Describe returns the Info of the pair's leaf certificate.
func Describe(p *Pair) (Info, error) {
	leaf, err := x509.ParseCertificate(p.TLS.Certificate[0])
	if err != nil {
		return Info{}, fmt.Errorf("tlscert: %w", err)
	}
	sum := sha256.Sum256(leaf.Raw)
	hexs := strings.ToUpper(hex.EncodeToString(sum[:]))
	var fp []string
	for i := 0; i < len(hexs); i += 2 {
		fp = append(fp, hexs[i:i+2])
	}
	in := Info{
		SelfSigned: bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil,
		NotBefore:  leaf.NotBefore, NotAfter: leaf.NotAfter,
		Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(),
		Fingerprint: strings.Join(fp, ":"),
	}
	in.SANs = append(in.SANs, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		in.SANs = append(in.SANs, ip.String())
	}
	in.SANs = append(in.SANs, leaf.EmailAddresses...)
	for _, u := range leaf.URIs {
		in.SANs = append(in.SANs, u.String())
	}
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		in.KeyType = fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		in.KeyType = "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		in.KeyType = "Ed25519"
	default:
		in.KeyType = leaf.PublicKeyAlgorithm.String()
	}
	return in, nil
}
