package cmds_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/pkg/client"
)

// testCert is a self-signed certificate with its key, written to files.
type testCert struct {
	der      []byte
	certPEM  []byte
	keyPEM   []byte
	certFile string // PEM
	keyFile  string // PEM
	certDER  string // DER file
	keyDER   string // DER (PKCS#8) file
}

func makeCert(t *testing.T, dir, cn string, key crypto.Signer, notBefore, notAfter time.Time) testCert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: []string{cn},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tc := testCert{der: der,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", strings.ReplaceAll(cn, "/", "_"), time.Now().UnixNano()))
	tc.certFile, tc.keyFile, tc.certDER, tc.keyDER = base+".crt", base+".key", base+".der", base+".keyder"
	for f, b := range map[string][]byte{tc.certFile: tc.certPEM, tc.keyFile: tc.keyPEM, tc.certDER: der, tc.keyDER: kder} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tc
}

func ecKey(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func certRows(t *testing.T, st store.Store) []string {
	t.Helper()
	rows, err := st.ListView(context.Background(), store.ViewCerts, nil, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Cells[0])
	}
	return out
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var parts []string
	for _, b := range sum {
		parts = append(parts, fmt.Sprintf("%02X", b))
	}
	return strings.Join(parts, ":")
}

func TestCertCommands(t *testing.T) {
	e := newEnv(t)
	root := e.login("boss", "boss")
	st := e.h.Store
	dir := t.TempDir()
	now := time.Now()
	good := makeCert(t, dir, "mrci.example", ecKey(t), now.Add(-time.Hour), now.Add(24*time.Hour))
	other := makeCert(t, dir, "other.example", ecKey(t), now.Add(-time.Hour), now.Add(24*time.Hour))
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("just some text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 137)
	args := func(name, cert, key string) string { return "-name " + name + " -cert " + cert + " -priv " + key }
	root.fails(t, "add_cert", "", "-name missing")
	root.fails(t, "add_cert", "-name mrci.example", "-cert missing")
	root.fails(t, "add_cert", "-name mrci.example -cert "+good.certFile, "-priv missing")
	root.fails(t, "add_cert", args("mrci.example", "/no/such.crt", "/no/such.key"), "cert file '/no/such.crt' does not exist")
	root.fails(t, "add_cert", args("mrci.example", good.certFile, "/no/such.key"), "private key file '/no/such.key' does not exist")
	root.fails(t, "add_cert", args(`"mrci example"`, good.certFile, good.keyFile), "invalid common name (1-136 characters, no spaces)")
	root.fails(t, "add_cert", args(long, good.certFile, good.keyFile), "invalid common name (1-136 characters, no spaces)")
	root.fails(t, "add_cert", args("mrci.example", dir, good.keyFile), "cannot open cert: is a directory")
	root.fails(t, "add_cert", args("mrci.example", good.certFile, dir), "cannot open private key: is a directory")
	root.fails(t, "add_cert", args("mrci.example", text, good.keyFile), "cert not compatible")
	root.fails(t, "add_cert", args("mrci.example", good.keyFile, good.keyFile), "cert not compatible")
	root.fails(t, "add_cert", args("mrci.example", good.certFile, text), "private key not compatible")
	root.fails(t, "add_cert", args("mrci.example", good.certFile, good.certFile), "private key not compatible")
	root.fails(t, "add_cert", args("mrci.example", good.certFile, other.keyFile), "the private key does not belong to the cert")
	if rows := certRows(t, st); len(rows) != 0 {
		t.Fatalf("refused add_cert stored %v", rows)
	}

	// DER files are accepted; what is stored is the validated PEM.
	root.ok(t, "add_cert", args("MRCI.example", good.certDER, good.keyDER))
	c, err := st.Cert(context.Background(), "mrci.EXAMPLE")
	if err != nil || c.CommonName != "MRCI.example" || string(c.CertPEM) != string(good.certPEM) || !strings.Contains(string(c.KeyPEM), "PRIVATE KEY") {
		t.Fatalf("stored %+v, %v", c, err)
	}
	res := root.ok(t, "ls_certs", "")
	if !strings.Contains(res.Text(), "MRCI.example") {
		t.Fatalf("ls_certs:\n%s", res.Text())
	}
	res = root.ok(t, "cert_info", "-name mrci.example")
	for _, want := range []string{
		"Self Signed:     true\n", "Black Listed:    false\n",
		"Effective Date:  " + good0(now.Add(-time.Hour)) + "\n", "Expiry Date:     " + good0(now.Add(24*time.Hour)) + "\n",
		"Subject:         CN=mrci.example\n", "SANs:            mrci.example\n",
		"SHA-256:         " + fingerprint(good.der) + "\n", "Key Type:        ECDSA P-256\n",
	} {
		if !strings.Contains(res.Text(), want) {
			t.Errorf("cert_info lacks %q:\n%s", want, res.Text())
		}
	}
	// Replacing asks first; n keeps the stored certificate.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	repl := makeCert(t, dir, "mrci.example", rsaKey, now.Add(-time.Hour), now.Add(48*time.Hour))
	_, sc := root.interact(t, "add_cert", args("mrci.example", repl.certFile, repl.keyFile), "n")
	if len(sc.prompts) != 1 || sc.prompts[0] != "common name 'MRCI.example' exists, replace it? (y/n) " {
		t.Fatalf("prompts %q", sc.prompts)
	}
	if c, _ := st.Cert(context.Background(), "mrci.example"); string(c.CertPEM) != string(good.certPEM) {
		t.Fatal("answering n replaced the certificate")
	}
	root.interact(t, "add_cert", args("mrci.example", repl.certFile, repl.keyFile), "y")
	if c, _ := st.Cert(context.Background(), "mrci.example"); string(c.CertPEM) != string(repl.certPEM) {
		t.Fatal("answering y did not replace the certificate")
	}
	root.ok(t, "add_cert", args("other.example", other.certFile, other.keyFile))
	root.ok(t, "add_cert", args("mrci.example", good.certFile, good.keyFile)+" -force")
	if c, _ := st.Cert(context.Background(), "mrci.example"); string(c.CertPEM) != string(good.certPEM) {
		t.Fatal("-force did not replace the certificate")
	}
	if c, _ := st.Cert(context.Background(), "other.example"); string(c.CertPEM) != string(other.certPEM) {
		t.Fatal("replacing one common name changed another")
	}

	for _, cmd := range []string{"rm_cert", "cert_info"} {
		root.fails(t, cmd, "", "-name missing")
		root.fails(t, cmd, "-name "+long, "invalid common name (1-136 characters, no spaces)")
		root.fails(t, cmd, "-name zzz.example", "'zzz.example' does not exist")
	}
	_, sc = root.interact(t, "rm_cert", "-name mrci.example", "n")
	if len(sc.prompts) != 1 || sc.prompts[0] != "remove the cert for 'MRCI.example'? (y/n) " {
		t.Fatalf("prompts %q", sc.prompts)
	}
	if rows := certRows(t, st); len(rows) != 2 {
		t.Fatalf("n removed the certificate: %v", rows)
	}
	root.interact(t, "rm_cert", "-name mrci.example", "y")
	root.ok(t, "rm_cert", "-name OTHER.example -force")
	if rows := certRows(t, st); len(rows) != 0 {
		t.Fatalf("certificates left: %v", rows)
	}
	got := actLog(t, st, "certificate ")
	if len(got) != 6 || !strings.HasPrefix(got[0], "certificate installed for 'MRCI.example' (SHA-256 "+fingerprint(good.der)+") (by boss)") ||
		got[5] != "certificate removed for 'other.example' (by boss)" {
		t.Fatalf("activity log %q", got)
	}
}

func good0(t time.Time) string { return t.UTC().Format("01/02/06") }

func TestCertServedByCommonName(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{ForceTLS: true})
	dir := t.TempDir()
	now := time.Now()
	cn := makeCert(t, dir, "mrci.example", ecKey(t), now.Add(-time.Hour), now.Add(24*time.Hour))
	root := h.Root(t)
	if res, err := root.Run(ctx10(t), "add_cert", "-name mrci.example -cert "+cn.certFile+" -priv "+cn.keyFile); err != nil || res.Err() != nil {
		t.Fatalf("add_cert: %v %v", err, res.Err())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cn.certPEM)
	// The header asks for the name in another case; the client verifies
	// the chain and the name against its own pool (not a pin).
	c, err := client.Dial(ctx10(t), h.Addr, client.Options{CommonName: "MRCI.Example", RootCAs: pool})
	if err != nil {
		t.Fatalf("dial with CN mrci.example: %v", err)
	}
	defer c.Close()
	if !c.Encrypted() || fingerprint(c.HostCert().Raw) != fingerprint(cn.der) {
		t.Fatal("the CN's certificate was not served")
	}
	if err := c.Login(ctx10(t), "root", hosttest.RootPassword); err != nil {
		t.Fatal(err)
	}
	// Another name gets the default certificate, which that pool rejects.
	if _, err := client.Dial(ctx10(t), h.Addr, client.Options{CommonName: "unknown.example", RootCAs: pool}); err == nil {
		t.Fatal("the CN certificate verified for another name")
	}
	d, err := client.Dial(ctx10(t), h.Addr, client.Options{CommonName: "unknown.example", PinnedCert: string(h.Cert.CertPEM)})
	if err != nil {
		t.Fatalf("default certificate for an unknown name: %v", err)
	}
	d.Close()
}

func TestExpiredCertRegeneratedForThatNameOnly(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{ForceTLS: true})
	dir := t.TempDir()
	now := time.Now()
	old := makeCert(t, dir, "old.example", ecKey(t), now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	keep := makeCert(t, dir, "keep.example", ecKey(t), now.Add(-time.Hour), now.Add(24*time.Hour))
	ctx := context.Background()
	for _, c := range []store.Cert{{CommonName: "old.example", CertPEM: old.certPEM, KeyPEM: old.keyPEM},
		{CommonName: "keep.example", CertPEM: keep.certPEM, KeyPEM: keep.keyPEM}} {
		if err := h.Store.PutCert(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.Dial(ctx10(t), h.Addr, client.Options{CommonName: "OLD.example", TrustHostCert: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hc := c.HostCert()
	if hc.Subject.CommonName != "old.example" || !now.Before(hc.NotAfter) || hc.NotAfter.Before(now.Add(364*24*time.Hour)) {
		t.Fatalf("served %s valid until %v, want a new certificate for old.example", hc.Subject, hc.NotAfter)
	}
	stored, _ := h.Store.Cert(ctx, "old.example")
	if block, _ := pem.Decode(stored.CertPEM); block == nil || fingerprint(block.Bytes) != fingerprint(hc.Raw) {
		t.Fatal("the regenerated certificate was not stored for old.example")
	}
	if k, _ := h.Store.Cert(ctx, "keep.example"); string(k.CertPEM) != string(keep.certPEM) {
		t.Fatal("regenerating one common name changed another")
	}
}

func TestCertForOwnAddress(t *testing.T) {
	ip := globalAddr(t)
	for _, on := range []bool{true, false} {
		h := hosttest.StartWith(t, hosttest.Options{ListenAddr: net.JoinHostPort(ip.String(), "0"), Setup: func(st store.Store) {
			a := store.DefaultAdminSettings()
			a.CertAutoGenerate = on
			if err := st.SaveAdminSettings(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		}})
		// The common name defaults to the address dialled: the host's own.
		c, err := client.Dial(ctx10(t), h.Addr, client.Options{TrustHostCert: true})
		if err != nil {
			t.Fatal(err)
		}
		hc := c.HostCert()
		c.Close()
		_, err = h.Store.Cert(context.Background(), ip.String())
		if on {
			if hc.Subject.CommonName != ip.String() || len(hc.IPAddresses) != 1 || err != nil {
				t.Fatalf("setting on: served %s (SANs %v), stored err %v", hc.Subject, hc.IPAddresses, err)
			}
		} else if fingerprint(hc.Raw) != fingerprint(h.Cert.TLS.Certificate[0]) || !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("setting off: served %s, stored err %v; want the default certificate", hc.Subject, err)
		}
	}
}
