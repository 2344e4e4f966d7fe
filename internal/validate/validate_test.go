package validate

import (
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	cases := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"user", UserName, "ab", true},
		{"user", UserName, "a", false},
		{"user", UserName, strings.Repeat("x", 24), true},
		{"user", UserName, strings.Repeat("x", 25), false},
		{"user", UserName, "a b", false},
		{"user", UserName, "a\tb", false},
		{"user", UserName, "😀😀😀😀😀😀😀😀😀😀😀😀", true}, // 24 UTF-16 units
		{"user", UserName, "😀😀😀😀😀😀😀😀😀😀😀😀x", false},
		{"email", Email, "a@b.c", true},
		{"email", Email, "a@bc", false},
		{"email", Email, "a@@b.c", false},
		{"email", Email, "a.b@c", false},
		{"email", Email, "a b@c.d", false},
		{"email", Email, "@b.c", true}, // the original's rule allows it
		{"display", DisplayName, "", true},
		{"display", DisplayName, "John Doe", true},
		{"display", DisplayName, "line\nbreak", false},
		{"display", DisplayName, strings.Repeat("x", 33), false},
		{"password", Password, "Abcdef1!", true},
		{"password", Password, "Abcde1!", false},
		{"password", Password, "abcdef1!", false},
		{"password", Password, "ABCDEF1!", false},
		{"password", Password, "Abcdefg!", false},
		{"password", Password, "Abcdefg1", false},
		{"password", Password, "Äbcdéf1€", true},
		{"channel", ChannelName, "chan", true},
		{"channel", ChannelName, "cha", false},
		{"channel", ChannelName, "my chan", false},
		{"command", CommandName, "x", true},
		{"command", CommandName, "", false},
		{"command", CommandName, strings.Repeat("x", 65), false},
		{"cn", CommonName, "example.com", true},
		{"cn", CommonName, strings.Repeat("x", 137), false},
		{"module", ModulePath, "/usr/lib/mrci/mod", true},
		{"module", ModulePath, "/bad|path", false},
		{"module", ModulePath, "", false},
	}
	for _, c := range cases {
		if got := c.fn(c.in); got != c.want {
			t.Errorf("%s(%q) = %v, want %v", c.name, c.in, got, c.want)
		}
	}
}
