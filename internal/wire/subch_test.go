package wire

import (
	"bytes"
	"reflect"
	"testing"
)

func sc(ch uint64, sub uint8) SubChannel { return SubChannel{Channel: ch, Sub: sub} }

func TestSubChannelListAdd(t *testing.T) {
	var l SubChannelList
	for i := 1; i <= 6; i++ {
		if !l.Add(sc(uint64(i), uint8(i))) {
			t.Fatalf("Add #%d failed", i)
		}
	}
	if l.Len() != 6 {
		t.Fatalf("Len = %d", l.Len())
	}
	if l.Add(sc(7, 0)) {
		t.Error("7th entry accepted by a full list")
	}
	if l.Add(sc(3, 3)) {
		t.Error("duplicate accepted")
	}

	// Add fills the first empty slot, wherever it is.
	if !l.Remove(sc(4, 4)) || !l.Remove(sc(2, 2)) {
		t.Fatal("Remove failed")
	}
	if l.Remove(sc(2, 2)) {
		t.Error("second Remove of the same entry reported true")
	}
	if !l.Add(sc(100, 0)) || l[1] != sc(100, 0) {
		t.Errorf("Add did not use slot 1: %+v", l)
	}
	if !l.Add(sc(101, 0)) || l[3] != sc(101, 0) {
		t.Errorf("Add did not use slot 3: %+v", l)
	}

	// Same channel, different sub ids are distinct entries.
	var m SubChannelList
	if !m.Add(sc(5, 0)) || !m.Add(sc(5, 1)) || m.Add(sc(5, 1)) {
		t.Errorf("sub ids not distinguished: %+v", m)
	}
}

func TestSubChannelChannelZeroNeverValid(t *testing.T) {
	var l SubChannelList
	for _, s := range []SubChannel{sc(0, 0), sc(0, 1), sc(0, 255)} {
		if s.Valid() {
			t.Errorf("%+v reported valid", s)
		}
		if l.Add(s) {
			t.Errorf("Add(%+v) accepted", s)
		}
		if l.Contains(s) {
			t.Errorf("Contains(%+v) true on empty list", s)
		}
		if l.Remove(s) {
			t.Errorf("Remove(%+v) true", s)
		}
	}
	if l.Len() != 0 || l.RemoveChannel(0) != 0 {
		t.Error("channel 0 counted")
	}
	if !sc(1, 0).Valid() {
		t.Error("channel 1 sub 0 not valid")
	}
	// A slot holding channel 0 with a stray sub id is treated as empty: it
	// is reused by Add, not counted, not matched, and encoded as zero.
	l[0] = sc(0, 9)
	if l.Len() != 0 || l.Contains(sc(0, 9)) || len(l.Entries()) != 0 {
		t.Error("stray slot counted")
	}
	if b := l.Marshal(); !bytes.Equal(b, make([]byte, 54)) {
		t.Errorf("stray slot encoded: % X", b)
	}
	if !l.Add(sc(7, 7)) || l[0] != sc(7, 7) {
		t.Errorf("stray slot not reused: %+v", l)
	}
}

func TestSubChannelListEncoding(t *testing.T) {
	var l SubChannelList
	l[0] = sc(0x0102030405060708, 0x09)
	l[3] = sc(1, 0)
	l[5] = sc(0xFFFFFFFFFFFFFFFF, 0xFF)
	want := hx("08 07 06 05 04 03 02 01 09" +
		"00 00 00 00 00 00 00 00 00" +
		"00 00 00 00 00 00 00 00 00" +
		"01 00 00 00 00 00 00 00 00" +
		"00 00 00 00 00 00 00 00 00" +
		"FF FF FF FF FF FF FF FF FF")
	got := l.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal:\n got % X\nwant % X", got, want)
	}
	if len(got) != SubChannelListLen || SubChannelListLen != 54 {
		t.Fatalf("len %d", len(got))
	}
	back, err := ParseSubChannelList(want)
	if err != nil || back != l {
		t.Errorf("Parse = %+v, %v", back, err)
	}
	if got := back.Entries(); !reflect.DeepEqual(got, []SubChannel{l[0], l[3], l[5]}) {
		t.Errorf("Entries = %+v", got)
	}
	if got := l.Append([]byte{0xEE}); got[0] != 0xEE || !bytes.Equal(got[1:], want) {
		t.Error("Append(prefix) wrong")
	}
}

func TestParseSubChannelList(t *testing.T) {
	// Padding in the middle, a zero channel with a non-zero sub byte, and
	// trailing bytes beyond 54 that must be ignored.
	in := hx("00 00 00 00 00 00 00 00 00" +
		"05 00 00 00 00 00 00 00 02" +
		"00 00 00 00 00 00 00 00 07" + // channel 0, sub 7: empty
		"00 00 00 00 00 00 00 00 00" +
		"06 00 00 00 00 00 00 00 00" +
		"00 00 00 00 00 00 00 00 00" +
		"AA BB")
	l, err := ParseSubChannelList(in)
	if err != nil {
		t.Fatal(err)
	}
	want := SubChannelList{1: sc(5, 2), 4: sc(6, 0)}
	if l != want {
		t.Errorf("got %+v, want %+v", l, want)
	}
	if l.Len() != 2 {
		t.Errorf("Len = %d", l.Len())
	}
	if _, err := ParseSubChannelList(in[:53]); err == nil {
		t.Error("53 bytes: no error")
	}
	if l, err := ParseSubChannelList(make([]byte, 54)); err != nil || l.Len() != 0 {
		t.Errorf("all zero: %+v, %v", l, err)
	}
}

func TestSubChannelOverlaps(t *testing.T) {
	a := SubChannelList{0: sc(1, 0), 3: sc(2, 1)}
	b := SubChannelList{5: sc(2, 1)}
	c := SubChannelList{0: sc(2, 0), 1: sc(1, 1)}
	var empty SubChannelList
	if !a.Overlaps(&b) || !b.Overlaps(&a) {
		t.Error("a and b share 2/1")
	}
	if a.Overlaps(&c) || c.Overlaps(&a) {
		t.Error("a and c share nothing (same channels, different subs)")
	}
	if a.Overlaps(&empty) || empty.Overlaps(&a) || empty.Overlaps(&empty) {
		t.Error("empty list overlaps")
	}
	// Stray channel-0 slots never overlap.
	s1 := SubChannelList{0: sc(0, 3)}
	s2 := SubChannelList{2: sc(0, 3)}
	if s1.Overlaps(&s2) {
		t.Error("channel-0 slots overlap")
	}
}

func TestSubChannelRemoveChannel(t *testing.T) {
	l := SubChannelList{sc(1, 0), sc(2, 0), sc(1, 1), sc(3, 0), sc(1, 2)}
	if n := l.RemoveChannel(1); n != 3 {
		t.Errorf("RemoveChannel(1) = %d, want 3", n)
	}
	want := SubChannelList{1: sc(2, 0), 3: sc(3, 0)}
	if l != want {
		t.Errorf("after RemoveChannel: %+v", l)
	}
	if n := l.RemoveChannel(1); n != 0 {
		t.Errorf("second RemoveChannel = %d", n)
	}
	if n := l.RemoveChannel(42); n != 0 {
		t.Errorf("RemoveChannel(absent) = %d", n)
	}
	if !l.Contains(sc(2, 0)) || l.Contains(sc(1, 0)) {
		t.Error("Contains wrong after RemoveChannel")
	}
}

func TestSubChannelEntry(t *testing.T) {
	b := AppendSubChannel([]byte{0xEE}, sc(0x0A0B, 4))
	if !bytes.Equal(b, hx("EE 0B 0A 00 00 00 00 00 00 04")) {
		t.Errorf("AppendSubChannel = % X", b)
	}
	s, err := ParseSubChannel(b[1:])
	if err != nil || s != sc(0x0A0B, 4) {
		t.Errorf("ParseSubChannel = %+v, %v", s, err)
	}
	if _, err := ParseSubChannel(b[1:9]); err == nil {
		t.Error("8 bytes: no error")
	}
}

func TestTypeAndAsyncNames(t *testing.T) {
	for _, tt := range []struct {
		id   TypeID
		want string
	}{
		{TypeGenFile, "GEN_FILE"}, {TypeIdle, "IDLE"}, {TypeNewCmd, "NEW_CMD"},
		{TypePubIPCFeedback, "PUB_IPC_WITH_FEEDBACK"}, {TypeResumeCmd, "RESUME_CMD"},
		{0, "TYPE_0"}, {30, "TYPE_30"}, {255, "TYPE_255"},
	} {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("TypeID(%d) = %s, want %s", tt.id, got, tt.want)
		}
	}
	// Type ids match types.md §1.
	ids := map[TypeID]uint8{TypeGenFile: 1, TypeIdle: 5, TypeHostCert: 6, TypePeerInfo: 8, TypeMyInfo: 9,
		TypePeerStat: 10, TypeNewCmd: 16, TypeCmdID: 17, TypeTermCmd: 19, TypeHostVer: 20, TypePrivIPC: 21,
		TypePingPeers: 24, TypeChMemberInfo: 25, TypeChID: 26, TypeKillCmd: 27, TypeHaltCmd: 28, TypeResumeCmd: 29}
	for id, v := range ids {
		if uint8(id) != v {
			t.Errorf("%s = %d, want %d", id, id, v)
		}
	}
	for _, tt := range []struct {
		id   AsyncID
		want string
	}{
		{AsyncRdy, "ASYNC_RDY"}, {AsyncAddCmd, "ASYNC_ADD_CMD"}, {AsyncKeepAlive, "ASYNC_KEEP_ALIVE"},
		{AsyncDebugText, "ASYNC_DEBUG_TEXT"}, {0, "ASYNC_0"}, {45, "ASYNC_45"}, {300, "ASYNC_300"},
	} {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("AsyncID(%d) = %s, want %s", tt.id, got, tt.want)
		}
	}
	if AsyncAddCmd != 35 || AsyncRmCmd != 36 || AsyncKeepAlive != 42 || MaxAsyncID != 44 || FirstCommandID != 256 {
		t.Error("async id values differ from seed/async.md")
	}
	for tid := 0; tid < 256; tid++ {
		id := TypeID(tid)
		ctl := id == 19 || id == 27 || id == 28 || id == 29
		ipc := id == 21 || id == 22 || id == 23
		if id.IsControl() != ctl || id.IsIPC() != ipc {
			t.Errorf("%s: IsControl %v IsIPC %v", id, id.IsControl(), id.IsIPC())
		}
	}
}
