package wire

import (
	"bytes"
	"strings"
	"testing"
)

// peerInfoBytes builds a PEER_INFO by hand per types.md §6.2.
func peerInfoBytes(t testing.TB, user, app, disp []byte) []byte {
	b := make([]byte, 306)
	copy(b[0:28], seq(0xA0, 28))  // session id 0..27
	copy(b[28:60], seq(0x10, 32)) // user id 28..59
	put(t, b, 60, 48, user)       // user name 60..107
	put(t, b, 108, 134, app)      // app name 108..241
	put(t, b, 242, 64, disp)      // display name 242..305
	return b
}

func testPeer() PeerInfo {
	return PeerInfo{
		SessionID:   SessionID(seq(0xA0, 28)),
		UserID:      UserID(seq(0x10, 32)),
		UserName:    "bob",
		AppName:     "Cmdr v2.2.0",
		DisplayName: "Bobby",
	}
}

func TestPeerInfo(t *testing.T) {
	p := testPeer()
	want := peerInfoBytes(t, asc16("bob"), asc16("Cmdr v2.2.0"), asc16("Bobby"))
	got := p.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal:\n got % X\nwant % X", got, want)
	}
	if len(got) != 306 || PeerInfoLen != 306 {
		t.Fatalf("len %d", len(got))
	}
	// Spot-check the offsets directly.
	if got[27] != 0xA0+27 || got[28] != 0x10 || got[59] != 0x10+31 || got[60] != 'b' ||
		got[108] != 'C' || got[242] != 'B' || got[243] != 0 {
		t.Errorf("field offsets wrong")
	}
	back, err := ParsePeerInfo(want)
	if err != nil || back != p {
		t.Errorf("ParsePeerInfo = %+v, %v", back, err)
	}
	// Longer inputs are accepted (only the first 306 bytes are read).
	back, err = ParsePeerInfo(append(want, 0xFF, 0xFF))
	if err != nil || back != p {
		t.Errorf("ParsePeerInfo(+2) = %+v, %v", back, err)
	}
	if _, err := ParsePeerInfo(want[:305]); err == nil {
		t.Error("305 bytes: no error")
	}
	if _, err := ParsePeerInfo(nil); err == nil {
		t.Error("nil: no error")
	}
}

func TestPeerInfoFullWidthFields(t *testing.T) {
	user := strings.Repeat("u", 24)
	app := strings.Repeat("a", 67)
	disp := strings.Repeat("d", 32)
	in := peerInfoBytes(t, asc16(user), asc16(app), asc16(disp))
	p, err := ParsePeerInfo(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.UserName != user || p.AppName != app || p.DisplayName != disp {
		t.Errorf("fields bled into each other: %q / %q / %q", p.UserName, p.AppName, p.DisplayName)
	}
	// Over-long values are truncated to their fields on marshal.
	q := PeerInfo{UserName: user + "XX", AppName: app + "XX", DisplayName: disp + "XX"}
	if got := q.Marshal(); !bytes.Equal(got[60:], in[60:]) {
		t.Errorf("truncation wrong")
	}
}

func TestMyInfo(t *testing.T) {
	want := make([]byte, 439)
	copy(want, peerInfoBytes(t, asc16("bob"), asc16("Cmdr v2.2.0"), asc16("Bobby")))
	put(t, want, 306, 128, asc16("bob@example.org")) // e-mail 306..433
	copy(want[434:438], hx("04 03 02 01"))           // rank u32 434..437
	want[438] = 0x01                                 // verified
	m := MyInfo{Peer: testPeer(), Email: "bob@example.org", Rank: 0x01020304, EmailVerified: true}
	got := m.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal:\n got % X\nwant % X", got, want)
	}
	if len(got) != MyInfoLen || MyInfoLen != 439 {
		t.Fatalf("len %d", len(got))
	}
	back, err := ParseMyInfo(want)
	if err != nil || back != m {
		t.Errorf("ParseMyInfo = %+v, %v", back, err)
	}

	m.EmailVerified = false
	m.Rank = 1
	got = m.Marshal()
	if got[438] != 0 || !bytes.Equal(got[434:438], hx("01 00 00 00")) {
		t.Errorf("rank/flag bytes % X", got[434:])
	}
	// Any non-zero flag byte reads as verified.
	want[438] = 0x02
	if back, _ := ParseMyInfo(want); !back.EmailVerified {
		t.Error("flag 0x02 not read as verified")
	}
	// A full 64-character e-mail does not bleed into the rank.
	email := strings.Repeat("e", 64)
	put(t, want, 306, 128, asc16(email))
	if back, _ := ParseMyInfo(want); back.Email != email || back.Rank != 0x01020304 {
		t.Errorf("full e-mail: %q rank %#x", back.Email, back.Rank)
	}
	if _, err := ParseMyInfo(want[:438]); err == nil {
		t.Error("438 bytes: no error")
	}
	if _, err := ParseMyInfo(want[:306]); err == nil {
		t.Error("306 bytes (PEER_INFO only): no error")
	}
}

func TestPeerStat(t *testing.T) {
	want := make([]byte, 83)
	copy(want[0:28], seq(0xA0, 28))
	// slot 0 empty, slot 1 = channel 0x0102030405060708 sub 3, slot 4 = channel 9 sub 0
	copy(want[28+9:28+18], hx("08 07 06 05 04 03 02 01 03"))
	copy(want[28+36:28+45], hx("09 00 00 00 00 00 00 00 00"))
	want[82] = 0x01
	p := PeerStat{SessionID: SessionID(seq(0xA0, 28)), Disconnected: true}
	p.Open[1] = SubChannel{Channel: 0x0102030405060708, Sub: 3}
	p.Open[4] = SubChannel{Channel: 9, Sub: 0}
	got := p.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal:\n got % X\nwant % X", got, want)
	}
	if len(got) != PeerStatLen || PeerStatLen != 83 {
		t.Fatalf("len %d", len(got))
	}
	back, err := ParsePeerStat(want)
	if err != nil || back != p {
		t.Errorf("ParsePeerStat = %+v, %v", back, err)
	}
	want[82] = 0
	if back, _ := ParsePeerStat(want); back.Disconnected {
		t.Error("flag 0 read as disconnected")
	}
	// An empty slot with a non-zero sub byte stays empty.
	want[28+8] = 0x07
	if back, _ := ParsePeerStat(want); back.Open[0] != (SubChannel{}) {
		t.Errorf("slot 0 = %+v, want empty", back.Open[0])
	}
	if _, err := ParsePeerStat(want[:82]); err == nil {
		t.Error("82 bytes: no error")
	}
}

// newCmdBytes builds a NEW_CMD by hand per types.md §8.1.
func newCmdBytes(t testing.TB, id []byte, gen byte, name, lib []byte, tail ...[]byte) []byte {
	b := make([]byte, 259)
	copy(b[0:2], id)
	b[2] = gen
	put(t, b, 3, 128, name)
	put(t, b, 131, 128, lib)
	for _, s := range tail {
		b = append(b, s...)
	}
	return b
}

func TestNewCmdRoundTrip(t *testing.T) {
	z := []byte{0, 0}
	want := newCmdBytes(t, hx("34 12"), 2, asc16("fs_upload"), asc16("MRCI v2.0.2 64Bit"),
		asc16("upload a file"), z, asc16("-remote_file {path}"), z, asc16("long text"), z)
	c := NewCmd{ID: 0x1234, GenFile: 2, Name: "fs_upload", Library: "MRCI v2.0.2 64Bit",
		Summary: "upload a file", IO: "-remote_file {path}", Long: "long text"}
	got := c.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal:\n got % X\nwant % X", got, want)
	}
	back, err := ParseNewCmd(want)
	if err != nil || back != c {
		t.Errorf("ParseNewCmd = %+v, %v", back, err)
	}
	// Empty descriptions: 259 bytes + three terminators.
	e := NewCmd{Name: "x"}
	if got := e.Marshal(); len(got) != 265 || !bytes.Equal(got[259:], hx("00 00 00 00 00 00")) {
		t.Errorf("empty descriptions: len %d tail % X", len(got), got[259:])
	}
	// Non-ASCII and full-width name.
	name := strings.Repeat("n", 63) + "é"
	c = NewCmd{ID: 300, Name: name, Library: "lïb", Summary: "😀"}
	back, err = ParseNewCmd(c.Marshal())
	if err != nil || back != c {
		t.Errorf("non-ascii round trip = %+v, %v", back, err)
	}
}

func TestParseNewCmdMissingTerminators(t *testing.T) {
	z := []byte{0, 0}
	tests := []struct {
		name string
		in   []byte
		want NewCmd
	}{
		{"exactly 259 bytes", newCmdBytes(t, hx("00 00"), 0, asc16("ls"), asc16("lib")),
			NewCmd{Name: "ls", Library: "lib"}},
		{"summary unterminated", newCmdBytes(t, hx("00 00"), 1, asc16("ls"), nil, asc16("ab")),
			NewCmd{GenFile: 1, Name: "ls", Summary: "ab"}},
		{"io unterminated", newCmdBytes(t, hx("2C 01"), 0, asc16("ls"), nil, asc16("ab"), z, asc16("cd")),
			NewCmd{ID: 300, Name: "ls", Summary: "ab", IO: "cd"}},
		{"long unterminated", newCmdBytes(t, nil, 0, asc16("ls"), nil, asc16("ab"), z, asc16("cd"), z, asc16("ef")),
			NewCmd{Name: "ls", Summary: "ab", IO: "cd", Long: "ef"}},
		{"odd trailing byte", newCmdBytes(t, nil, 0, asc16("ls"), nil, asc16("ab"), []byte{0x63}),
			NewCmd{Name: "ls", Summary: "ab"}},
		{"trailing garbage after long", newCmdBytes(t, nil, 0, asc16("ls"), nil, z, z, z, asc16("zz")),
			NewCmd{Name: "ls"}},
		{"name fills the field", newCmdBytes(t, nil, 0, asc16(strings.Repeat("x", 64)), asc16(strings.Repeat("y", 64))),
			NewCmd{Name: strings.Repeat("x", 64), Library: strings.Repeat("y", 64)}},
		{"name returned as sent", newCmdBytes(t, nil, 0, asc16(" LS "), nil),
			NewCmd{Name: " LS "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNewCmd(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseNewCmd = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	full := newCmdBytes(t, nil, 0, asc16("ls"), nil)
	for _, n := range []int{0, 2, 131, 258} {
		if _, err := ParseNewCmd(full[:n]); err == nil {
			t.Errorf("%d bytes: no error", n)
		}
	}
}

func TestRebuildNewCmd(t *testing.T) {
	z := []byte{0, 0}
	module := newCmdBytes(t, hx("FF FF"), 3, asc16("FS_Download"), asc16("mod v1"),
		asc16("sum"), z, asc16("io"), z, asc16("long"), z)
	got := RebuildNewCmd(module, 301, "fs_download_1")
	want := newCmdBytes(t, hx("2D 01"), 3, asc16("fs_download_1"), asc16("mod v1"),
		asc16("sum"), z, asc16("io"), z, asc16("long"), z)
	if !bytes.Equal(got, want) {
		t.Fatalf("RebuildNewCmd:\n got % X\nwant % X", got, want)
	}
	if !bytes.Equal(got[131:], module[131:]) {
		t.Error("bytes from offset 131 changed")
	}

	// Bytes from 131 are copied verbatim even when they are not valid
	// strings (missing terminators, odd length, lone surrogates).
	module = newCmdBytes(t, nil, 1, asc16("x"), hx("3D D8 41"), hx("00 DC 61"))
	got = RebuildNewCmd(module, 0xABCD, "y")
	if len(got) != len(module) || !bytes.Equal(got[131:], module[131:]) ||
		!bytes.Equal(got[:5], hx("CD AB 01 79 00")) || !bytes.Equal(got[5:131], make([]byte, 126)) {
		t.Errorf("verbatim copy failed: % X", got)
	}

	// A too-long client name is truncated to the 128-byte field; the old
	// name's tail does not leak through.
	module = newCmdBytes(t, nil, 0, asc16(strings.Repeat("m", 64)), nil)
	got = RebuildNewCmd(module, 256, strings.Repeat("c", 70))
	if c, err := ParseNewCmd(got); err != nil || c.Name != strings.Repeat("c", 64) || c.ID != 256 {
		t.Errorf("truncated name: %+v, %v", c, err)
	}
	got = RebuildNewCmd(module, 256, "ab")
	if c, _ := ParseNewCmd(got); c.Name != "ab" {
		t.Errorf("short name over long one: %q", c.Name)
	}

	// The module frame is not modified.
	before := bytes.Clone(module)
	RebuildNewCmd(module, 1, "zzz")
	if !bytes.Equal(before, module) {
		t.Error("module frame modified")
	}
}

func TestSmallEncoders(t *testing.T) {
	if got := EncodeCmdID(300); !bytes.Equal(got, hx("2C 01")) {
		t.Errorf("EncodeCmdID = % X", got)
	}
	if got := EncodeChID(0x0102030405060708); !bytes.Equal(got, hx("08 07 06 05 04 03 02 01")) {
		t.Errorf("EncodeChID = % X", got)
	}
	if got := EncodeHostVer(Version); !bytes.Equal(got, hx("02 00 00 00 02 00")) {
		t.Errorf("EncodeHostVer = % X", got)
	}
	if got := EncodeHostVer(HostVersion{0x0102, 0x0304, 0x0506}); !bytes.Equal(got, hx("02 01 04 03 06 05")) {
		t.Errorf("EncodeHostVer = % X", got)
	}
}

func TestChMemberInfo(t *testing.T) {
	want := hx("88 77 66 55 44 33 22 11") // channel id 0..7
	want = append(want, seq(0x20, 32)...) // user id 8..39
	want = append(want, 0x01, 0x04)       // pending, level
	want = append(want, asc16("bob")...)
	want = append(want, 0, 0)
	want = append(want, hx("42 00 F6 00 62 00 00 00")...) // "Böb"
	want = append(want, asc16("lobby")...)
	want = append(want, 0, 0)
	m := ChMemberInfo{ChannelID: 0x1122334455667788, UserID: UserID(seq(0x20, 32)), Pending: true,
		Level: 4, UserName: "bob", DisplayName: "Böb", ChannelName: "lobby"}
	got := m.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal:\n got % X\nwant % X", got, want)
	}
	back, err := ParseChMemberInfo(want)
	if err != nil || back != m {
		t.Errorf("ParseChMemberInfo = %+v, %v", back, err)
	}
	// Empty strings: 42 bytes + three terminators = 48 (types.md §9.2 minimum).
	e := ChMemberInfo{ChannelID: 1, Level: 5}
	if got := e.Marshal(); len(got) != 48 || got[40] != 0 || got[41] != 5 {
		t.Errorf("empty strings: len %d % X", len(got), got)
	}

	// Missing terminators: the end of the payload ends the strings.
	tr := append(bytes.Clone(want[:42]), asc16("bob")...)
	back, err = ParseChMemberInfo(tr)
	if err != nil || back.UserName != "bob" || back.DisplayName != "" || back.ChannelName != "" || !back.Pending {
		t.Errorf("unterminated: %+v, %v", back, err)
	}
	back, err = ParseChMemberInfo(want[:42])
	if err != nil || back.ChannelID != 0x1122334455667788 || back.Level != 4 || back.UserName != "" {
		t.Errorf("fixed part only: %+v, %v", back, err)
	}
	// ASYNC_INVITE_ACCEPTED in the original carries only 40 bytes; that is
	// not a CH_MEMBER_INFO record and must not parse as one.
	for _, n := range []int{0, 8, 40, 41} {
		if _, err := ParseChMemberInfo(want[:n]); err == nil {
			t.Errorf("%d bytes: no error", n)
		}
	}
}
