package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve --web-addr serves the console; with --force-tls it is HTTPS on
// loopback too, with the host's default certificate.
func TestServeWebConsole(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MRCI_DATA_DIR", dir)
	t.Setenv("MRCI_ROOT_PASSWORD", "Env-Root-Pass-1")
	addr, webAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--web-addr", webAddr, "--force-tls"}, &bytes.Buffer{}, &bytes.Buffer{})
	}()
	defer func() {
		cancel()
		<-done
	}()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the certificate is compared below
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(startupLimit); ; time.Sleep(50 * time.Millisecond) {
		if resp, err = cl.Get("https://" + webAddr + "/"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("GET console: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("console answered %d %v", resp.StatusCode, resp.Header)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	if blk == nil || !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, blk.Bytes) {
		t.Fatal("the console does not serve the host's default certificate")
	}
}

func TestServeWebCertNeedsKey(t *testing.T) {
	t.Setenv("MRCI_DATA_DIR", t.TempDir())
	code, _, errOut := runCLI(t, "serve", "--addr", freeAddr(t), "--web-addr", freeAddr(t), "--web-cert", "cert.pem")
	if code == 0 || !strings.Contains(errOut, "--web-cert and --web-key go together") {
		t.Fatalf("serve --web-cert without --web-key: exit %d, %q", code, errOut)
	}
}
