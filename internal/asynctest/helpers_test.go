package asynctest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/session"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

const (
	userPW  = "Pw-Test-1234"
	appName = "asynctest"
	// wait bounds every positive expectation; absence is proven with
	// barriers (see env.quiet), never with sleeps.
	wait = 10 * time.Second
)

// opts change how start configures the host.
type opts struct {
	trust  bool // TrustExtra: the test module may emit privileged asyncs
	plain  bool // loopback plaintext instead of ForceTLS (HOST_CERT + TLS)
	limits session.Limits
	// inactive turns the host-wide active-update flag off (before the host
	// starts: the host caches its settings), so only sub-channels with
	// their own flag make sessions active.
	inactive bool
	setup    func(st store.Store)
	wrap     func(store.Store) store.Store // wraps the host's store
}

// env is one running host with the test module, plus an anonymous
// "barrier" client used to prove that nothing else reached a client.
type env struct {
	t       *testing.T
	o       opts
	h       *hosttest.Host
	mod     *testModule
	barrier *peer
	// hosts are the nodes of a cluster (cluster_test.go), h alone
	// otherwise; dial spreads the clients over them in turn.
	hosts []*hosttest.Host
	dials int

	debugAfter int64
	marks      atomic.Int64
}

// start starts a host for one test. Every host ranks the test module's
// "ranked" command at 2.
func start(t *testing.T, o opts) *env {
	t.Helper()
	mod := newTestModule()
	// Peers emit through the test module without logging in, with
	// payloads above the 4 KiB logged-out limit.
	if o.limits == (session.Limits{}) {
		o.limits = session.DefaultLimits
	}
	o.limits.LoggedOutPayload = wire.MaxPayload
	ho := hosttest.Options{
		ForceTLS: !o.plain, Limits: o.limits, Modules: []module.Module{mod}, TrustExtra: o.trust, WrapStore: o.wrap,
		Setup: func(st store.Store) {
			if err := st.AddCommandRank(context.Background(), store.CommandRank{Module: modID, Command: "ranked", Rank: 2}); err != nil {
				t.Fatal(err)
			}
			if o.inactive {
				s, err := st.Settings(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				s.ActiveUpdates = false
				if err := st.SaveSettings(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			}
			if o.setup != nil {
				o.setup(st)
			}
		},
	}
	var hosts []*hosttest.Host
	if clustered(t) {
		hosts = hosttest.StartCluster(t, ho, hosttest.ClusterOptions{})
	} else {
		hosts = []*hosttest.Host{hosttest.StartWith(t, ho)}
	}
	e := &env{t: t, o: o, h: hosts[0], hosts: hosts, mod: mod}
	e.barrier = e.dial("barrier")
	return e
}

func ctxT(t testing.TB) context.Context { return hosttest.Ctx(t, wait) }

// user creates an account with the test password.
func (e *env) user(name string, rank uint32) store.User {
	e.t.Helper()
	return e.h.CreateUser(e.t, name, userPW, rank)
}

// peer is one client connection.
type peer struct {
	e     *env
	t     *testing.T
	name  string
	c     *client.Client
	calls map[string]*client.Call
}

func (e *env) clientOptions() client.Options { return clientOptionsFor(e.h) }

func clientOptionsFor(h *hosttest.Host) client.Options {
	return client.Options{PinnedCert: string(h.Cert.CertPEM), AppName: appName, AsyncBuffer: 1 << 14}
}

// dial connects an anonymous client and checks that the first frame it
// receives is ASYNC_RDY as seed/async.md says (TEXT "\nReady!\n\n").
// In a cluster the clients go to the nodes in turn.
func (e *env) dial(name string) *peer {
	e.t.Helper()
	h := e.hosts[e.dials%len(e.hosts)]
	e.dials++
	c, err := client.Dial(ctxT(e.t), h.Addr, clientOptionsFor(h))
	if err != nil {
		e.t.Fatalf("dial %s: %v", name, err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	if c.Encrypted() == e.o.plain {
		e.t.Fatalf("dial %s: encrypted = %v, want %v", name, c.Encrypted(), !e.o.plain)
	}
	p := &peer{e: e, t: e.t, name: name, c: c, calls: map[string]*client.Call{}}
	p.want(wire.TypeText, wire.AsyncRdy, wire.EncodeText("\nReady!\n\n"))
	return p
}

// login dials and logs in with the real auth command, then drains the
// login's frames (MY_INFO, ADD_CMD): they all precede auth's IDLE.
func (e *env) login(name string) *peer {
	e.t.Helper()
	pw := userPW
	if name == "root" {
		pw = hosttest.RootPassword
	}
	p := e.dial(name)
	if err := p.c.Login(ctxT(e.t), name, pw); err != nil {
		e.t.Fatalf("login %s: %v", name, err)
	}
	p.drain()
	return p
}

func (p *peer) sid() wire.SessionID { return p.c.SessionID() }

// call returns the peer's open call of a command (one per command).
func (p *peer) call(name string) *client.Call {
	p.t.Helper()
	if c := p.calls[name]; c != nil {
		return c
	}
	c, err := p.c.Start(ctxT(p.t), name)
	if err != nil {
		p.t.Fatalf("%s: start %s: %v", p.name, name, err)
	}
	p.calls[name] = c
	return c
}

// run runs a command round and fails the test on transport errors.
func (p *peer) run(name string, t wire.TypeID, payload []byte) *client.Result {
	p.t.Helper()
	res, err := p.call(name).Run(ctxT(p.t), t, payload, nil)
	if err != nil {
		p.t.Fatalf("%s: run %s: %v", p.name, name, err)
	}
	return res
}

// exec runs a (real) command with text arguments and returns its result.
func (p *peer) exec(name, args string) *client.Result {
	p.t.Helper()
	return p.run(name, wire.TypeText, wire.EncodeText(args))
}

// mustExec runs a command that must not report an error.
func (p *peer) mustExec(name, args string) *client.Result {
	p.t.Helper()
	res := p.exec(name, args)
	if err := res.Err(); err != nil {
		p.t.Fatalf("%s: %s %s: %v", p.name, name, args, err)
	}
	return res
}

// emit makes the test module emit one async with an IPC mode. Refusals are
// silent for the client (they only reach the debug log).
func (p *peer) emit(mode wire.TypeID, id wire.AsyncID, data []byte) {
	p.t.Helper()
	res := p.run("emit", wire.TypeBytes, emitPayload(mode, id, data))
	if err := res.Err(); err != nil {
		p.t.Fatalf("%s: emit: %v", p.name, err)
	}
	if len(res.Frames) != 1 {
		p.t.Fatalf("%s: emit answered %d frames, want only IDLE: %v", p.name, len(res.Frames), res.Frames)
	}
}

// snap returns the session's state as the test module sees it.
func (p *peer) snap() module.SessionInfo {
	p.t.Helper()
	res := p.run("snap", wire.TypeText, nil)
	var info module.SessionInfo
	if err := json.Unmarshal([]byte(res.Text()), &info); err != nil {
		p.t.Fatalf("%s: snap: %v (%q)", p.name, err, res.Text())
	}
	return info
}

func isCmdAsync(f wire.Frame) bool {
	return f.Cmd == uint16(wire.AsyncAddCmd) || f.Cmd == uint16(wire.AsyncRmCmd)
}

func fmtFrame(f wire.Frame) string {
	s := fmt.Sprintf("[%v cmd %d", f.Type, f.Cmd)
	if f.Cmd < wire.FirstCommandID {
		s += " " + wire.AsyncID(f.Cmd).String()
	}
	s += fmt.Sprintf(" branch %d, %d bytes", f.Branch, len(f.Payload))
	if f.Type == wire.TypeText || f.Type == wire.TypeErr {
		s += fmt.Sprintf(" %q", wire.DecodeText(f.Payload))
	}
	return s + "]"
}

// nextAsync returns the next async frame, skipping ASYNC_ADD_CMD and
// ASYNC_RM_CMD frames when skipCmds is set.
func (p *peer) nextAsync(skipCmds bool) wire.Frame {
	p.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-p.c.Async():
			if !ok {
				p.t.Fatalf("%s: connection ended while waiting for an async frame: %v", p.name, p.c.Err())
			}
			if skipCmds && isCmdAsync(f) {
				continue
			}
			return f
		case <-timer.C:
			p.t.Fatalf("%s: no async frame within %v", p.name, wait)
		}
	}
}

// want asserts the next async frame (ADD_CMD/RM_CMD are skipped unless
// id is one of them): type, command id = async id, branch 0, payload.
func (p *peer) want(t wire.TypeID, id wire.AsyncID, payload []byte) wire.Frame {
	p.t.Helper()
	f := p.nextAsync(id != wire.AsyncAddCmd && id != wire.AsyncRmCmd)
	if f.Type != t || f.Cmd != uint16(id) || f.Branch != 0 || !bytes.Equal(f.Payload, payload) {
		p.t.Fatalf("%s: got %s\n payload % x\nwant [%v cmd %d %v branch 0, %d bytes]\n payload % x",
			p.name, fmtFrame(f), f.Payload, t, id, id, len(payload), payload)
	}
	return f
}

// drain discards every async frame received so far.
func (p *peer) drain() []wire.Frame {
	var out []wire.Frame
	for {
		select {
		case f, ok := <-p.c.Async():
			if !ok {
				return out
			}
			out = append(out, f)
		default:
			return out
		}
	}
}

var barrierMark = []byte("asynctest barrier")

// settle runs the barrier of quiet for each peer in turn and returns, per
// peer, the async frames (other than command table updates) that arrived
// before the barrier. Peers are handled in order, so list a session before
// the sessions it relays to.
func (e *env) settle(peers ...*peer) [][]wire.Frame {
	e.t.Helper()
	b := e.barrier
	bs := b.sid()
	out := make([][]wire.Frame, len(peers))
	for i, p := range peers {
		e.flush()
		ps := p.sid()
		head := slices.Concat(ps[:], bs[:])
		b.emit(wire.TypePubIPC, wire.AsyncP2P, slices.Concat(head, []byte{byte(wire.TypeP2PRequest)}, barrierMark))
		b.emit(wire.TypePubIPC, wire.AsyncP2P, slices.Concat(head, []byte{byte(wire.TypeP2PClose)}))
		sawReq := false
		for {
			f := p.nextAsync(true)
			if !sawReq && f.Cmd == uint16(wire.AsyncP2P) && f.Type == wire.TypeP2PRequest && bytes.Equal(f.Payload, barrierMark) {
				sawReq = true
				continue
			}
			if sawReq && f.Cmd == uint16(wire.AsyncP2P) && f.Type == wire.TypeP2PClose && bytes.Equal(f.Payload, bs[:]) {
				break
			}
			out[i] = append(out[i], f)
		}
	}
	return out
}

// flush makes sure, in a cluster, that everything the nodes published so
// far has reached the sessions' mailboxes before the barrier is sent
// (which may be delivered locally, without NATS): every node flushes what
// it published, then every node takes in what NATS queued for it. A no-op
// on one host.
func (e *env) flush() {
	e.t.Helper()
	for _, h := range e.hosts {
		if err := h.ClusterFlush(ctxT(e.t)); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, h := range e.hosts {
		if err := h.ClusterSync(ctxT(e.t)); err != nil {
			e.t.Fatal(err)
		}
	}
}

// sessionsOf returns the sessions logged in as a user on every node.
func (e *env) sessionsOf(u wire.UserID) []wire.SessionID {
	var out []wire.SessionID
	for _, h := range e.hosts {
		out = append(out, h.Bus().SessionsOf(u)...)
	}
	return out
}

// quiet proves that the peers received no async frame (other than command
// table updates) since their last expectation: for each peer in turn the
// barrier client sends it a P2P_REQUEST and then a P2P_CLOSE (ASYNC_P2P,
// routed to that session's mailbox after everything the action put there);
// the peer's client must see exactly these two frames. Peers are checked in
// order, so list a session before the sessions it relays to.
func (e *env) quiet(peers ...*peer) {
	e.t.Helper()
	for i, fs := range e.settle(peers...) {
		if len(fs) > 0 {
			var s []string
			for _, f := range fs {
				s = append(s, fmtFrame(f))
			}
			e.t.Errorf("%s: unexpected async frames: %s", peers[i].name, strings.Join(s, " "))
		}
	}
}

// debugMark has p write a unique marker to the debug log (ASYNC_DEBUG_TEXT)
// and returns the entries written since the previous mark, before this
// one. Rows are written in order by one writer, so everything a session
// logged before it emitted the marker is included.
func (e *env) debugMark(p *peer) []string {
	e.t.Helper()
	mark := fmt.Sprintf("asynctest mark %d", e.marks.Add(1))
	p.emit(wire.TypePrivIPC, wire.AsyncDebugText, wire.EncodeText(mark))
	deadline := time.Now().Add(wait)
	for {
		rows, err := e.h.Store.ListView(context.Background(), store.ViewDebug, nil, store.Page{After: e.debugAfter})
		if err != nil {
			e.t.Fatal(err)
		}
		for i, r := range rows {
			if r.Cells[1] == mark {
				out := make([]string, 0, i)
				for _, r := range rows[:i] {
					out = append(out, r.Cells[1])
				}
				e.debugAfter = r.Key
				return out
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("debug marker %q never written", mark)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refusal is the start of the debug log entry of a refused async.
const refusal = "async from command emit refused: "

// wantRefused emits an async that must be refused: it is written to the
// debug log with a reason containing why, and nothing else is logged.
func (p *peer) wantRefused(mode wire.TypeID, id wire.AsyncID, data []byte, why string) {
	p.t.Helper()
	p.e.debugMark(p)
	p.emit(mode, id, data)
	rows := p.e.debugMark(p)
	if len(rows) != 1 || !strings.HasPrefix(rows[0], refusal) || !strings.Contains(rows[0], why) {
		p.t.Fatalf("%s: emitting %v with %v (%d bytes): debug log %q, want one refusal containing %q", p.name, id, mode, len(data), rows, why)
	}
}

// wantAccepted emits an async that must pass the host's checks (nothing is
// written to the debug log for it).
func (p *peer) wantAccepted(mode wire.TypeID, id wire.AsyncID, data []byte) {
	p.t.Helper()
	p.e.debugMark(p)
	p.emit(mode, id, data)
	if rows := p.e.debugMark(p); len(rows) != 0 {
		p.t.Fatalf("%s: emitting %v with %v: debug log %q, want nothing", p.name, id, mode, rows)
	}
}

// Refusal reasons (the bus's error texts).
const (
	whyAudience   = "no session acts on with this IPC mode"
	whyRestricted = "restricted async id"
	whyPrivileged = "reserved for the host's own commands"
	whyLength     = "wrong length"
	whyUnknown    = "undefined async id"
)

// myInfo is the MY_INFO payload p's session sends for account u.
func (p *peer) myInfo(u store.User) []byte {
	m := wire.MyInfo{Peer: p.peerInfo(u), Email: u.Email, Rank: u.Rank, EmailVerified: u.EmailVerified}
	return m.Marshal()
}

// peerInfo is p's PEER_INFO while logged in as u.
func (p *peer) peerInfo(u store.User) wire.PeerInfo {
	return wire.PeerInfo{SessionID: p.sid(), UserID: u.ID, UserName: u.Name, AppName: appName, DisplayName: u.DisplayName}
}

// account reloads an account from the store.
func (e *env) account(id wire.UserID) store.User {
	e.t.Helper()
	u, err := e.h.Store.UserByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// Channels.

// channel creates a channel owned by owner with the given accepted members
// (level 4) and pending invitees; call it before those users log in.
func (e *env) channel(name string, owner store.User, members []store.User, invited ...store.User) uint64 {
	e.t.Helper()
	ctx := context.Background()
	ch, err := e.h.Store.CreateChannel(ctx, name, owner.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range members {
		if err := e.h.Store.AddMember(ctx, store.Member{ChannelID: ch.ID, UserID: m.ID, Level: 4}); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, m := range invited {
		if err := e.h.Store.AddMember(ctx, store.Member{ChannelID: ch.ID, UserID: m.ID, Level: 4, Pending: true}); err != nil {
			e.t.Fatal(err)
		}
	}
	return ch.ID
}

// subChannel creates a sub-channel; active sets its active-update flag.
func (e *env) subChannel(ch uint64, name string, active bool) wire.SubChannel {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.h.Store.CreateSubChannel(ctx, ch, name, 50)
	if err != nil {
		e.t.Fatal(err)
	}
	if active {
		s.ActiveUpdates = true
		if err := e.h.Store.UpdateSubChannel(ctx, s); err != nil {
			e.t.Fatal(err)
		}
	}
	return wire.SubChannel{Channel: ch, Sub: s.ID}
}

func subBytes(s wire.SubChannel) []byte { return wire.AppendSubChannel(nil, s) }

// open opens sub-channels with ASYNC_OPEN_SUBCH (PRIV_IPC) and waits for
// them in the snapshot (the open is applied before the command's IDLE).
func (p *peer) open(subs ...wire.SubChannel) module.SessionInfo {
	p.t.Helper()
	for _, s := range subs {
		p.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s))
	}
	info := p.snap()
	for _, s := range subs {
		if !info.Open.Contains(s) {
			p.t.Fatalf("%s: %v not open after OPEN_SUBCH: %+v", p.name, s, info.Open)
		}
	}
	return info
}

func listOf(subs ...wire.SubChannel) wire.SubChannelList {
	var l wire.SubChannelList
	for _, s := range subs {
		l.Add(s)
	}
	return l
}

// castData builds a CAST / LIMITED_CAST payload.
func castData(l wire.SubChannelList, t wire.TypeID, payload []byte) []byte {
	return append(append(l.Append(nil), byte(t)), payload...)
}

func chBytes(ch uint64) []byte { return binary.LittleEndian.AppendUint64(nil, ch) }

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }
