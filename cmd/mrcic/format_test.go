package main

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/wire"
)

// TestFormatAsync renders every async frame a client can receive, in the
// order a session would see them, so names learnt from earlier events are
// used by later ones.
func TestFormatAsync(t *testing.T) {
	alice := wire.PeerInfo{UserName: "alice", AppName: "mrcic 0.1.0"}
	alice.UserID[0], alice.SessionID[0] = 1, 0xaa
	bob := wire.PeerInfo{UserName: "bob", DisplayName: "Bob B", AppName: "Cmdr"}
	bob.UserID[0], bob.SessionID[0] = 2, 0xbb
	mi := wire.MyInfo{Peer: alice, Rank: 2}
	renamed := mi
	renamed.Peer.DisplayName, renamed.Rank = "Alice A", 3
	const ch = 7
	member := func(u wire.PeerInfo, pending bool, level uint8) []byte {
		m := wire.ChMemberInfo{ChannelID: ch, UserID: u.UserID, Pending: pending, Level: level, UserName: u.UserName, ChannelName: "team"}
		return m.Marshal()
	}
	sub := func(extra ...byte) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, ch), append([]byte{3}, extra...)...)
	}
	userEv := func(u wire.PeerInfo, extra ...byte) []byte {
		return append(append(binary.LittleEndian.AppendUint64(nil, ch), u.UserID[:]...), extra...)
	}
	var open wire.SubChannelList
	open[0] = wire.SubChannel{Channel: ch, Sub: 3}
	stat := wire.PeerStat{SessionID: bob.SessionID, Open: open}
	gone := wire.PeerStat{SessionID: bob.SessionID, Disconnected: true}
	p2p := func(t wire.TypeID, payload []byte) wire.Frame {
		return wire.Frame{Type: t, Cmd: uint16(wire.AsyncP2P), Payload: append(bob.SessionID[:], payload...)}
	}
	frame := func(id wire.AsyncID, t wire.TypeID, p []byte) wire.Frame {
		return wire.Frame{Type: t, Cmd: uint16(id), Payload: p}
	}
	n := newNames()
	for _, tc := range []struct {
		f    wire.Frame
		want string
		kind lineKind
	}{
		{frame(wire.AsyncRdy, wire.TypeText, wire.EncodeText("\nReady!\n\n")), "", kindHidden},
		{frame(wire.AsyncAddCmd, wire.TypeNewCmd, nil), "", kindHidden},
		{frame(wire.AsyncSysMsg, wire.TypeText, wire.EncodeText("\nThe host is shutting down.\n")), "* The host is shutting down.", kindInfo},
		{frame(wire.AsyncSysMsg, wire.TypeErr, wire.EncodeText("err: x\n")), "! err: x", kindError},
		{frame(wire.AsyncSysMsg, wire.TypeMyInfo, mi.Marshal()), "* you are alice, rank 2", kindInfo},
		{frame(wire.AsyncSysMsg, wire.TypeMyInfo, mi.Marshal()), "", kindHidden},
		{frame(wire.AsyncSysMsg, wire.TypeMyInfo, renamed.Marshal()), `* your account changed: display name "" → "Alice A", rank 2 → 3`, kindInfo},
		{frame(wire.AsyncNewChMember, wire.TypeChMemberInfo, member(alice, false, 1)), "* channel #team created, owner alice", kindInfo},
		{frame(wire.AsyncInvitedToCh, wire.TypeChMemberInfo, member(bob, true, 4)), "* bob was invited to #team", kindInfo},
		{frame(wire.AsyncInviteAccepted, wire.TypeChMemberInfo, member(bob, false, 4)), "* bob joined #team", kindInfo},
		{frame(wire.AsyncNewSubCh, wire.TypeBytes, append(sub(5, 0), wire.AppendNullTerm(nil, "general")...)), "* sub-channel #team/general created", kindInfo},
		{frame(wire.AsyncRenameSubCh, wire.TypeBytes, append(sub(), wire.AppendNullTerm(nil, "lobby")...)), "* sub-channel #team/general renamed to lobby", kindInfo},
		{frame(wire.AsyncSubChLevelChg, wire.TypeBytes, sub(4)), "* sub-channel #team/lobby is now open to member and better", kindInfo},
		{frame(wire.AsyncAddRdonly, wire.TypeBytes, sub(4)), "* sub-channel #team/lobby is read-only for member", kindInfo},
		{frame(wire.AsyncRmRdonly, wire.TypeBytes, sub(4)), "* sub-channel #team/lobby is writable again for member", kindInfo},
		{frame(wire.AsyncLimitedCast, wire.TypePeerInfo, bob.Marshal()), "* bob (Bob B) is here (Cmdr, session bb000000)", kindInfo},
		{frame(wire.AsyncLimitedCast, wire.TypePeerStat, stat.Marshal()), "* bob joined (#team/lobby)", kindInfo},
		{frame(wire.AsyncCast, wire.TypeText, wire.EncodeText("hi all\n")), "<cast> hi all", kindChat},
		{frame(wire.AsyncCast, wire.TypeBigText, wire.EncodeText("big")), "<cast> big", kindChat},
		{frame(wire.AsyncCast, wire.TypeBytes, []byte{1, 2, 0xff}), "<cast> BYTES, 3 bytes 0102ff", kindChat},
		{frame(wire.AsyncCast, wire.TypeGenFile, make([]byte, 40)), "<cast> GEN_FILE, 40 bytes 00000000000000000000000000000000…", kindChat},
		{frame(wire.AsyncToPeer, wire.TypePeerInfo, bob.Marshal()), "* bob (Bob B) is here (Cmdr, session bb000000)", kindInfo},
		{frame(wire.AsyncP2P, wire.TypeP2PRequest, bob.Marshal()), "* bob (Bob B) asks for a p2p link (session " + bob.SessionID.String() + "; accept with: p2p_open -id " + bob.SessionID.String() + ")", kindInfo},
		{p2p(wire.TypeP2POpen, nil), "* p2p link with bob is open", kindInfo},
		{p2p(wire.TypeText, wire.EncodeText("psst")), "<p2p bob> psst", kindChat},
		{p2p(wire.TypeP2PClose, nil), "* p2p link with bob closed", kindInfo},
		{frame(wire.AsyncMemLevelChanged, wire.TypeBytes, userEv(bob, 3)), "* bob is now officer of #team", kindInfo},
		{frame(wire.AsyncRmChMember, wire.TypeBytes, userEv(bob)), "* bob left #team", kindInfo},
		{frame(wire.AsyncLimitedCast, wire.TypePeerStat, gone.Marshal()), "* bob left", kindInfo},
		{frame(wire.AsyncRmSubCh, wire.TypeBytes, sub()), "* sub-channel #team/lobby removed", kindInfo},
		{frame(wire.AsyncRenameCh, wire.TypeBytes, wire.AppendNullTerm(binary.LittleEndian.AppendUint64(nil, ch), "crew")), "* #team renamed to #crew", kindInfo},
		{frame(wire.AsyncDelCh, wire.TypeChID, binary.LittleEndian.AppendUint64(nil, ch)), "* #crew was deleted", kindInfo},
		{frame(wire.AsyncUserDeleted, wire.TypeText, alice.UserID[:]), "* the account you were logged in as was deleted", kindInfo},
		{frame(wire.AsyncSysMsg, wire.TypeMyInfo, (&wire.MyInfo{}).Marshal()), "* you are not logged in", kindInfo},
	} {
		got := n.formatAsync(tc.f)
		if tc.kind == kindHidden {
			got.text = ""
		}
		if got.text != tc.want || got.kind != tc.kind {
			t.Errorf("%s %s: got %q (kind %d), want %q (kind %d)", wire.AsyncID(tc.f.Cmd), tc.f.Type, got.text, got.kind, tc.want, tc.kind)
		}
	}
}

func TestTableColumn(t *testing.T) {
	text := "channel_id    channel_name    pending_invite    access_level    \n" +
		"-------       -------         -------           -------         \n" +
		"1             team            0                 1               \n" +
		"2             crew            1                 4               \n" +
		"next page (y/n)? " +
		"channel_id    channel_name    pending_invite    access_level    \n" +
		"-------       -------         -------           -------         \n" +
		"3             ops             0                 2               \n"
	got := tableColumn(text, "channel_name")
	if strings.Join(got, ",") != "team,crew,ops" {
		t.Fatalf("tableColumn = %q", got)
	}
}
