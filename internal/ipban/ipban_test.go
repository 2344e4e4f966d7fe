package ipban

import (
	"net/netip"
	"testing"
)

func TestParseCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4":             "1.2.3.4",
		" 1.2.3.4 ":           "1.2.3.4",
		"::ffff:1.2.3.4":      "1.2.3.4",
		"2001:DB8::1":         "2001:db8::1",
		"2001:db8:0:0::1":     "2001:db8::1",
		"10.1.2.3/8":          "10.0.0.0/8",
		"10.1.2.3/32":         "10.1.2.3",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"2001:db8::/32":       "2001:db8::/32",
		"2001:db8::5/128":     "2001:db8::5",
	} {
		p, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if got := Canonical(p); got != want {
			t.Errorf("Canonical(Parse(%q)) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "1.2.3", "1.2.3.4.5", "host.example", "1.2.3.4/33", "fe80::1%eth0", "::ffff:1.2.3.4/64", "1.2.3.4:80"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestCoversLoopback(t *testing.T) {
	for in, want := range map[string]bool{
		"127.0.0.1": true, "127.5.5.5": true, "::1": true, "::ffff:127.0.0.1": true,
		"0.0.0.0/0": true, "::/0": true, "120.0.0.0/4": true,
		"10.0.0.1": false, "128.0.0.0/1": false, "2001:db8::/32": false,
	} {
		p, err := Parse(in)
		if err != nil {
			t.Fatal(in, err)
		}
		if got := CoversLoopback(p); got != want {
			t.Errorf("CoversLoopback(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestListBanned(t *testing.T) {
	l, bad := NewList([]string{"1.2.3.4", "10.0.0.0/8", "2001:db8::/32", "garbage"})
	if len(bad) != 1 || bad[0] != "garbage" || l.Len() != 3 {
		t.Fatalf("bad = %v, len = %d", bad, l.Len())
	}
	for in, want := range map[string]bool{
		"1.2.3.4": true, "::ffff:1.2.3.4": true, "1.2.3.5": false,
		"10.200.0.1": true, "::ffff:10.9.9.9": true, "11.0.0.1": false,
		"2001:db8:1::7": true, "2001:db9::1": false,
	} {
		if got := l.Banned(netip.MustParseAddr(in)); got != want {
			t.Errorf("Banned(%s) = %v, want %v", in, got, want)
		}
	}
	if !l.Has("10.0.0.0/8") || l.Has("10.0.0.0") {
		t.Error("Has")
	}
	var nilList *List
	if nilList.Banned(netip.MustParseAddr("1.2.3.4")) {
		t.Error("nil list bans")
	}
}
