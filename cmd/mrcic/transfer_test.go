package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
)

func randomFile(t *testing.T, p string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(n)}).Read(b)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTransferAgainstRealHost: mrcic upload and download of a file and of
// a directory tree over TLS, verified by fs_hash; --resume continues a
// partial file on either side; failures give a non-zero exit status.
func TestTransferAgainstRealHost(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{ForceTLS: true})
	pw := writeFile(t, "pw", hosttest.RootPassword+"\n")
	pin := writeFile(t, "cert.pem", string(h.Cert.CertPEM))
	base := []string{"--addr", h.Addr, "--cert-pin", pin, "--user", "root", "--password-file", pw}
	mrcic := func(args ...string) result {
		return runMrcic(t, "", append(append([]string{}, args[:1]...), append(base, args[1:]...)...)...)
	}
	files := filepath.Join(h.DataDir, "files")
	local := t.TempDir()

	data := randomFile(t, filepath.Join(local, "big.bin"), 3<<20+11)
	if r := mrcic("upload", filepath.Join(local, "big.bin"), "big.bin"); r.code != 0 {
		t.Fatalf("upload: exit %d: %s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(files, "big.bin")); !bytes.Equal(got, data) {
		t.Fatal("uploaded file differs")
	}

	// Resume an upload: the host has the first MiB only.
	if err := os.WriteFile(filepath.Join(files, "big.bin"), data[:1<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mrcic("upload", "--resume", filepath.Join(local, "big.bin"), "big.bin"); r.code != 0 ||
		!strings.Contains(r.stderr, "1 file(s), 2097163 bytes") {
		t.Fatalf("upload --resume: exit %d: %s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(files, "big.bin")); !bytes.Equal(got, data) {
		t.Fatal("resumed upload differs")
	}

	// Resume a download: the local file has 5 bytes.
	dl := filepath.Join(local, "dl.bin")
	if err := os.WriteFile(dl, data[:5], 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mrcic("download", "--resume", "big.bin", dl); r.code != 0 || !strings.Contains(r.stderr, "1 file(s), 3145734 bytes") {
		t.Fatalf("download --resume: exit %d: %s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(dl); !bytes.Equal(got, data) {
		t.Fatal("resumed download differs")
	}
	// A corrupt partial file is caught by the verification.
	if err := os.WriteFile(dl, []byte("XXXXX"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mrcic("download", "--resume", "big.bin", dl); r.code != 1 || !strings.Contains(r.stderr, "SHA-256 differs") {
		t.Fatalf("download --resume onto a corrupt file: exit %d: %s", r.code, r.stderr)
	}
	if r := mrcic("download", "--no-verify", "--resume", "big.bin", dl); r.code != 0 {
		t.Fatalf("--no-verify: exit %d: %s", r.code, r.stderr)
	}

	// Directories, recursively, both ways.
	tree := filepath.Join(local, "tree")
	a := randomFile(t, filepath.Join(tree, "a.txt"), 10)
	b := randomFile(t, filepath.Join(tree, "sub", "deeper", "b.txt"), 70000)
	randomFile(t, filepath.Join(tree, "empty", "zero"), 0)
	if r := mrcic("upload", tree, "up/tree"); r.code != 0 {
		t.Fatalf("upload dir: exit %d: %s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(files, "up/tree/sub/deeper/b.txt")); !bytes.Equal(got, b) {
		t.Fatal("uploaded tree differs")
	}
	back := filepath.Join(local, "back")
	if r := mrcic("download", "up/tree", back); r.code != 0 || !strings.Contains(r.stderr, "3 file(s)") {
		t.Fatalf("download dir: exit %d: %s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(back, "a.txt")); !bytes.Equal(got, a) {
		t.Fatal("downloaded tree differs")
	}
	if fi, err := os.Stat(filepath.Join(back, "empty", "zero")); err != nil || fi.Size() != 0 {
		t.Fatalf("empty file: %v", err)
	}

	// Failures exit non-zero.
	if r := mrcic("download", "nope.bin", filepath.Join(local, "x")); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("missing remote: exit %d: %s", r.code, r.stderr)
	}
	if r := mrcic("upload", filepath.Join(local, "big.bin"), "../escape.bin"); r.code != 1 || !strings.Contains(r.stderr, "outside the files root") {
		t.Fatalf("escape: exit %d: %s", r.code, r.stderr)
	}
	if r := mrcic("upload", filepath.Join(local, "missing"), "x"); r.code != 1 {
		t.Fatalf("missing local: exit %d: %s", r.code, r.stderr)
	}
}

// TestInteractiveTransfer: #upload and #download in the interactive shell.
func TestInteractiveTransfer(t *testing.T) {
	h := hosttest.Start(t)
	pw := writeFile(t, "pw", hosttest.RootPassword+"\n")
	local := t.TempDir()
	data := randomFile(t, filepath.Join(local, "my file.bin"), 70000)
	back := filepath.Join(local, "back.bin")
	script := "#upload '" + filepath.Join(local, "my file.bin") + "' up.bin\n" +
		"#download --resume up.bin " + back + "\n" +
		"#upload only-one-arg\n#quit\n"
	r := runMrcic(t, script, "--addr", h.Addr, "--user", "root", "--password-file", pw, "--history", "")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(h.DataDir, "files", "up.bin")); !bytes.Equal(got, data) {
		t.Fatalf("#upload: host file differs\n%s", r.stderr)
	}
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Fatalf("#download: local file differs\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, "usage: #upload") {
		t.Fatalf("no usage message:\n%s\n%s", r.stdout, r.stderr)
	}
}
