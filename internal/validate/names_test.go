package validate

import (
	"errors"
	"testing"
)

func TestNewUserName(t *testing.T) {
	cases := []struct {
		in, want string
		err      error
	}{
		{"root", "root", nil},
		{"Root", "Root", nil},
		{"ｒｏｏｔ", "root", nil},                // full-width letters are mapped
		{"rооt", "rооt", nil},                // Cyrillic o is a letter; NameKey catches it
		{"root\u200b", "", ErrNameInvisible}, // zero-width space
		{"\u202etoor", "", ErrNameInvisible}, // right-to-left override rendering as "root"
		{"ro\u2066ot", "", ErrNameInvisible}, // isolate
		{"ro\u00adot", "", ErrNameInvisible}, // soft hyphen
		{"ro\ufe0fot", "", ErrNameInvisible}, // variation selector
		{"a b", "", ErrNameChars},            // space
		{"a\u3000b", "", ErrNameChars},       // ideographic space
		{"😀😀", "", ErrNameChars},             // symbols are not identifiers
		{"e\u0301t", "\u00e9t", nil},         // NFC
		{"a", "", ErrNameLength},             // too short
		{"abcdefghijklmnopqrstuvwxy", "", ErrNameLength},
	}
	for _, c := range cases {
		got, err := NewUserName(c.in)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("NewUserName(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestNewDisplayName(t *testing.T) {
	cases := []struct {
		in, want string
		err      error
	}{
		{"", "", nil},
		{"   ", "", nil},
		{"John  Doe ", "John Doe", nil},
		{"ｊｏｈｎ", "john", nil}, // width-mapped
		{"root\u200b", "", ErrNameInvisible},
		{"\u202etoor", "", ErrNameInvisible},
		{"line\nbreak", "", ErrNameInvisible},
		{"x\u200dy", "", ErrNameInvisible},
		{"0123456789012345678901234567890123", "", ErrNameLength},
	}
	for _, c := range cases {
		got, err := NewDisplayName(c.in)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("NewDisplayName(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestNameKey(t *testing.T) {
	same := []string{"root", "ROOT", "Root", "rооt", "ｒｏｏｔ", "r00t", "RООТ"}
	for _, s := range same {
		if k := NameKey(s); k != NameKey("root") {
			t.Errorf("NameKey(%q) = %q, want the key of root %q", s, k, NameKey("root"))
		}
	}
	differ := []string{"rot", "roots", "toor", "boot"}
	for _, s := range differ {
		if NameKey(s) == NameKey("root") {
			t.Errorf("NameKey(%q) equals the key of root", s)
		}
	}
	if NameKey("\u00e9t") != NameKey("e\u0301t") {
		t.Error("NameKey differs between NFC and NFD forms")
	}
}
