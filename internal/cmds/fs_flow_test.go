package cmds_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/session"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// pausableProxy forwards one TCP connection; while paused it does not read
// from the host, as a client that stopped reading.
type pausableProxy struct {
	addr   string
	mu     sync.Mutex
	resume chan struct{} // closed while running
}

func startProxy(t *testing.T, target string) *pausableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pausableProxy{addr: ln.Addr().String(), resume: make(chan struct{})}
	close(p.resume)
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		p.unpause()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		h, err := net.Dial("tcp", target)
		if err != nil {
			_ = c.Close()
			return
		}
		mu.Lock()
		conns = append(conns, c, h)
		mu.Unlock()
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = io.Copy(h, c); _ = h.Close() }()
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 32<<10)
			for {
				p.mu.Lock()
				running := p.resume
				p.mu.Unlock()
				<-running
				n, err := h.Read(buf)
				if n > 0 {
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}()
	return p
}

func (p *pausableProxy) pause() {
	p.mu.Lock()
	p.resume = make(chan struct{})
	p.mu.Unlock()
}

func (p *pausableProxy) unpause() {
	p.mu.Lock()
	select {
	case <-p.resume:
	default:
		close(p.resume)
	}
	p.mu.Unlock()
}

// sparse creates a file of n zero bytes that takes no disk space.
func sparse(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(n); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
}

// TestFsDownloadFlowControl: with an outbound queue limit far below the
// file size, a streaming download to a client that reads completes (the
// host waits for the socket instead of queueing the file); a client that
// stops reading mid-download is ended by the write timeout, with the
// download never having queued the file.
func TestFsDownloadFlowControl(t *testing.T) {
	lim := session.DefaultLimits
	lim.QueueSoft = 4 << 20
	lim.QueueHard = 4 << 20
	lim.WriteTimeout = time.Second
	h := hosttest.StartWith(t, hosttest.Options{Limits: lim})
	const size = 24 << 20
	sparse(t, filepath.Join(h.DataDir, "files", "big.bin"), size)
	c := h.Root(t)
	n, err := c.Download(hosttest.Ctx(t, 60*time.Second), "big.bin", io.Discard, client.TransferOptions{})
	if err != nil || n != size {
		t.Fatalf("download with a 4 MiB queue limit: %d, %v", n, err)
	}

	p := startProxy(t, h.Addr)
	ctx := hosttest.Ctx(t, 60*time.Second)
	pc, err := client.Dial(ctx, p.addr, client.Options{PinnedCert: string(h.Cert.CertPEM)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.Login(ctx, "root", hosttest.RootPassword); err != nil {
		t.Fatal(err)
	}
	before := h.SessionCount()
	done := make(chan error, 1)
	var got int64
	go func() {
		var err error
		var once sync.Once
		// Stop reading once the data flows (the reply and the first chunk
		// have arrived).
		got, err = pc.Download(ctx, "big.bin", io.Discard, client.TransferOptions{
			Progress: func(int64, int64) { once.Do(p.pause) }})
		done <- err
	}()
	// The host ends the session once a write has been blocked for the
	// write timeout (polling is only a safety net).
	waitFor(t, func() bool { return h.SessionCount() < before })
	p.unpause()
	if err := <-done; err == nil || !errors.Is(err, client.ErrConnectionLost) {
		t.Fatalf("download to a client that stopped reading: %d bytes, %v", got, err)
	}
	if got >= size {
		t.Fatalf("the whole file reached a client that stopped reading")
	}
}

// TestFsOtherBranchesDuringDownload: while a download of the session is
// in progress (its consumer blocked), the same session's other commands
// and casts are served.
func TestFsOtherBranchesDuringDownload(t *testing.T) {
	e := newFS(t, false, nil)
	sparse(t, filepath.Join(e.root, "big.bin"), 8<<20)
	blocked := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	w := writerFunc(func(b []byte) (int, error) {
		once.Do(func() { close(blocked); <-release })
		return len(b), nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := e.c.Download(hosttest.Ctx(t, 60*time.Second), "big.bin", w, client.TransferOptions{})
		done <- err
	}()
	<-blocked
	for range 20 {
		e.ok("fs_cd", "")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestFsUnconfined: with confinement off, paths reach the host's file
// system as in the original.
func TestFsUnconfined(t *testing.T) {
	e := newFS(t, false, &store.FilesSettings{Unconfined: true})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := e.ok("fs_list", "-path "+dir); got != "x.txt\n" {
		t.Fatalf("fs_list: %q", got)
	}
}

// TestFsMoveAcrossDevices: a move between devices copies; with the answers
// n and y-all the skipped file stays in the source (its directory too),
// the others move. Needs /dev/shm on another device than the test's
// temporary directory (unconfined host, so host paths can name both).
func TestFsMoveAcrossDevices(t *testing.T) {
	src := t.TempDir()
	shm, err := os.MkdirTemp("/dev/shm", "mrci-fs-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(shm) })
	var a, b syscall.Stat_t
	if syscall.Stat(src, &a) != nil || syscall.Stat(shm, &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the same device as the temporary directory")
	}
	e := newFS(t, false, &store.FilesSettings{Unconfined: true})
	for name, data := range map[string]string{"d/a.txt": "new-a", "d/b.txt": "new-b", "d/c.txt": "new-c"} {
		p := filepath.Join(src, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(shm, "d")
	_ = os.MkdirAll(dst, 0o755)
	for _, n := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(dst, n), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	call, _ := e.c.Start(ctx10(t), "fs_move")
	_ = call.SendText("-src " + filepath.Join(src, "d") + " -dst " + dst)
	expect(t, call, wire.TypeText, "'"+dst+"' already exists, overwrite? (y/n): ")
	_ = call.SendText("y")
	answers := []string{"n", "y-all"}
	for {
		f := next(t, call)
		if f.Type == wire.TypeIdle {
			break
		}
		if strings.HasSuffix(wire.DecodeText(f.Payload), "(y/n/y-all/n-all): ") {
			if len(answers) == 0 {
				t.Fatalf("extra question %q", wire.DecodeText(f.Payload))
			}
			_ = call.SendText(answers[0])
			answers = answers[1:]
		}
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	if read(filepath.Join(dst, "a.txt")) != "old" || read(filepath.Join(src, "d/a.txt")) != "new-a" {
		t.Fatal("the skipped file was moved or deleted")
	}
	if read(filepath.Join(dst, "b.txt")) != "new-b" || read(filepath.Join(dst, "c.txt")) != "new-c" {
		t.Fatal("files not moved")
	}
	for _, n := range []string{"b.txt", "c.txt"} {
		if _, err := os.Stat(filepath.Join(src, "d", n)); !os.IsNotExist(err) {
			t.Fatalf("moved source %s still there", n)
		}
	}
}

// TestFsDownloadHaltResume: HALT_CMD pauses a streaming download between
// chunks, RESUME_CMD finishes it.
func TestFsDownloadHaltResume(t *testing.T) {
	e := newFS(t, false, nil)
	const size = 8 << 20
	sparse(t, filepath.Join(e.root, "big.bin"), size)
	call := e.genfile("fs_download", "-remote_file big.bin")
	expect(t, call, wire.TypeGenFile, fmt.Sprintf("-from_host -len %d", size))
	_ = call.Send(wire.TypeHaltCmd, nil)
	_ = call.Send(wire.TypeGenFile, nil) // ready
	var got int
	count := func(fs []wire.Frame) {
		for _, f := range fs {
			if f.Type == wire.TypeGenFile {
				got += len(f.Payload)
			}
		}
	}
	count(e.halted(call, func() int { count(poll(call)); return got }))
	if got >= size {
		t.Fatal("the whole file arrived while halted")
	}
	_ = call.Send(wire.TypeResumeCmd, nil)
	count(rest(t, call))
	if got != size {
		t.Fatalf("received %d of %d bytes after RESUME", got, size)
	}
}

// TestFsUploadLargerThanInputBudgets: an upload far larger than the
// session's input budgets streams through: its GEN_FILE data holds the
// transit budget until fs_upload has written it (the session stops reading
// meanwhile) instead of overflowing the command's input queue.
func TestFsUploadLargerThanInputBudgets(t *testing.T) {
	lim := session.DefaultLimits
	lim.InputTransit, lim.InputQueued = 256<<10, 256<<10
	h := hosttest.StartWith(t, hosttest.Options{Limits: lim})
	h.CreateUser(t, "alice", testPassword, 1)
	c := h.Login(t, "alice", testPassword)
	data := randBytes(4 << 20)
	n, err := c.Upload(hosttest.Ctx(t, 60*time.Second), "big.bin", bytes.NewReader(data), int64(len(data)),
		client.TransferOptions{ChunkSize: 64 << 10})
	if err != nil || n != int64(len(data)) {
		t.Fatalf("upload: %d bytes, %v", n, err)
	}
	got, err := os.ReadFile(filepath.Join(h.DataDir, "files", "big.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("host file differs (%d bytes, %v)", len(got), err)
	}
}
