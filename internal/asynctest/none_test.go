package asynctest

// The 'none' ids: 1 RDY, 2 SYS_MSG, 35 ADD_CMD, 36 RM_CMD. Only the host
// sends them; no session acts on them whatever the IPC mode, so a module
// emitting one is refused (and logged).

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/mrci/mrci/internal/wire"
)

var allModes = []wire.TypeID{wire.TypePrivIPC, wire.TypePubIPC, wire.TypePubIPCFeedback}

// refusedEverywhere checks that a 'none' id is refused in every mode and
// reaches nobody.
func refusedEverywhere(t *testing.T, e *env, id wire.AsyncID, data []byte, others ...*peer) {
	t.Helper()
	p := e.dial("emitter")
	for _, m := range allModes {
		p.wantRefused(m, id, data, whyAudience)
	}
	e.quiet(append([]*peer{p}, others...)...)
}

func TestAsync01Rdy(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	// Every dial (e.dial) asserts that the first frame is
	// [TEXT][cmd 1][branch 0]["\nReady!\n\n"]; after a login the session is
	// not "ready" again.
	bob := e.user("bob", 2)
	b := e.login(bob.Name)
	refusedEverywhere(t, e, wire.AsyncRdy, wire.EncodeText("\nReady!\n\n"), b)
}

func TestAsync02SysMsg(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})

	// HOST_CERT during set-up, checked on the raw bytes: after the 35-byte
	// host header (reply 2), [HOST_CERT][cmd 2][branch 0][PEM].
	conn, err := net.Dial("tcp", e.h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(wire.ClientHeader{AppName: appName, CommonName: "127.0.0.1"}.Marshal()); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(conn, 0)
	hb := make([]byte, wire.HostHeaderLen)
	if _, err := io.ReadFull(conn, hb); err != nil {
		t.Fatal(err)
	}
	if hh, _ := wire.ParseHostHeader(hb); hh.Reply != wire.ReplyTLS {
		t.Fatalf("reply %d, want %d (TLS)", hh.Reply, wire.ReplyTLS)
	}
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != wire.TypeHostCert || f.Cmd != uint16(wire.AsyncSysMsg) || f.Branch != 0 || string(f.Payload) != string(e.h.Cert.CertPEM) {
		t.Fatalf("set-up frame %s, want HOST_CERT on cmd 2 with the host's PEM", fmtFrame(f))
	}

	// MY_INFO after login: [MY_INFO][cmd 2][branch 0][439 bytes].
	bob := e.user("bob", 2)
	b := e.dial("bob")
	if string(b.c.HostCertPEM()) != string(e.h.Cert.CertPEM) {
		t.Fatal("client saw a different HOST_CERT")
	}
	if err := b.c.Login(ctxT(t), "bob", userPW); err != nil {
		t.Fatal(err)
	}
	b.want(wire.TypeMyInfo, wire.AsyncSysMsg, b.myInfo(bob))
	if len(b.myInfo(bob)) != wire.MyInfoLen {
		t.Fatalf("MY_INFO is %d bytes", len(b.myInfo(bob)))
	}
	e.quiet(b)

	refusedEverywhere(t, e, wire.AsyncSysMsg, wire.EncodeText("spoofed system message"), b)
}

func TestAsync35AddCmd(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	// A fresh session announces its public commands: one
	// [NEW_CMD][cmd 35][branch 0] frame per command, ids from 256.
	p, err := dialRaw(e)
	if err != nil {
		t.Fatal(err)
	}
	cmds := p.commands
	id, ok := cmds["emit"]
	if !ok || id < wire.FirstCommandID {
		t.Fatalf("emit announced as %d (%v)", id, ok)
	}
	want := e.mod.defOf("emit")
	if got := p.newCmd["emit"]; string(got) != string(want.NewCmd(id, "emit")) {
		t.Fatalf("NEW_CMD payload\n% x\nwant\n% x", got, want.NewCmd(id, "emit"))
	}
	if _, ok := cmds["ranked"]; ok {
		t.Fatal("user command announced to an anonymous session")
	}

	// A login adds the rank-allowed user commands (ranked is rank 2).
	bob := e.user("bob", 2)
	b := e.dial("bob")
	if err := b.c.Login(ctxT(t), "bob", userPW); err != nil {
		t.Fatal(err)
	}
	rid, ok := b.c.CommandID("ranked")
	if !ok {
		t.Fatal("ranked not announced after login")
	}
	var found bool
	for _, f := range b.drain() {
		if f.Cmd == uint16(wire.AsyncAddCmd) && f.Type == wire.TypeNewCmd && binary.LittleEndian.Uint16(f.Payload) == rid {
			found = true
			if d := e.mod.defOf("ranked"); string(f.Payload) != string(d.NewCmd(rid, "ranked")) {
				t.Fatalf("NEW_CMD of ranked: % x", f.Payload)
			}
		}
	}
	if !found {
		t.Fatal("no ASYNC_ADD_CMD frame for ranked")
	}
	_ = bob
	refusedEverywhere(t, e, wire.AsyncAddCmd, want.NewCmd(999, "fake"), b)
}

func TestAsync36RmCmd(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	e.user("bob", 2)
	b := e.login("bob")
	r := e.login("root")
	rid, ok := b.c.CommandID("ranked")
	if !ok {
		t.Fatal("bob lacks ranked")
	}
	// A rank change that disallows a loaded command unloads it:
	// [CMD_ID][cmd 36][branch 0][2-byte id].
	r.mustExec("set_user_rank", "-user bob -rank 3")
	b.nextAsync(true) // MY_INFO (checked in TestAsync09)
	b.want(wire.TypeCmdID, wire.AsyncRmCmd, wire.EncodeCmdID(rid))
	if _, ok := b.c.CommandID("ranked"); ok {
		t.Fatal("client still lists ranked")
	}
	if res := b.exec("my_info", ""); res.Err() != nil {
		t.Fatal(res.Err())
	}
	// Running the removed id now fails.
	res, err := b.c.StartID(rid)
	if err != nil {
		t.Fatal(err)
	}
	out, err := res.Run(context.Background(), wire.TypeText, nil, nil)
	if err != nil || out.Err() == nil {
		t.Fatalf("running the removed command id: %v %v", err, out)
	}
	refusedEverywhere(t, e, wire.AsyncRmCmd, wire.EncodeCmdID(rid), b, r)
}
