package cmds

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

func TestMemberLevel(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		m    store.Member
		err  error
		want uint8
		fail bool
	}{
		{"no row", store.Member{}, store.ErrNotFound, 5, false},
		{"pending", store.Member{Pending: true, Level: 4}, nil, 5, false},
		{"owner", store.Member{Level: 1}, nil, 1, false},
		{"admin", store.Member{Level: 2}, nil, 2, false},
		{"officer", store.Member{Level: 3}, nil, 3, false},
		{"regular", store.Member{Level: 4}, nil, 4, false},
		{"store error", store.Member{}, boom, 0, true},
	}
	for _, tt := range tests {
		got, err := memberLevel(tt.m, tt.err)
		if (err != nil) != tt.fail || got != tt.want {
			t.Errorf("%s: memberLevel = %d, %v; want %d (error %v)", tt.name, got, err, tt.want, tt.fail)
		}
	}
}

// TestRemoveDecision checks remove_ch_member's rules (host.md §6.2) for
// every caller level against every target state.
func TestRemoveDecision(t *testing.T) {
	denied := []string{msgAccessDenied}
	notMember := []string{msgNotMember, msgAccessDenied}
	for caller := uint8(1); caller <= 5; caller++ {
		for target := uint8(1); target <= 4; target++ {
			got := removeDecision(false, false, caller, true, false, target)
			if want := caller < target; (got == nil) != want {
				t.Errorf("caller %d, member target %d: got %q, allowed should be %v", caller, target, got, want)
			} else if got != nil && !slices.Equal(got, denied) {
				t.Errorf("caller %d, target %d: messages %q", caller, target, got)
			}
		}
		// pending invitation: officers and above may cancel it
		got := removeDecision(false, false, caller, true, true, 4)
		if want := caller <= 3; (got == nil) != want {
			t.Errorf("caller %d, pending target: got %q, allowed should be %v", caller, got, want)
		}
		// no membership at all
		if got := removeDecision(false, false, caller, false, false, 0); !slices.Equal(got, notMember) {
			t.Errorf("caller %d, non-member target: got %q", caller, got)
		}
	}
	// leaving
	for lvl := uint8(2); lvl <= 4; lvl++ {
		if got := removeDecision(true, false, lvl, true, false, lvl); got != nil {
			t.Errorf("member of level %d leaving: %q", lvl, got)
		}
	}
	if got := removeDecision(true, true, 1, true, false, 1); !slices.Equal(got, []string{msgOwnerCantLeave, msgAccessDenied}) {
		t.Errorf("owner leaving: %q", got)
	}
	if got := removeDecision(true, false, 5, true, true, 4); got != nil {
		t.Errorf("invitee removing own invitation: %q", got)
	}
	if got := removeDecision(true, false, 5, false, false, 0); !slices.Equal(got, notMember) {
		t.Errorf("non-member leaving: %q", got)
	}
}

func TestCanSetLevel(t *testing.T) {
	for caller := uint8(1); caller <= 5; caller++ {
		for target := uint8(1); target <= 5; target++ {
			for nl := uint8(1); nl <= 4; nl++ {
				want := nl >= caller && target > caller
				if got := canSetLevel(caller, target, nl); got != want {
					t.Errorf("canSetLevel(%d, %d, %d) = %v", caller, target, nl, got)
				}
			}
		}
	}
	// spelled-out consequences
	if canSetLevel(2, 2, 3) {
		t.Error("admins must not change other admins")
	}
	if canSetLevel(2, 3, 1) {
		t.Error("admins must not grant ownership")
	}
	if !canSetLevel(1, 4, 1) {
		t.Error("owners can transfer ownership")
	}
	if canSetLevel(5, 5, 4) {
		t.Error("non-members cannot set levels")
	}
}

func TestParsers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		max  uint8
		want uint8
		ok   bool
	}{
		{"1", 4, 1, true}, {"4", 4, 4, true}, {"5", 4, 0, false}, {"5", 5, 5, true},
		{"0", 5, 0, false}, {"6", 5, 0, false}, {"-1", 5, 0, false}, {"+1", 5, 0, false},
		{"x", 5, 0, false}, {"", 5, 0, false}, {"256", 5, 0, false}, {"04", 5, 4, true},
	} {
		got, ok := parseLevel(tt.in, tt.max)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseLevel(%q, %d) = %d, %v", tt.in, tt.max, got, ok)
		}
	}
	for _, tt := range []struct {
		in   string
		want uint8
		ok   bool
	}{{"0", 0, true}, {"255", 255, true}, {"256", 0, false}, {"-1", 0, false}, {"a", 0, false}, {"1.0", 0, false}} {
		got, ok := parseSubID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseSubID(%q) = %d, %v", tt.in, got, ok)
		}
	}
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{{"1", 1, true}, {"0", 0, false}, {"18446744073709551615", 18446744073709551615, true},
		{"18446744073709551616", 0, false}, {"x", 0, false}} {
		got, ok := parseChannelID(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseChannelID(%q) = %d, %v", tt.in, got, ok)
		}
	}
}

func TestPayloadBuilders(t *testing.T) {
	var uid wire.UserID
	for i := range uid {
		uid[i] = byte(i)
	}
	mp := memberPayload(0x0102030405060708, uid)
	if len(mp) != 40 || !bytes.Equal(mp[:8], []byte{8, 7, 6, 5, 4, 3, 2, 1}) || !bytes.Equal(mp[8:], uid[:]) {
		t.Errorf("memberPayload = % x", mp)
	}
	sp := subPayload(258, 7, 4, 0)
	if want := []byte{2, 1, 0, 0, 0, 0, 0, 0, 7, 4, 0}; !bytes.Equal(sp, want) {
		t.Errorf("subPayload = % x, want % x", sp, want)
	}
	var l wire.SubChannelList
	l.Add(wire.SubChannel{Channel: 3, Sub: 9})
	cp := castPayload(&l, wire.TypeBytes, []byte{0xAA, 0xBB})
	if len(cp) != 57 || cp[0] != 3 || cp[8] != 9 || cp[54] != byte(wire.TypeBytes) || !bytes.Equal(cp[55:], []byte{0xAA, 0xBB}) {
		t.Errorf("castPayload = % x", cp)
	}
	var a, b wire.SessionID
	a[0], b[0] = 0xA, 0xB
	pp := p2pPayload(a, b, wire.TypeP2POpen, b[:])
	if len(pp) != 85 || pp[0] != 0xA || pp[28] != 0xB || pp[56] != byte(wire.TypeP2POpen) || pp[57] != 0xB {
		t.Errorf("p2pPayload = % x", pp)
	}
}

func TestAnyData(t *testing.T) {
	if len(anyData) != 255-4 {
		t.Fatalf("anyData has %d types", len(anyData))
	}
	for _, ct := range []wire.TypeID{wire.TypeTermCmd, wire.TypeKillCmd, wire.TypeHaltCmd, wire.TypeResumeCmd} {
		if slices.Contains(anyData, ct) {
			t.Errorf("anyData contains control type %v", ct)
		}
	}
	for _, want := range []wire.TypeID{wire.TypeText, wire.TypeBytes, wire.TypeGenFile, 255} {
		if !slices.Contains(anyData, want) {
			t.Errorf("anyData lacks %v", want)
		}
	}
}

func TestFixedTable(t *testing.T) {
	got := fixedTable([]string{"channel_name", "sub_channel_name", "channel_id", "sub_channel_id", "read_only"},
		[][]string{{"a_rather_long_channel_name_here", "sub1", "1", "0", "1"}}, openTableMinWidth)
	want := "" +
		"channel_name                       sub_channel_name    channel_id        sub_channel_id    read_only         \n" +
		"-------                            -------             -------           -------           -------           \n" +
		"a_rather_long_channel_name_here    sub1                1                 0                 1                 \n"
	if got != want {
		t.Errorf("fixedTable:\n%q\nwant\n%q", got, want)
	}
	got = fixedTable([]string{"peer_id", "pending"}, nil, p2pTableMinWidth)
	if want := "peer_id    pending    \n-------    -------    \n"; got != want {
		t.Errorf("empty p2p table %q, want %q", got, want)
	}
}

func TestP2PRows(t *testing.T) {
	id := func(b byte) wire.SessionID { var s wire.SessionID; s[27] = b; return s }
	s := &module.SessionInfo{
		P2PAccepted:   []wire.SessionID{id(1)},
		P2PPendingIn:  []wire.SessionID{id(2)},
		P2PPendingOut: []wire.SessionID{id(3)},
	}
	rows := p2pRows(s)
	if len(rows) != 3 || rows[0][1] != "0" || rows[1][1] != "1" || rows[2][1] != "1" ||
		!strings.HasSuffix(rows[0][0], "01") || !strings.HasSuffix(rows[2][0], "03") || len(rows[0][0]) != 56 {
		t.Errorf("p2pRows = %q", rows)
	}
}

// TestCommandTable checks that every command of issue 4 is defined once,
// in the user listing only, with the token limits of commands.md.
func TestCommandTable(t *testing.T) {
	want := map[string]int{
		"add_ch": 2, "rm_ch": 2, "rename_ch": 4, "find_ch": 4, "ls_chs": 0, "invite_to_ch": 4,
		"accept_ch": 2, "decline_ch": 2, "remove_ch_member": 4, "ls_ch_members": 6, "set_member_level": 6,
		"ch_owner_override": 2, "add_sub_ch": 4, "rm_sub_ch": 4, "rename_sub_ch": 6, "ls_sub_chs": 2,
		"set_sub_ch_level": 6, "set_active_flag": 6, "add_rdonly_flag": 6, "rm_rdonly_flag": 6,
		"ls_rdonly_flags": 2, "open_sub_ch": 4, "close_sub_ch": 4, "ls_open_chs": 0, "cast": 0,
		"ping_peers": 0, "to_peer": 0, "p2p_request": 0, "p2p_open": 0, "p2p_close": 0, "ls_p2p": 0,
	}
	seen := map[string]bool{}
	for _, c := range channelCommands() {
		n := c.Def.Name
		limit, ok := want[n]
		if !ok {
			t.Errorf("unexpected command %s", n)
			continue
		}
		if seen[n] {
			t.Errorf("%s defined twice", n)
		}
		seen[n] = true
		if c.MaxArgs != limit {
			t.Errorf("%s: MaxArgs %d, want %d", n, c.MaxArgs, limit)
		}
		if c.In(module.Public, store.DefaultSettings()) || c.In(module.Exempt, store.DefaultSettings()) ||
			!c.In(module.User, store.DefaultSettings()) {
			t.Errorf("%s: not a user-only command", n)
		}
		if c.Def.Summary == "" || c.Def.IO == "" || c.Def.Long == "" {
			t.Errorf("%s: incomplete definition", n)
		}
		// Commands that only read the session snapshot and emit run in the
		// session loop; ch_owner_override must not (it posts to the loop).
		inline := map[string]bool{"cast": true, "ping_peers": true, "to_peer": true, "p2p_request": true,
			"p2p_open": true, "p2p_close": true, "ls_p2p": true}
		if c.Inline != inline[n] {
			t.Errorf("%s: Inline = %v", n, c.Inline)
		}
		switch n {
		case "p2p_request", "p2p_open", "p2p_close":
			if !slices.Equal(c.Accepts, []wire.TypeID{wire.TypeSessionID}) {
				t.Errorf("%s accepts %v", n, c.Accepts)
			}
		case "cast", "to_peer":
			if len(c.Accepts) != len(anyData) {
				t.Errorf("%s accepts %d types", n, len(c.Accepts))
			}
		default:
			if c.Accepts != nil {
				t.Errorf("%s accepts %v", n, c.Accepts)
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d commands defined, want %d", len(seen), len(want))
	}
}

type fakeSession struct{ info *module.SessionInfo }

func (f fakeSession) Snapshot() *module.SessionInfo { return f.info }

type emitted struct {
	mode wire.TypeID
	id   wire.AsyncID
	data []byte
}

type fakeSink struct {
	frames []wire.Frame
	asyncs []emitted
}

func (k *fakeSink) Frame(t wire.TypeID, p []byte) {
	k.frames = append(k.frames, wire.Frame{Type: t, Payload: p})
}
func (k *fakeSink) Async(mode wire.TypeID, id wire.AsyncID, data []byte) {
	k.asyncs = append(k.asyncs, emitted{mode, id, data})
}
func (k *fakeSink) Exited(error) {}

func (k *fakeSink) errs() []string {
	var out []string
	for _, f := range k.frames {
		if f.Type == wire.TypeErr {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(wire.DecodeText(f.Payload), "err: "), "\n"))
		}
	}
	return out
}

// runInline runs one inline command against a session snapshot.
func runInline(t *testing.T, info *module.SessionInfo, name string, typ wire.TypeID, payload []byte) *fakeSink {
	t.Helper()
	m := module.NewInProcess(store.InternalModule, channelCommands())
	k := &fakeSink{}
	if !m.RunInline(t.Context(), name, module.Env{Session: fakeSession{info}}, k, typ, payload) {
		t.Fatalf("%s is not inline", name)
	}
	if n := len(k.frames); n == 0 || k.frames[n-1].Type != wire.TypeIdle {
		t.Fatalf("%s did not end with IDLE", name)
	}
	return k
}

func sid(b ...byte) wire.SessionID {
	var s wire.SessionID
	copy(s[:], b)
	return s
}

// TestP2PCommandChecks covers the P2P commands' checks against session
// snapshots, including the 100-entry capacities no e2e test reaches.
func TestP2PCommandChecks(t *testing.T) {
	me, peer := sid(1), sid(2)
	many := func() []wire.SessionID {
		out := make([]wire.SessionID, maxP2PPeers)
		for i := range out {
			out[i] = sid(9, byte(i))
		}
		return out
	}
	tests := []struct {
		name string
		info module.SessionInfo
		cmd  string
		typ  wire.TypeID
		data []byte
		err  string
		emit []byte
	}{
		{"request", module.SessionInfo{}, "p2p_request", wire.TypeSessionID, peer[:], "", nil},
		{"request short", module.SessionInfo{}, "p2p_request", wire.TypeSessionID, peer[:27], "session id must be 28 bytes", nil},
		{"request long", module.SessionInfo{}, "p2p_request", wire.TypeSessionID, append(peer[:], 0), "session id must be 28 bytes", nil},
		{"request self", module.SessionInfo{}, "p2p_request", wire.TypeSessionID, me[:], "cannot open a P2P link with your own session", nil},
		{"request accepted", module.SessionInfo{P2PAccepted: []wire.SessionID{peer}}, "p2p_request", wire.TypeSessionID, peer[:], "already connected to that peer", nil},
		{"request pending out", module.SessionInfo{P2PPendingOut: []wire.SessionID{peer}}, "p2p_request", wire.TypeSessionID, peer[:], "a request with that peer is already pending", nil},
		{"request pending in", module.SessionInfo{P2PPendingIn: []wire.SessionID{peer}}, "p2p_request", wire.TypeSessionID, peer[:], "a request with that peer is already pending", nil},
		{"request full", module.SessionInfo{P2PPendingOut: many()}, "p2p_request", wire.TypeSessionID, peer[:], "you have 100 unanswered requests; close some first (p2p_close)", nil},
		{"open", module.SessionInfo{P2PPendingIn: []wire.SessionID{peer}}, "p2p_open", wire.TypeSessionID, peer[:], "", me[:]},
		{"open none", module.SessionInfo{P2PPendingOut: []wire.SessionID{peer}}, "p2p_open", wire.TypeSessionID, peer[:], "no pending request from that peer", nil},
		{"open accepted", module.SessionInfo{P2PAccepted: []wire.SessionID{peer}}, "p2p_open", wire.TypeSessionID, peer[:], "already connected", nil},
		{"open full", module.SessionInfo{P2PPendingIn: []wire.SessionID{peer}, P2PAccepted: many()}, "p2p_open", wire.TypeSessionID, peer[:], "you have 100 open P2P links; close one first (p2p_close)", nil},
		{"close accepted", module.SessionInfo{P2PAccepted: []wire.SessionID{peer}}, "p2p_close", wire.TypeSessionID, peer[:], "", me[:]},
		{"close in", module.SessionInfo{P2PPendingIn: []wire.SessionID{peer}}, "p2p_close", wire.TypeSessionID, peer[:], "", me[:]},
		{"close out", module.SessionInfo{P2PPendingOut: []wire.SessionID{peer}}, "p2p_close", wire.TypeSessionID, peer[:], "", me[:]},
		{"close none", module.SessionInfo{}, "p2p_close", wire.TypeSessionID, peer[:], "no pending request or connection with that peer", nil},
		{"to_peer", module.SessionInfo{P2PAccepted: []wire.SessionID{peer}}, "to_peer", wire.TypeBytes, append(peer[:], 1, 2), "", []byte{1, 2}},
		{"to_peer short", module.SessionInfo{P2PAccepted: []wire.SessionID{peer}}, "to_peer", wire.TypeBytes, peer[:27], "payload lacks the session id header", nil},
		{"to_peer pending", module.SessionInfo{P2PPendingOut: []wire.SessionID{peer}}, "to_peer", wire.TypeBytes, peer[:], "no open P2P connection with that peer", nil},
		{"to_peer open type", module.SessionInfo{P2PAccepted: []wire.SessionID{peer}}, "to_peer", wire.TypeP2POpen, peer[:],
			"P2P_OPEN frames cannot be sent with to_peer; use p2p_request, p2p_open or p2p_close", nil},
	}
	for _, tt := range tests {
		info := tt.info
		info.SessionID, info.LoggedIn, info.UserName = me, true, "me"
		k := runInline(t, &info, tt.cmd, tt.typ, tt.data)
		if tt.err != "" {
			if got := k.errs(); !slices.Equal(got, []string{tt.err}) || len(k.asyncs) != 0 {
				t.Errorf("%s: errors %q, asyncs %d", tt.name, got, len(k.asyncs))
			}
			continue
		}
		if len(k.errs()) != 0 || len(k.asyncs) != 1 {
			t.Errorf("%s: errors %q, asyncs %d", tt.name, k.errs(), len(k.asyncs))
			continue
		}
		a := k.asyncs[0]
		if a.mode != wire.TypePubIPCFeedback || a.id != wire.AsyncP2P || !bytes.Equal(a.data[:28], peer[:]) || !bytes.Equal(a.data[28:56], me[:]) {
			t.Errorf("%s: emitted %v %v % x", tt.name, a.mode, a.id, a.data)
			continue
		}
		want := tt.emit
		if tt.cmd == "p2p_request" {
			p := info.PeerInfo()
			want = p.Marshal()
		}
		wantType := map[string]wire.TypeID{"p2p_request": wire.TypeP2PRequest, "p2p_open": wire.TypeP2POpen,
			"p2p_close": wire.TypeP2PClose, "to_peer": tt.typ}[tt.cmd]
		if wire.TypeID(a.data[56]) != wantType || !bytes.Equal(a.data[57:], want) {
			t.Errorf("%s: emitted type %v data % x", tt.name, wire.TypeID(a.data[56]), a.data[57:])
		}
	}
	// TEXT frames do not start the SESSION_ID commands.
	k := runInline(t, &module.SessionInfo{SessionID: me}, "p2p_request", wire.TypeText, wire.EncodeText("x"))
	if len(k.frames) != 1 || len(k.asyncs) != 0 {
		t.Errorf("p2p_request with TEXT: %d frames, %d asyncs", len(k.frames), len(k.asyncs))
	}
}

func TestCastAndPingChecks(t *testing.T) {
	var open, writable wire.SubChannelList
	open.Add(wire.SubChannel{Channel: 5, Sub: 1})
	open.Add(wire.SubChannel{Channel: 6, Sub: 2})
	writable.Add(wire.SubChannel{Channel: 6, Sub: 2})

	k := runInline(t, &module.SessionInfo{}, "cast", wire.TypeText, wire.EncodeText("x"))
	if got := k.errs(); len(got) != 1 || !strings.HasPrefix(got[0], "no sub-channel is open") {
		t.Errorf("cast with nothing open: %q", got)
	}
	k = runInline(t, &module.SessionInfo{Open: writable}, "cast", wire.TypeText, wire.EncodeText("x"))
	if got := k.errs(); len(got) != 1 || !strings.HasPrefix(got[0], "every open sub-channel is read-only") {
		t.Errorf("cast with read-only only: %q", got)
	}
	k = runInline(t, &module.SessionInfo{Open: open, Writable: writable}, "cast", wire.TypeID(77), []byte{9, 8})
	if len(k.errs()) != 0 || len(k.asyncs) != 1 {
		t.Fatalf("cast: errors %q, %d asyncs", k.errs(), len(k.asyncs))
	}
	if a := k.asyncs[0]; a.mode != wire.TypePubIPC || a.id != wire.AsyncCast ||
		!bytes.Equal(a.data, append(append(writable.Marshal(), 77), 9, 8)) {
		t.Errorf("cast emitted %v %v % x", a.mode, a.id, a.data)
	}
	if len(k.frames) != 1 {
		t.Errorf("cast answered %d frames, want only IDLE", len(k.frames))
	}

	k = runInline(t, &module.SessionInfo{Open: open}, "ping_peers", wire.TypeText, nil)
	if got := k.errs(); !slices.Equal(got, []string{"no active-update sub-channel is open, peers could not answer"}) {
		t.Errorf("ping_peers inactive: %q", got)
	}
	k = runInline(t, &module.SessionInfo{Open: open, Active: true}, "ping_peers", wire.TypeText, nil)
	if len(k.asyncs) != 1 || k.asyncs[0].mode != wire.TypePrivIPC || k.asyncs[0].id != wire.AsyncPingPeers || len(k.asyncs[0].data) != 0 {
		t.Errorf("ping_peers emitted %+v", k.asyncs)
	}

	var a, b wire.SessionID
	a[0], b[0] = 1, 2
	k = runInline(t, &module.SessionInfo{P2PAccepted: []wire.SessionID{a}, P2PPendingIn: []wire.SessionID{b}}, "ls_p2p", wire.TypeText, nil)
	want := "\n" + fixedTable([]string{"peer_id", "pending"}, [][]string{{a.String(), "0"}, {b.String(), "1"}}, 7)
	if len(k.frames) != 2 || wire.DecodeText(k.frames[0].Payload) != want {
		t.Errorf("ls_p2p printed %q", wire.DecodeText(k.frames[0].Payload))
	}
}
