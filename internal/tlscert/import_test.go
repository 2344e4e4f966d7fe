package tlscert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T, key crypto.Signer, cn string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestImportKeyTypesAndEncodings(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) []byte { b, _ := x509.MarshalPKCS8PrivateKey(k); return b }
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	cases := []struct {
		name, keyType string
		key           crypto.Signer
		keyDER        []byte
		keyPEMType    string
	}{
		{"rsa-pkcs1", "RSA 2048", rsaKey, x509.MarshalPKCS1PrivateKey(rsaKey), "RSA PRIVATE KEY"},
		{"rsa-pkcs8", "RSA 2048", rsaKey, pkcs8(rsaKey), "PRIVATE KEY"},
		{"ecdsa-sec1", "ECDSA P-384", ecKey, ecDER, "EC PRIVATE KEY"},
		{"ed25519", "Ed25519", edKey, pkcs8(edKey), "PRIVATE KEY"},
	}
	for _, c := range cases {
		der := selfSigned(t, c.key, "mrci.example")
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: c.keyPEMType, Bytes: c.keyDER})
		for _, form := range []struct {
			name      string
			cert, key []byte
		}{{"pem", certPEM, keyPEM}, {"der", der, c.keyDER}, {"der-cert-pem-key", der, keyPEM}} {
			p, err := Import(form.cert, form.key)
			if err != nil {
				t.Fatalf("%s/%s: %v", c.name, form.name, err)
			}
			if !strings.Contains(string(p.KeyPEM), "BEGIN PRIVATE KEY") || !strings.Contains(string(p.CertPEM), "BEGIN CERTIFICATE") {
				t.Fatalf("%s/%s: not normalised to PEM", c.name, form.name)
			}
			in, err := Describe(p)
			if err != nil {
				t.Fatal(err)
			}
			if !in.SelfSigned || in.KeyType != c.keyType || in.Subject != "CN=mrci.example" ||
				len(in.SANs) != 1 || in.SANs[0] != "mrci.example" || len(in.Fingerprint) != 32*3-1 {
				t.Fatalf("%s/%s: info %+v", c.name, form.name, in)
			}
		}
	}
}

func TestImportRefusals(t *testing.T) {
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der := selfSigned(t, a, "x")
	bDER, _ := x509.MarshalECPrivateKey(b)
	aDER, _ := x509.MarshalECPrivateKey(a)
	if _, err := Import(der, bDER); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("mismatched key: %v", err)
	}
	if _, err := Import([]byte("hello world"), aDER); !errors.Is(err, ErrCertFormat) {
		t.Fatalf("text as cert: %v", err)
	}
	if _, err := Import(der, []byte("not a key")); !errors.Is(err, ErrKeyFormat) {
		t.Fatalf("text as key: %v", err)
	}
	if _, err := Import(der, der); !errors.Is(err, ErrKeyFormat) {
		t.Fatalf("cert as key: %v", err)
	}
	enc := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	if _, err := Import(der, enc); !errors.Is(err, ErrKeyFormat) {
		t.Fatalf("encrypted key: %v", err)
	}
}
