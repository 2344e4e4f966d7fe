package modsdk_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/modsdk"
)

// fakeHost is the host end of a module pipe.
type fakeHost struct {
	t    *testing.T
	conn net.Conn
	r    *wire.IPCReader
	done chan error
}

// startModule runs m with the given mode arguments against a fake host.
func startModule(t *testing.T, m *modsdk.Module, mode ...string) *fakeHost {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "p")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := &fakeHost{t: t, done: make(chan error, 1)}
	args := append([]string{"-pipe_name", sock, "-mem_ses", "/nonexistent", "-mem_host", "/nonexistent"}, mode...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { h.done <- m.Run(ctx, args) }()
	if ul, ok := ln.(*net.UnixListener); ok {
		_ = ul.SetDeadline(time.Now().Add(5 * time.Second))
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	h.conn, h.r = c, wire.NewIPCReader(c, 0)
	return h
}

func (h *fakeHost) send(t wire.TypeID, p []byte) {
	h.t.Helper()
	b, _ := wire.AppendIPCFrame(nil, t, p)
	if _, err := h.conn.Write(b); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) text(s string) { h.send(wire.TypeText, wire.EncodeText(s)) }

func (h *fakeHost) next() wire.IPCFrame {
	h.t.Helper()
	f, err := h.r.ReadFrame()
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

// untilIdle returns the frames before the next IDLE, skipping keep-alives.
func (h *fakeHost) untilIdle() []wire.IPCFrame {
	h.t.Helper()
	var out []wire.IPCFrame
	for {
		f := h.next()
		if f.Type == wire.TypeIdle {
			return out
		}
		if f.Type == wire.TypePrivIPC && len(f.Payload) == 2 && f.Payload[0] == byte(wire.AsyncKeepAlive) {
			continue
		}
		out = append(out, f)
	}
}

func (h *fakeHost) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-time.After(5 * time.Second):
		h.t.Fatal("module did not end")
		return nil
	}
}

func frameText(fs []wire.IPCFrame) string {
	var b strings.Builder
	for _, f := range fs {
		switch f.Type {
		case wire.TypeText, wire.TypePrivText:
			b.WriteString(wire.DecodeText(f.Payload))
		case wire.TypeErr:
			b.WriteString("ERR:" + wire.DecodeText(f.Payload))
		}
	}
	return b.String()
}

func testModule() *modsdk.Module {
	m := &modsdk.Module{Library: "sdk test 1.0", KeepAlive: -1}
	m.Add(
		&modsdk.Command{Name: "Greet", Summary: "greet", IO: "[-name (text)]/[text]", Long: "long text", Public: true, User: true,
			Run: func(_ context.Context, c *modsdk.Call) error { return c.Text("hi " + c.Param("-name")) }},
		&modsdk.Command{Name: "fail", Exempt: true, GenFile: true,
			Run: func(context.Context, *modsdk.Call) error { return errors.New("it broke") }},
		&modsdk.Command{Name: "panic", User: true,
			Run: func(context.Context, *modsdk.Call) error { panic("boom") }},
		&modsdk.Command{Name: "ask", User: true,
			Run: func(ctx context.Context, c *modsdk.Call) error {
				ok, err := c.Confirm(ctx, "sure? (y/n) ")
				if err != nil {
					return err
				}
				return c.Text(fmt.Sprint(ok))
			}},
		&modsdk.Command{Name: "block", User: true,
			Run: func(ctx context.Context, c *modsdk.Call) error {
				if err := c.Text("started"); err != nil {
					return err
				}
				<-ctx.Done()
				return ctx.Err()
			}},
		&modsdk.Command{Name: "halt", User: true,
			Run: func(ctx context.Context, c *modsdk.Call) error {
				for i := range 3 {
					if err := c.WaitResumed(ctx); err != nil {
						return err
					}
					if err := c.Text(fmt.Sprint(i)); err != nil {
						return err
					}
					time.Sleep(30 * time.Millisecond)
				}
				return nil
			}},
		&modsdk.Command{Name: "emit", User: true,
			Run: func(_ context.Context, c *modsdk.Call) error {
				return c.Emit(modsdk.TypePubIPCFeedback, modsdk.AsyncRWMyInfo, []byte{1, 2})
			}},
	)
	return m
}

func TestParseOptions(t *testing.T) {
	o, err := modsdk.ParseOptions([]string{"-pipe_name", "/p", "-mem_ses", "/s", "-mem_host", "/h", "-run_cmd", "Greet"})
	if err != nil || o.Pipe != "/p" || o.SessionData != "/s" || o.HostData != "/h" || o.Mode != modsdk.RunCommand || o.Command != "Greet" {
		t.Fatalf("%+v %v", o, err)
	}
	for _, args := range [][]string{nil, {"-public_cmds"}, {"-pipe_name", "/p"}, {"-pipe_name", "/p", "-run_cmd"}, {"-PIPE_NAME", "/p", "-user_cmds"}} {
		if _, err := modsdk.ParseOptions(args); !errors.Is(err, modsdk.ErrUsage) {
			t.Errorf("%q: %v", args, err)
		}
	}
}

func TestListing(t *testing.T) {
	for mode, want := range map[string][]string{"-public_cmds": {"Greet"}, "-exempt_cmds": {"fail"}, "-user_cmds": {"Greet", "panic", "ask", "block", "halt", "emit"}} {
		h := startModule(t, testModule(), mode)
		var got []string
		for range want {
			f := h.next()
			nc, err := wire.ParseNewCmd(f.Payload)
			if f.Type != wire.TypeNewCmd || err != nil {
				t.Fatalf("%s: frame %v %v", mode, f.Type, err)
			}
			if nc.Library != "sdk test 1.0" {
				t.Fatalf("library %q", nc.Library)
			}
			if nc.Name == "Greet" && (nc.Summary != "greet" || nc.IO != "[-name (text)]/[text]" || nc.Long != "long text" || nc.GenFile != 0) {
				t.Fatalf("greet %+v", nc)
			}
			if nc.Name == "fail" && nc.GenFile != 1 {
				t.Fatalf("fail genfile %d", nc.GenFile)
			}
			got = append(got, nc.Name)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: %v, want %v", mode, got, want)
		}
		h.send(wire.TypeHostVer, wire.EncodeHostVer(wire.Version))
		if f := h.next(); f.Type != wire.TypeIdle {
			t.Fatalf("after HOST_VER: %v", f.Type)
		}
		if err := h.wait(); err != nil {
			t.Fatal(err)
		}
	}
	h := startModule(t, testModule(), "-public_cmds")
	h.next()
	h.send(wire.TypeHostVer, wire.EncodeHostVer(wire.HostVersion{Major: 3}))
	if f := h.next(); f.Type != wire.TypeErr {
		t.Fatalf("unsupported host: %v", f.Type)
	}
	if err := h.wait(); !errors.Is(err, modsdk.ErrUnsupportedHost) {
		t.Fatal(err)
	}
}

func TestRunMode(t *testing.T) {
	h := startModule(t, testModule(), "-run_cmd", "greet")
	h.text("-name bob")
	if got := frameText(h.untilIdle()); got != "hi bob" {
		t.Fatalf("greet = %q", got)
	}
	h.text("-name eve")
	if got := frameText(h.untilIdle()); got != "hi eve" {
		t.Fatalf("second call = %q", got)
	}
	h.send(wire.TypeBytes, []byte{1}) // not accepted: IDLE only
	if got := h.untilIdle(); len(got) != 0 {
		t.Fatalf("bytes frame: %v", got)
	}
	h.send(wire.TypeKillCmd, nil)
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}

	h = startModule(t, testModule(), "-run_cmd", "fail")
	h.text("")
	if got := frameText(h.untilIdle()); got != "ERR:err: it broke\n" {
		t.Fatalf("fail = %q", got)
	}
	h = startModule(t, testModule(), "-run_cmd", "panic")
	h.text("")
	if got := frameText(h.untilIdle()); !strings.Contains(got, "ERR:err: internal error: boom") {
		t.Fatalf("panic = %q", got)
	}
	h.text("") // still serving
	h.untilIdle()

	h = startModule(t, testModule(), "-run_cmd", "ask")
	h.text("")
	if f := h.next(); wire.DecodeText(f.Payload) != "sure? (y/n) " {
		t.Fatalf("prompt %q", f.Payload)
	}
	h.text("maybe")
	h.next() // asked again
	h.text("Y")
	if got := frameText(h.untilIdle()); got != "true" {
		t.Fatalf("ask = %q", got)
	}

	h = startModule(t, testModule(), "-run_cmd", "emit")
	h.text("")
	fs := h.untilIdle()
	if len(fs) != 1 || fs[0].Type != wire.TypePubIPCFeedback || string(fs[0].Payload) != "\x12\x00\x01\x02" {
		t.Fatalf("emit frames %v", fs)
	}
}

func TestTermKillHalt(t *testing.T) {
	h := startModule(t, testModule(), "-run_cmd", "block")
	h.text("")
	h.next() // started
	h.send(wire.TypeTermCmd, nil)
	if got := h.untilIdle(); len(got) != 0 {
		t.Fatalf("TERM: %v", got)
	}
	h.text("")
	h.next()
	h.send(wire.TypeKillCmd, nil)
	if got := h.untilIdle(); len(got) != 0 {
		t.Fatalf("KILL: %v", got)
	}
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}

	h = startModule(t, testModule(), "-run_cmd", "halt")
	h.text("")
	h.next() // "0"
	h.send(wire.TypeHaltCmd, nil)
	time.Sleep(150 * time.Millisecond)
	_ = h.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var during []wire.IPCFrame
	for {
		f, err := h.r.ReadFrame()
		if err != nil {
			break
		}
		during = append(during, f)
	}
	if len(during) > 1 {
		t.Fatalf("frames while halted: %d", len(during))
	}
	h2 := startModule(t, testModule(), "-run_cmd", "halt")
	h2.text("")
	if got := frameText(h2.untilIdle()); got != "012" {
		t.Fatalf("unhalted = %q", got)
	}
}

func TestResumeAfterHalt(t *testing.T) {
	h := startModule(t, testModule(), "-run_cmd", "halt")
	h.text("")
	h.next()
	h.send(wire.TypeHaltCmd, nil)
	time.Sleep(100 * time.Millisecond)
	h.send(wire.TypeResumeCmd, nil)
	if got := frameText(h.untilIdle()); got != "12" && got != "2" {
		t.Fatalf("after resume = %q", got)
	}
}

func TestKeepAlive(t *testing.T) {
	m := testModule()
	m.KeepAlive = 20 * time.Millisecond
	h := startModule(t, m, "-run_cmd", "block")
	h.text("")
	h.next()
	n := 0
	for n < 3 {
		f := h.next()
		if f.Type != wire.TypePrivIPC || string(f.Payload) != "\x2a\x00" {
			t.Fatalf("frame %v %x", f.Type, f.Payload)
		}
		n++
	}
	h.send(wire.TypeTermCmd, nil)
	h.untilIdle()
}

func TestUnknownCommandAndSessionData(t *testing.T) {
	m := testModule()
	err := m.Run(context.Background(), []string{"-pipe_name", "/nonexistent", "-run_cmd", "nope"})
	if !errors.Is(err, modsdk.ErrUnknownCommand) {
		t.Fatal(err)
	}
	m.Add(&modsdk.Command{Name: "ses", User: true, Run: func(_ context.Context, c *modsdk.Call) error {
		_, err := c.Session()
		return err
	}})
	h := startModule(t, m, "-run_cmd", "ses")
	h.text("")
	if got := frameText(h.untilIdle()); !strings.Contains(got, "no session data") {
		t.Fatalf("session without data = %q", got)
	}
	if _, _, err := modsdk.ReadSessionFiles("/nonexistent", "/nonexistent"); !errors.Is(err, modsdk.ErrNoSessionData) {
		t.Fatal(err)
	}
}
