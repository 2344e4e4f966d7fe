package store

import "testing"

func TestSmallestFreeSubID(t *testing.T) {
	full := make([]uint8, 256)
	for i := range full {
		full[i] = uint8(i)
	}
	for _, c := range []struct {
		used []uint8
		want uint8
		ok   bool
	}{
		{nil, 0, true},
		{[]uint8{0}, 1, true},
		{[]uint8{1, 2}, 0, true},
		{[]uint8{0, 1, 3}, 2, true},
		{[]uint8{0, 1, 2}, 3, true},
		{full[:255], 255, true},
		{full, 0, false},
	} {
		got, ok := SmallestFreeSubID(c.used)
		if got != c.want || ok != c.ok {
			t.Errorf("SmallestFreeSubID(%v) = %d, %v; want %d, %v", c.used, got, ok, c.want, c.ok)
		}
	}
}

func TestSubChannelLimit(t *testing.T) {
	for in, want := range map[int]int{-1: 256, 0: 256, 1: 1, 50: 50, 256: 256, 257: 256} {
		if got := SubChannelLimit(in); got != want {
			t.Errorf("SubChannelLimit(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestDeletableAndValidViews(t *testing.T) {
	all := []View{ViewUsers, ViewAuthLog, ViewActLog, ViewDebug, ViewBans, ViewCerts, ViewMods,
		ViewRankedCmds, ViewChannels, ViewMyChannels, ViewSubChannels, ViewMembers, ViewReadOnly}
	n := 0
	for _, v := range all {
		if !ValidView(v) {
			t.Errorf("%s not valid", v)
		}
		if Deletable(v) {
			n++
		}
	}
	if n != 3 || !Deletable(ViewActLog) || !Deletable(ViewDebug) || !Deletable(ViewBans) {
		t.Errorf("deletable views wrong")
	}
	if ValidView("nope") || Deletable("nope") {
		t.Errorf("unknown view accepted")
	}
}
