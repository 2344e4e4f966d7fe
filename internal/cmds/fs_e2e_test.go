package cmds_test

// End-to-end tests of the file-system commands (fs_*) over real sessions
// of a real host, plaintext and TLS: what the client sees on the wire and
// what ends up on disk.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// chunk is the host's download frame size (cmds.transferChunk).
const chunk = 1<<20 - 8

// fsEnv is a host, its files root and a session logged in as a rank-1 user.
type fsEnv struct {
	t    *testing.T
	h    *hosttest.Host
	root string // the files root on disk
	c    *client.Client
}

func newFS(t *testing.T, tls bool, fset *store.FilesSettings) *fsEnv {
	t.Helper()
	o := hosttest.Options{ForceTLS: tls}
	if fset != nil {
		o.Setup = func(st store.Store) {
			if err := st.SaveFilesSettings(context.Background(), *fset); err != nil {
				t.Fatalf("files settings: %v", err)
			}
		}
	}
	h := hosttest.StartWith(t, o)
	e := &fsEnv{t: t, h: h, root: filepath.Join(h.DataDir, "files")}
	if fset != nil && fset.Root != "" {
		e.root = fset.Root
	}
	h.CreateUser(t, "alice", testPassword, 1)
	e.c = h.Login(t, "alice", testPassword)
	if e.c.Encrypted() != tls {
		t.Fatalf("encrypted = %v, want %v", e.c.Encrypted(), tls)
	}
	// The first command creates the root.
	e.ok("fs_cd", "")
	return e
}

func (e *fsEnv) run(name, args string) *client.Result {
	e.t.Helper()
	res, err := e.c.Run(ctx10(e.t), name, args)
	if err != nil {
		e.t.Fatalf("%s %s: %v", name, args, err)
	}
	return res
}

// ok runs a command that must not fail and returns its text.
func (e *fsEnv) ok(name, args string) string {
	e.t.Helper()
	res := e.run(name, args)
	if err := res.Err(); err != nil {
		e.t.Fatalf("%s %s: %v", name, args, err)
	}
	return res.Text()
}

// fails runs a command that must fail with an error containing want.
func (e *fsEnv) fails(name, args, want string) {
	e.t.Helper()
	res := e.run(name, args)
	errs := strings.Join(res.Errors(), "|")
	if !strings.Contains(errs, want) || !strings.HasPrefix(errs, "err: ") {
		e.t.Fatalf("%s %s: errors %q, want one containing %q", name, args, errs, want)
	}
}

func (e *fsEnv) write(rel string, data []byte) {
	e.t.Helper()
	p := filepath.Join(e.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *fsEnv) read(rel string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, rel))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	_, _ = r.Read(b)
	return b
}

// TestFsTransferSizes uploads and downloads files of the sizes around the
// chunk boundaries in streaming and single-step mode, plaintext and TLS,
// and compares them byte for byte.
func TestFsTransferSizes(t *testing.T) {
	sizes := []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + 17}
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			e := newFS(t, tls, nil)
			for _, single := range []bool{false, true} {
				for _, n := range sizes {
					data := randBytes(n)
					name := fmt.Sprintf("up_%d_%v.bin", n, single)
					ctx := hosttest.Ctx(t, 60*time.Second)
					var last int64
					opts := client.TransferOptions{SingleStep: single, ChunkSize: chunk / 2,
						Progress: func(done, total int64) { last = done }}
					got, err := e.c.Upload(ctx, name, bytes.NewReader(data), int64(n), opts)
					if err != nil || got != int64(n) {
						t.Fatalf("upload %d single=%v: %d, %v", n, single, got, err)
					}
					if n > 0 && last != int64(n) {
						t.Fatalf("upload progress ended at %d of %d", last, n)
					}
					if !bytes.Equal(e.read(name), data) {
						t.Fatalf("uploaded %d bytes single=%v differ", n, single)
					}
					var buf bytes.Buffer
					got, err = e.c.Download(ctx, name, &buf, client.TransferOptions{SingleStep: single})
					if err != nil || got != int64(n) || !bytes.Equal(buf.Bytes(), data) {
						t.Fatalf("download %d single=%v: %d, %v, equal %v", n, single, got, err, bytes.Equal(buf.Bytes(), data))
					}
				}
			}
		})
	}
}

// genfileRound sends a GEN_FILE parameter frame on a new call and returns
// the call.
func (e *fsEnv) genfile(name, args string) *client.Call {
	e.t.Helper()
	call, err := e.c.Start(ctx10(e.t), name)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = call.Close() })
	if err := call.Send(wire.TypeGenFile, wire.EncodeText(args)); err != nil {
		e.t.Fatal(err)
	}
	return call
}

func next(t *testing.T, call *client.Call) wire.Frame {
	t.Helper()
	f, err := call.Next(ctx10(t))
	if err != nil {
		t.Fatalf("next frame: %v", err)
	}
	return f
}

func expect(t *testing.T, call *client.Call, typ wire.TypeID, text string) wire.Frame {
	t.Helper()
	f := next(t, call)
	if f.Type != typ || (text != "" && wire.DecodeText(f.Payload) != text) {
		t.Fatalf("got %v %q, want %v %q", f.Type, wire.DecodeText(f.Payload), typ, text)
	}
	return f
}

// TestFsDownloadWire checks the frames of a download: the reply carries the
// real length, data frames are followed by progress lines, -offset and -len
// select the bytes.
func TestFsDownloadWire(t *testing.T) {
	e := newFS(t, false, nil)
	e.write("report.csv", []byte("a,b\r\n"))
	call := e.genfile("fs_download", "-client_file copy.csv -remote_file report.csv -len 0 -single_step")
	expect(t, call, wire.TypeGenFile, "-from_host -len 5")
	if err := call.Send(wire.TypeGenFile, nil); err != nil {
		t.Fatal(err)
	}
	if f := expect(t, call, wire.TypeGenFile, ""); string(f.Payload) != "a,b\r\n" {
		t.Fatalf("data %q", f.Payload)
	}
	expect(t, call, wire.TypeText, "5/5\n")
	expect(t, call, wire.TypeIdle, "")

	call = e.genfile("fs_download", "-remote_file report.csv -offset 2 -len 2")
	expect(t, call, wire.TypeGenFile, "-from_host -len 2")
	_ = call.Send(wire.TypeGenFile, nil)
	if f := expect(t, call, wire.TypeGenFile, ""); string(f.Payload) != "b\r" {
		t.Fatalf("data %q", f.Payload)
	}
	expect(t, call, wire.TypeText, "2/2\n")
	expect(t, call, wire.TypeIdle, "")

	// A TEXT frame is not a download call: only IDLE.
	res := e.run("fs_download", "-remote_file report.csv")
	if len(res.Frames) != 1 || res.Frames[0].Type != wire.TypeIdle {
		t.Fatalf("TEXT call of fs_download: %s", describe(res.Frames))
	}
}

// genfileFails sends a GEN_FILE call that must end with an ERR containing want.
func (e *fsEnv) genfileFails(name, args, want string) {
	e.t.Helper()
	call := e.genfile(name, args)
	var errs []string
	for {
		f := next(e.t, call)
		if f.Type == wire.TypeErr {
			errs = append(errs, wire.DecodeText(f.Payload))
		}
		if f.Type == wire.TypeIdle {
			break
		}
	}
	if got := strings.Join(errs, "|"); !strings.Contains(got, want) {
		e.t.Fatalf("%s %s: errors %q, want %q", name, args, got, want)
	}
}

// TestFsTransferBadArgs: missing and invalid arguments, offsets and lengths
// that are negative, beyond the file or beyond 2^63.
func TestFsTransferBadArgs(t *testing.T) {
	e := newFS(t, false, nil)
	e.write("f.bin", []byte("0123456789"))
	for _, tc := range []struct{ cmd, args, want string }{
		{"fs_download", "-len 3", "-remote_file missing"},
		{"fs_download", "-remote_file nope.bin", "file not found"},
		{"fs_download", "-remote_file f.bin -offset x", "offset 'x' is not a valid integer"},
		{"fs_download", "-remote_file f.bin -len 1x", "len '1x' is not a valid integer"},
		{"fs_download", "-remote_file f.bin -offset -5", "offset needs a non-negative integer"},
		{"fs_download", "-remote_file f.bin -offset 11", "offset 11 is beyond the end of the file"},
		{"fs_download", "-remote_file f.bin -offset 4 -len 7", "len 7 goes beyond the end of the file"},
		{"fs_download", "-remote_file f.bin -len 9223372036854775808", "beyond 2^63-1"},
		{"fs_download", "-remote_file f.bin -offset 18446744073709551616", "not a valid integer"},
		{"fs_download", "-remote_file .", "not a file"},
		{"fs_download", "-remote_file ../x", "outside the files root"},
		{"fs_upload", "-len 3", "-remote_file missing"},
		{"fs_upload", "-remote_file g.bin", "-len missing"},
		{"fs_upload", "-remote_file g.bin -len -3", "len needs a non-negative integer"},
		{"fs_upload", "-remote_file g.bin -len 3 -offset z", "offset 'z' is not a valid integer"},
		{"fs_upload", "-remote_file g.bin -len 9223372036854775807 -offset 1", "beyond 2^63-1"},
		{"fs_upload", "-remote_file f.bin -len 3 -offset 11 -force", "offset 11 is beyond the end"},
		{"fs_upload", "-remote_file f.bin -len 3 -offset 2 -force -truncate", "offset 2 is beyond the end"},
		{"fs_upload", "-remote_file /etc/passwd -len 3", "outside the files root"},
		{"fs_upload", "-remote_file . -len 3 -force", "exists and is not a file"},
	} {
		e.genfileFails(tc.cmd, tc.args, tc.want)
	}
	if got := e.read("f.bin"); string(got) != "0123456789" {
		t.Fatalf("f.bin changed: %q", got)
	}
}

// TestFsUploadWire follows an upload frame by frame: the reply, the
// overwrite question (answered with GEN_FILE), the ready signal, progress,
// -offset applied after opening, and bytes beyond -len cut and reported.
func TestFsUploadWire(t *testing.T) {
	e := newFS(t, true, nil)
	e.write("notes.txt", []byte("0123456789"))
	call := e.genfile("fs_upload", "-client_file notes.txt -remote_file notes.txt -len 4 -offset 3")
	expect(t, call, wire.TypeGenFile, "-to_host")
	expect(t, call, wire.TypeText, "'notes.txt' already exists, do you want to overwrite? (y/n): ")
	_ = call.Send(wire.TypeGenFile, wire.EncodeText("maybe"))
	expect(t, call, wire.TypeText, "'notes.txt' already exists, do you want to overwrite? (y/n): ")
	_ = call.Send(wire.TypeGenFile, wire.EncodeText("Y"))
	expect(t, call, wire.TypeGenFile, "")
	_ = call.Send(wire.TypeGenFile, []byte("ab"))
	expect(t, call, wire.TypeText, "2/4\n")
	_ = call.Send(wire.TypeGenFile, []byte("cdEXTRA"))
	expect(t, call, wire.TypeText, "4/4\n")
	expect(t, call, wire.TypeErr, "err: the client sent 5 bytes beyond -len 4; they were discarded\n")
	expect(t, call, wire.TypeIdle, "")
	if got := e.read("notes.txt"); string(got) != "012abcd789" {
		t.Fatalf("file %q, want 012abcd789", got)
	}

	// "n" leaves the file alone.
	call = e.genfile("fs_upload", "-remote_file notes.txt -len 1")
	expect(t, call, wire.TypeGenFile, "-to_host")
	expect(t, call, wire.TypeText, "")
	_ = call.SendText("n")
	expect(t, call, wire.TypeIdle, "")

	// Single step: an empty GEN_FILE asks for each next chunk; -truncate.
	call = e.genfile("fs_upload", "-remote_file notes.txt -len 3 -single_step -force -truncate")
	expect(t, call, wire.TypeGenFile, "-to_host")
	expect(t, call, wire.TypeGenFile, "")
	_ = call.Send(wire.TypeGenFile, []byte("x"))
	expect(t, call, wire.TypeText, "1/3\n")
	expect(t, call, wire.TypeGenFile, "")
	_ = call.Send(wire.TypeGenFile, []byte("yz"))
	expect(t, call, wire.TypeText, "3/3\n")
	expect(t, call, wire.TypeIdle, "")
	if got := e.read("notes.txt"); string(got) != "xyz" {
		t.Fatalf("file %q, want xyz", got)
	}
	if _, err := e.c.Upload(ctx10(t), "notes.txt", strings.NewReader("q"), 1, client.TransferOptions{}); !errors.Is(err, client.ErrRemoteExists) {
		t.Fatalf("upload over an existing file without Overwrite: %v", err)
	}
}

// TestFsResumeAfterDisconnect: a session that disconnects in the middle of
// an upload leaves a partial file holding exactly the bytes received; a
// new session resumes with -offset. A download resumes the same way.
func TestFsResumeAfterDisconnect(t *testing.T) {
	e := newFS(t, false, nil)
	data := randBytes(3*chunk + 5)
	c2 := e.h.Login(t, "alice", testPassword)
	call, err := c2.Start(ctx10(t), "fs_upload")
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(wire.TypeGenFile, wire.EncodeText(fmt.Sprintf("-remote_file big.bin -len %d -single_step", len(data))))
	expect(t, call, wire.TypeGenFile, "-to_host")
	expect(t, call, wire.TypeGenFile, "")
	_ = call.Send(wire.TypeGenFile, data[:chunk])
	expect(t, call, wire.TypeText, fmt.Sprintf("%d/%d\n", chunk, len(data)))
	expect(t, call, wire.TypeGenFile, "")
	_ = c2.Close()
	// The partial file has exactly the first chunk once the host has seen
	// the disconnect (fs_info from the other session; the upload's lock is
	// released when its call ends).
	waitFor(t, func() bool {
		fi, err := os.Stat(filepath.Join(e.root, "big.bin"))
		return err == nil && fi.Size() == chunk
	})
	if !bytes.Equal(e.read("big.bin"), data[:chunk]) {
		t.Fatal("partial file differs from the bytes sent")
	}
	opts := client.TransferOptions{Offset: chunk, Overwrite: true}
	// The old call may still hold the lock for a moment: retry until the
	// host has ended it.
	for {
		_, err := e.c.Upload(ctx10(t), "big.bin", bytes.NewReader(data[chunk:]), int64(len(data)-chunk), opts)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "being written by another transfer") {
			t.Fatalf("resume upload: %v", err)
		}
	}
	if !bytes.Equal(e.read("big.bin"), data) {
		t.Fatal("resumed upload differs")
	}
	var buf bytes.Buffer
	buf.Write(data[:chunk+7])
	if _, err := e.c.Download(ctx10(t), "big.bin", &buf, client.TransferOptions{Offset: chunk + 7}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("resumed download differs")
	}
	sum := sha256.Sum256(data)
	if got := e.ok("fs_hash", "-path big.bin"); got != "sha256 "+hex.EncodeToString(sum[:])+"\n" {
		t.Fatalf("fs_hash: %q", got)
	}
	e.fails("fs_hash", "-path big.bin -algo md4", "unknown -algo 'md4'")
	e.fails("fs_hash", "", "-path missing")
}

// waitFor polls cond (a safety net against a hung host, not a timing test).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFsLargeOffsets: offsets beyond 4 GiB on a sparse file, both ways.
func TestFsLargeOffsets(t *testing.T) {
	e := newFS(t, false, nil)
	const off = 5<<30 + 3
	p := filepath.Join(e.root, "sparse.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("tail"), off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var buf bytes.Buffer
	if _, err := e.c.Download(ctx10(t), "sparse.bin", &buf, client.TransferOptions{Offset: off}); err != nil || buf.String() != "tail" {
		t.Fatalf("download at 5 GiB: %q, %v", buf.String(), err)
	}
	opts := client.TransferOptions{Offset: off + 4, Overwrite: true}
	if _, err := e.c.Upload(ctx10(t), "sparse.bin", strings.NewReader("MORE"), 4, opts); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	f, _ = os.Open(p)
	_, _ = f.ReadAt(got, off)
	f.Close()
	if string(got) != "tailMORE" {
		t.Fatalf("bytes at 5 GiB: %q", got)
	}
	if got := e.ok("fs_info", "-path sparse.bin"); !strings.Contains(got, fmt.Sprintf("bytes:         %d\n", off+8)) {
		t.Fatalf("fs_info: %q", got)
	}
}

// TestFsConfinement: "..", absolute paths, symbolic links and hard links
// never lead outside the files root; a link swapped in during an upload
// does not redirect it.
func TestFsConfinement(t *testing.T) {
	e := newFS(t, false, nil)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.root, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(e.root, "secret-abs")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(e.root, secret)
	if err := os.Symlink(rel, filepath.Join(e.root, "secret-rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(secret, filepath.Join(e.root, "hard.txt")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cmd, args, want string }{
		{"fs_list", "-path ..", "outside the files root"},
		{"fs_list", "-path " + outside, "outside the files root"},
		{"fs_list", "-path out", "leads outside the files root"},
		{"fs_cd", "-path ../..", "outside the files root"},
		{"fs_cd", "-path out", "leads outside the files root"},
		{"fs_info", "-path out/secret.txt", "leads outside the files root"},
		{"fs_hash", "-path secret-abs", "leads outside the files root"},
		{"fs_hash", "-path secret-rel", "leads outside the files root"},
		{"fs_delete", "-path out/secret.txt -force", "leads outside the files root"},
		{"fs_mkpath", "-path out/newdir", "leads outside the files root"},
		{"fs_copy", "-src secret-rel -dst /tmp/x", "outside the files root"},
		{"fs_copy", "-src out/secret.txt -dst x", "leads outside the files root"},
		{"fs_move", "-src hard.txt -dst out/a", "leads outside the files root"},
		{"fs_tree", "-path a/../../", "outside the files root"},
		{"fs_info", "-path " + strings.Repeat("a/", 2100), "longer than the limit"},
		{"fs_mkpath", "-path 'two\nlines'", "control character"},
	} {
		e.fails(tc.cmd, tc.args, tc.want)
	}
	// NUL units never reach a command: the text decoder drops them.
	e.ok("fs_mkpath", "-path 'bad\x00name'")
	if fi, err := os.Stat(filepath.Join(e.root, "badname")); err != nil || !fi.IsDir() {
		t.Fatalf("NUL in a name: %v", err)
	}
	e.genfileFails("fs_download", "-remote_file secret-abs", "leads outside the files root")
	e.genfileFails("fs_download", "-remote_file out/secret.txt", "leads outside the files root")
	e.genfileFails("fs_upload", "-remote_file out/new.txt -len 1", "leads outside the files root")
	e.genfileFails("fs_upload", "-remote_file secret-rel -len 1 -force", "leads outside the files root")
	e.genfileFails("fs_upload", "-remote_file hard.txt -len 1 -force", "other hard links")
	e.fails("fs_copy", "-src secret-abs -dst hard.txt -force", "existing destination type does not match")
	e.write("plain.txt", []byte("p"))
	e.fails("fs_copy", "-src plain.txt -dst hard.txt -force", "other hard links")
	// Links inside the root work; a copied link keeps its target.
	e.ok("fs_copy", "-src secret-abs -dst copied-link")
	if tgt, _ := os.Readlink(filepath.Join(e.root, "copied-link")); tgt != secret {
		t.Fatalf("copied link target %q", tgt)
	}
	// Deleting a link removes the link, never the target.
	e.ok("fs_delete", "-path out -force")
	e.ok("fs_delete", "-path secret-abs -force")

	// A symbolic link swapped in during an upload: the open file stays the
	// one inside the root; the outside file is untouched.
	call := e.genfile("fs_upload", "-remote_file swap.txt -len 6 -single_step")
	expect(t, call, wire.TypeGenFile, "-to_host")
	expect(t, call, wire.TypeGenFile, "")
	_ = call.Send(wire.TypeGenFile, []byte("abc"))
	expect(t, call, wire.TypeText, "3/6\n")
	expect(t, call, wire.TypeGenFile, "")
	swap := filepath.Join(e.root, "swap.txt")
	if err := os.Remove(swap); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, swap); err != nil {
		t.Fatal(err)
	}
	_ = call.Send(wire.TypeGenFile, []byte("def"))
	expect(t, call, wire.TypeText, "6/6\n")
	expect(t, call, wire.TypeIdle, "")
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Fatalf("outside file changed: %q", b)
	}
	e.genfileFails("fs_upload", "-remote_file swap.txt -len 1 -force", "leads outside the files root")
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Fatalf("outside file changed: %q", b)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Fatalf("outside directory has %d entries", len(entries))
	}
}

// TestFsQuotaAndHomes: per-user homes are created on first use and
// confine each user; the quota is enforced on upload, copy and move.
func TestFsQuotaAndHomes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "custom root")
	e := newFS(t, false, &store.FilesSettings{Root: root, Homes: true, Quota: 1000})
	home := filepath.Join(root, "alice")
	if got := e.ok("fs_cd", ""); got != home+"\n" {
		t.Fatalf("fs_cd: %q, want %q", got, home)
	}
	e.root = home
	if _, err := e.c.Upload(ctx10(t), "a.bin", bytes.NewReader(randBytes(600)), 600, client.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.Upload(ctx10(t), "b.bin", bytes.NewReader(randBytes(600)), 600, client.TransferOptions{})
	if err == nil || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("upload over quota: %v", err)
	}
	// Overwriting in place does not grow.
	if _, err := e.c.Upload(ctx10(t), "a.bin", bytes.NewReader(randBytes(700)), 700, client.TransferOptions{Overwrite: true, Truncate: true}); err != nil {
		t.Fatal(err)
	}
	e.fails("fs_copy", "-src a.bin -dst c.bin", "quota exceeded")
	e.ok("fs_mkpath", "-path d")
	e.ok("fs_move", "-src a.bin -dst d/a.bin") // a rename does not grow
	e.fails("fs_copy", "-src d -dst e", "quota exceeded")
	e.fails("fs_list", "-path ..", "outside the files root")
	e.fails("fs_list", "-path "+root, "outside the files root")

	e.h.CreateUser(t, "bob", testPassword, 1)
	bob := e.h.Login(t, "bob", testPassword)
	res, err := bob.Run(ctx10(t), "fs_list", "")
	if err != nil || res.Err() != nil || res.Text() != "" {
		t.Fatalf("bob's fresh home: %q, %v, %v", res.Text(), err, res.Err())
	}
	if fi, err := os.Stat(filepath.Join(root, "bob")); err != nil || !fi.IsDir() {
		t.Fatalf("bob's home: %v", err)
	}
	res, _ = bob.Run(ctx10(t), "fs_info", "-path ../alice/d/a.bin")
	if !strings.Contains(strings.Join(res.Errors(), ""), "outside the files root") {
		t.Fatalf("bob reads alice's file: %s", describe(res.Frames))
	}
}

// TestFsCommands covers fs_cd, fs_list, fs_info, fs_mkpath and fs_delete
// with their outputs and error texts.
func TestFsCommands(t *testing.T) {
	e := newFS(t, true, nil)
	e.write("docs/b.txt", []byte("bb"))
	e.write("docs/a.txt", []byte("a"))
	e.write("docs/.hidden", nil)
	e.write("docs/zdir/x", nil)
	e.write("docs/adir/y", nil)

	if got := e.ok("fs_cd", ""); got != e.root+"\n" {
		t.Fatalf("fs_cd: %q", got)
	}
	if got := e.ok("fs_cd", "-path docs"); got != filepath.Join(e.root, "docs")+"\n" {
		t.Fatalf("fs_cd docs: %q", got)
	}
	// ASYNC_SET_DIR carried the absolute path: relative paths now resolve
	// against docs, for new calls too.
	if got := e.ok("fs_cd", ""); got != filepath.Join(e.root, "docs")+"\n" {
		t.Fatalf("fs_cd after cd: %q", got)
	}
	if got := e.ok("fs_list", ""); got != "adir/\nzdir/\n.hidden\na.txt\nb.txt\n" {
		t.Fatalf("fs_list: %q", got)
	}
	if got := e.ok("fs_list", "-no_hidden -path ."); got != "adir/\nzdir/\na.txt\nb.txt\n" {
		t.Fatalf("fs_list -no_hidden: %q", got)
	}
	e.fails("fs_cd", "-path nope", "'nope' does not exist")
	e.fails("fs_cd", "-path a.txt", "'a.txt' is not a directory")
	e.fails("fs_list", "-path nope", "'nope' does not exist")
	e.fails("fs_list", "-path b.txt", "'b.txt' is not a directory")
	e.ok("fs_cd", "-path ..")

	res := e.run("fs_list", "-path docs -info_frame")
	var infos []wire.Frame
	for _, f := range res.Frames {
		if f.Type == wire.TypeFileInfo {
			infos = append(infos, f)
		}
	}
	if len(infos) != 5 {
		t.Fatalf("fs_list -info_frame: %s", describe(res.Frames))
	}
	fi := infos[4].Payload // b.txt
	if fi[0]&0x01 == 0 || fi[0]&0x40 == 0 || fi[0]&0x02 != 0 || binary.LittleEndian.Uint64(fi[17:]) != 2 {
		t.Fatalf("FILE_INFO of b.txt: % x", fi)
	}
	if want := append(wire.EncodeText("b.txt"), 0, 0, 0, 0); !bytes.Equal(fi[25:], want) {
		t.Fatalf("FILE_INFO name/target: % x, want % x", fi[25:], want)
	}
	if infos[0].Payload[0]&0x02 == 0 {
		t.Fatalf("FILE_INFO of adir: % x", infos[0].Payload)
	}

	got := e.ok("fs_info", "-path docs/b.txt")
	for _, want := range []string{"is_file:       true\n", "is_dir:        false\n", "is_symlnk:     false\n\n", "can_read:      true\n", "bytes:         2\n", "last_modified: "} {
		if !strings.Contains(got, want) {
			t.Fatalf("fs_info: %q lacks %q", got, want)
		}
	}
	e.fails("fs_info", "", "-path missing")
	e.fails("fs_info", "-path docs/none", "object not found")

	e.ok("fs_mkpath", "-path new/deep/dir")
	if fi, err := os.Stat(filepath.Join(e.root, "new/deep/dir")); err != nil || !fi.IsDir() {
		t.Fatalf("fs_mkpath: %v", err)
	}
	e.fails("fs_mkpath", "", "-path missing")
	e.fails("fs_mkpath", "-path docs/a.txt/sub", "not a directory")

	// fs_delete asks; "n" keeps, "y" deletes recursively; a dangling link
	// can be deleted.
	call, _ := e.c.Start(ctx10(t), "fs_delete")
	_ = call.SendText("-path docs")
	expect(t, call, wire.TypeText, "delete the object? (y/n): ")
	_ = call.SendText("n")
	expect(t, call, wire.TypeIdle, "")
	if _, err := os.Stat(filepath.Join(e.root, "docs")); err != nil {
		t.Fatal("docs deleted after n")
	}
	_ = call.SendText("-path docs")
	expect(t, call, wire.TypeText, "delete the object? (y/n): ")
	_ = call.SendText("y")
	expect(t, call, wire.TypeIdle, "")
	if _, err := os.Stat(filepath.Join(e.root, "docs")); !os.IsNotExist(err) {
		t.Fatalf("docs not deleted: %v", err)
	}
	_ = os.Symlink("missing-target", filepath.Join(e.root, "dangling"))
	e.ok("fs_delete", "-path dangling -force")
	e.fails("fs_delete", "-path dangling -force", "object not found")
	e.fails("fs_delete", "", "-path missing")
	e.fails("fs_delete", "-path . -force", "cannot be deleted")
	// Unicode names are kept as sent (NFC and NFD are different names).
	e.ok("fs_mkpath", "-path 'caf\u00e9'")
	e.ok("fs_mkpath", "-path 'cafe\u0301'")
	e.ok("fs_mkpath", "-path CON")
	if got := e.ok("fs_list", ""); !strings.Contains(got, "caf\u00e9/\n") || !strings.Contains(got, "cafe\u0301/\n") || !strings.Contains(got, "CON/\n") {
		t.Fatalf("unicode names: %q", got)
	}
}

// TestFsTree: breadth-first paths, a link cycle listed once and never
// entered again.
func TestFsTree(t *testing.T) {
	e := newFS(t, false, nil)
	e.write("t/a/x.txt", nil)
	e.write("t/b/c/y.txt", nil)
	if err := os.Symlink("..", filepath.Join(e.root, "t/a/up")); err != nil {
		t.Fatal(err)
	}
	got := e.ok("fs_tree", "-path t")
	want := "t/a/\nt/b/\nt/a/up/\nt/a/x.txt\nt/b/c/\nt/b/c/y.txt\n"
	if got != want {
		t.Fatalf("fs_tree:\n%s\nwant:\n%s", got, want)
	}
}

// bigTree makes a tree of n directories in a chain of fan-out 1.
func (e *fsEnv) bigTree(dir string, n int) {
	e.t.Helper()
	for i := range n {
		e.write(filepath.Join(dir, fmt.Sprintf("d%04d", i), "f"), nil)
	}
}

// poll returns the frames already queued on a call without waiting.
func poll(call *client.Call) []wire.Frame {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []wire.Frame
	for {
		f, err := call.Next(ctx)
		if err != nil {
			return out
		}
		out = append(out, f)
	}
}

// halted checks that a call paused by HALT_CMD makes no progress. A step
// that was running when the HALT arrived may still finish, so it takes
// barriers (full round trips of another command, handled by the session
// after the HALT) until the call's output and progress stay the same from
// one barrier to the next; the call must never finish meanwhile. It
// returns the frames received so far.
func (e *fsEnv) halted(call *client.Call, progress func() int) []wire.Frame {
	e.t.Helper()
	var got []wire.Frame
	last := -1
	for range 100 {
		e.ok("fs_cd", "")
		fs := poll(call)
		for _, f := range fs {
			if f.Type == wire.TypeIdle {
				e.t.Fatal("the call finished while halted")
			}
		}
		got = append(got, fs...)
		p := progress()
		if len(fs) == 0 && p == last {
			if !call.Busy() {
				e.t.Fatal("the call is not busy while halted")
			}
			return got
		}
		last = p
	}
	e.t.Fatalf("the call kept making progress while halted (%d)", last)
	return nil
}

// rest reads a call's frames up to its IDLE.
func rest(t *testing.T, call *client.Call) []wire.Frame {
	t.Helper()
	var out []wire.Frame
	for {
		f := next(t, call)
		if f.Type == wire.TypeIdle {
			return out
		}
		out = append(out, f)
	}
}

// TestFsTreeHaltResumeTerm: HALT_CMD pauses fs_tree between directories
// (no IDLE, no output until RESUME_CMD), RESUME_CMD completes it, TERM_CMD
// ends it early.
func TestFsTreeHaltResumeTerm(t *testing.T) {
	e := newFS(t, false, nil)
	const n = 400
	e.bigTree("big", n)
	start := func(control ...wire.TypeID) *client.Call {
		call, err := e.c.Start(ctx10(t), "fs_tree")
		if err != nil {
			t.Fatal(err)
		}
		_ = call.SendText("-path big")
		for _, c := range control {
			_ = call.Send(c, nil)
		}
		return call
	}
	call := start(wire.TypeHaltCmd)
	var seen int
	got := e.halted(call, func() int { seen += len(poll(call)); return seen })
	_ = call.Send(wire.TypeResumeCmd, nil)
	lines := len(got) + seen + len(rest(t, call))
	if lines != 2*n { // n directories and n files
		t.Fatalf("fs_tree printed %d lines, want %d", lines, 2*n)
	}
	_ = call.Close()

	call = start(wire.TypeHaltCmd, wire.TypeTermCmd)
	if lines := len(rest(t, call)); lines >= 2*n {
		t.Fatalf("fs_tree after TERM printed all %d lines", lines)
	}
}

// TestFsCopyMove covers fs_copy and fs_move: checks in order, the
// overwrite questions with y/n/y-all/n-all, directories into themselves,
// skipped sources kept, progress lines.
func TestFsCopyMove(t *testing.T) {
	e := newFS(t, false, nil)
	e.write("src/one.txt", []byte("1"))
	e.write("src/sub/two.txt", []byte("22"))
	e.write("src/three.txt", []byte("333"))
	e.write("file.txt", []byte("f"))

	e.fails("fs_copy", "-dst x", "-src missing")
	e.fails("fs_copy", "-src src", "-dst missing")
	e.fails("fs_copy", "-src nope -dst x", "'nope' does not exist")
	e.fails("fs_copy", "-src src -dst file.txt", "existing destination type does not match the source")
	e.fails("fs_copy", "-src src -dst src/sub/in", "cannot copy a directory into itself")
	e.fails("fs_move", "-src src -dst src", "cannot move a directory into itself")
	e.fails("fs_copy", "-src file.txt -dst ./file.txt -force", "same object")

	got := e.ok("fs_copy", "-src src -dst dst")
	for _, want := range []string{"'src/one.txt' --> 'dst/one.txt'\n\n", "1/1\n", "'src/sub/two.txt' --> 'dst/sub/two.txt'\n\n", "2/2\n"} {
		if !strings.Contains(got, want) {
			t.Fatalf("fs_copy output %q lacks %q", got, want)
		}
	}
	if string(e.read("dst/sub/two.txt")) != "22" || string(e.read("dst/three.txt")) != "333" {
		t.Fatal("copy content differs")
	}

	// Existing destination: asked once for the top, then y/n/y-all/n-all.
	e.write("src/one.txt", []byte("one"))
	e.write("src/three.txt", []byte("three"))
	e.write("src/sub/two.txt", []byte("two"))
	call, _ := e.c.Start(ctx10(t), "fs_copy")
	_ = call.SendText("-src src -dst dst")
	expect(t, call, wire.TypeText, "'dst' already exists, overwrite? (y/n): ")
	_ = call.SendText("y")
	answers := map[string]string{"dst/one.txt": "n", "dst/three.txt": "y-all"}
	for {
		f := next(t, call)
		if f.Type == wire.TypeIdle {
			break
		}
		s := wire.DecodeText(f.Payload)
		if strings.HasSuffix(s, "(y/n/y-all/n-all): ") {
			name := strings.TrimPrefix(strings.Split(s, "' already")[0], "'")
			a, ok := answers[name]
			if !ok {
				t.Fatalf("unexpected question %q", s)
			}
			delete(answers, name)
			_ = call.SendText(a)
		}
	}
	if len(answers) != 0 {
		t.Fatalf("questions not asked: %v", answers)
	}
	if string(e.read("dst/one.txt")) != "1" || string(e.read("dst/three.txt")) != "three" || string(e.read("dst/sub/two.txt")) != "two" {
		t.Fatalf("after answers: %q %q %q", e.read("dst/one.txt"), e.read("dst/three.txt"), e.read("dst/sub/two.txt"))
	}

	// fs_move with n-all: skipped sources stay, moved ones go. A rename on
	// one device moves everything at once, so force the copy path by
	// answering for a merge into an existing directory tree.
	e.write("m/a.txt", []byte("new-a"))
	e.write("m/b.txt", []byte("new-b"))
	e.write("target/a.txt", []byte("old-a"))
	e.ok("fs_move", "-src m/b.txt -dst target/b.txt")
	if _, err := os.Stat(filepath.Join(e.root, "m/b.txt")); !os.IsNotExist(err) {
		t.Fatal("moved source still there")
	}
	call, _ = e.c.Start(ctx10(t), "fs_move")
	_ = call.SendText("-src m/a.txt -dst target/a.txt")
	expect(t, call, wire.TypeText, "'target/a.txt' already exists, overwrite? (y/n): ")
	_ = call.SendText("n")
	expect(t, call, wire.TypeIdle, "")
	if string(e.read("m/a.txt")) != "new-a" || string(e.read("target/a.txt")) != "old-a" {
		t.Fatal("fs_move after n changed files")
	}
	e.ok("fs_move", "-src m -dst target -force")
	if string(e.read("target/a.txt")) != "new-a" {
		t.Fatal("fs_move -force did not replace")
	}
}

// TestFsCopyHaltResumeTerm: HALT_CMD pauses fs_copy between steps,
// RESUME_CMD completes it, TERM_CMD stops it before it is done.
func TestFsCopyHaltResumeTerm(t *testing.T) {
	e := newFS(t, false, nil)
	const n = 300
	e.bigTree("tree", n)
	copied := func(dir string) func() int {
		return func() int {
			m, _ := filepath.Glob(filepath.Join(e.root, dir, "*", "f"))
			return len(m)
		}
	}
	call, _ := e.c.Start(ctx10(t), "fs_copy")
	_ = call.SendText("-src tree -dst copy")
	_ = call.Send(wire.TypeHaltCmd, nil)
	e.halted(call, copied("copy"))
	if copied("copy")() == n {
		t.Fatal("fs_copy finished while halted")
	}
	_ = call.Send(wire.TypeResumeCmd, nil)
	rest(t, call)
	if c := copied("copy")(); c != n {
		t.Fatalf("after resume %d of %d files copied", c, n)
	}
	_ = call.Close()

	call, _ = e.c.Start(ctx10(t), "fs_copy")
	_ = call.SendText("-src tree -dst copy2")
	_ = call.Send(wire.TypeHaltCmd, nil)
	_ = call.Send(wire.TypeTermCmd, nil)
	rest(t, call)
	if copied("copy2")() == n {
		t.Fatal("fs_copy completed despite TERM")
	}
}

// TestFsUploadTerm: TERM_CMD in the middle of a streaming upload ends the
// call with one IDLE (the data frames still in flight are dropped, not
// taken for new calls) and leaves the bytes written so far.
func TestFsUploadTerm(t *testing.T) {
	e := newFS(t, false, nil)
	call := e.genfile("fs_upload", "-remote_file part.bin -len 100000000")
	expect(t, call, wire.TypeGenFile, "-to_host")
	expect(t, call, wire.TypeGenFile, "")
	data := randBytes(256 << 10)
	for range 8 {
		_ = call.Send(wire.TypeGenFile, data)
	}
	_ = call.Send(wire.TypeTermCmd, nil)
	frames := rest(t, call)
	var progress int
	for _, f := range frames {
		if f.Type != wire.TypeText || !strings.HasSuffix(wire.DecodeText(f.Payload), "/100000000\n") {
			t.Fatalf("unexpected frame after TERM: %s", describe([]wire.Frame{f}))
		}
		progress++
	}
	// The next round on the branch is a fresh call, not leftover data.
	e.ok("fs_cd", "")
	if poll(call) != nil {
		t.Fatal("frames after the IDLE of a terminated upload")
	}
	got := e.read("part.bin")
	if len(got) != progress*len(data) || len(got) > 8*len(data) {
		t.Fatalf("partial file has %d bytes after %d progress lines", len(got), progress)
	}
	for i := 0; i < len(got); i += len(data) {
		if !bytes.Equal(got[i:i+len(data)], data) {
			t.Fatalf("partial file differs at %d", i)
		}
	}
}

// TestFsTwoWriters: while one session uploads a file, a second upload of
// the same file from another session is refused; once the first is done
// the second may write.
func TestFsTwoWriters(t *testing.T) {
	e := newFS(t, false, nil)
	call := e.genfile("fs_upload", "-remote_file shared.bin -len 6 -single_step")
	expect(t, call, wire.TypeGenFile, "-to_host")
	expect(t, call, wire.TypeGenFile, "")
	_ = call.Send(wire.TypeGenFile, []byte("abc"))
	expect(t, call, wire.TypeText, "3/6\n")
	expect(t, call, wire.TypeGenFile, "")

	other := e.h.Login(t, "alice", testPassword)
	_, err := other.Upload(ctx10(t), "shared.bin", strings.NewReader("XYZXYZ"), 6, client.TransferOptions{Overwrite: true})
	if err == nil || !strings.Contains(err.Error(), "being written by another transfer") {
		t.Fatalf("second writer: %v", err)
	}
	_ = call.Send(wire.TypeGenFile, []byte("def"))
	expect(t, call, wire.TypeText, "6/6\n")
	expect(t, call, wire.TypeIdle, "")
	if got := e.read("shared.bin"); string(got) != "abcdef" {
		t.Fatalf("file %q", got)
	}
	if _, err := other.Upload(ctx10(t), "shared.bin", strings.NewReader("XYZXYZ"), 6, client.TransferOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.read("shared.bin"); string(got) != "XYZXYZ" {
		t.Fatalf("file %q", got)
	}
}

// TestFsDownloadWindow: a windowed download (single-step with several
// requests outstanding) delivers every size byte for byte and leaves no
// stray request behind (the next round on the session is clean).
func TestFsDownloadWindow(t *testing.T) {
	e := newFS(t, true, nil)
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 5*chunk + 3} {
		data := randBytes(n)
		e.write("w.bin", data)
		for _, window := range []int{1, 3, 16} {
			var buf bytes.Buffer
			got, err := e.c.Download(ctx10(t), "w.bin", &buf, client.TransferOptions{Window: window})
			if err != nil || got != int64(n) || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("size %d window %d: %d, %v", n, window, got, err)
			}
		}
	}
	if got := e.ok("fs_cd", ""); got != e.root+"\n" {
		t.Fatalf("after windowed downloads: %q", got)
	}
}

// TestFsQuotaConcurrent: a running upload's size counts against the quota
// of its home until it ends, so two transfers started together cannot
// exceed it; once it ends only the bytes on disk count.
func TestFsQuotaConcurrent(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	e := newFS(t, false, &store.FilesSettings{Root: root, Homes: true, Quota: 1000})
	e.root = filepath.Join(root, "alice")
	call := e.genfile("fs_upload", "-remote_file first.bin -len 600 -single_step")
	expect(t, call, wire.TypeGenFile, "-to_host")
	expect(t, call, wire.TypeGenFile, "")
	_ = call.Send(wire.TypeGenFile, randBytes(100))
	expect(t, call, wire.TypeText, "100/600\n")
	expect(t, call, wire.TypeGenFile, "")

	other := e.h.Login(t, "alice", testPassword)
	_, err := other.Upload(ctx10(t), "second.bin", bytes.NewReader(randBytes(500)), 500, client.TransferOptions{})
	if err == nil || !strings.Contains(err.Error(), "reserved by running transfers") {
		t.Fatalf("second upload during the first: %v", err)
	}
	_ = call.Send(wire.TypeGenFile, randBytes(500))
	expect(t, call, wire.TypeText, "600/600\n")
	expect(t, call, wire.TypeIdle, "")
	if _, err := other.Upload(ctx10(t), "second.bin", bytes.NewReader(randBytes(400)), 400, client.TransferOptions{}); err != nil {
		t.Fatalf("upload within the quota after the first ended: %v", err)
	}
}
