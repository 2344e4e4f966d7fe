package wire

import (
	"reflect"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		maxArgs int
		want    []string
	}{
		// protocol.md §13.4 table
		{"13.4 plain", `-path /data`, -1, []string{"-path", "/data"}},
		{"13.4 double quotes", `-PATH "/my docs/a b"`, -1, []string{"-PATH", "/my docs/a b"}},
		{"13.4 single quotes keep double", `-path 'say "hi"'`, -1, []string{"-path", `say "hi"`}},
		{"13.4 escaped quotes", `-path say\"hi\"`, -1, []string{"-path", `say"hi"`}},
		{"13.4 value is a flag", `-path -force`, -1, []string{"-path", "-force"}},
		{"13.4 unterminated", `-path "unterminated`, -1, []string{"-path"}},
		{"13.4 empty quotes", `-path ""`, -1, []string{"-path"}},

		// protocol.md §13.1 consequences
		{"quotes mid-word", `ab"c d"e`, -1, []string{"abc de"}},
		{"double inside single is literal", `'a"b'`, -1, []string{`a"b`}},
		{"single inside double is literal", `"a'b"`, -1, []string{`a'b`}},
		{"escaped double inside double", `"a\"b c"`, -1, []string{`a"b c`}},
		{"escaped single inside single", `'a\'b c'`, -1, []string{`a'b c`}},
		{"escaped single inside double", `"a\'b"`, -1, []string{`a'b`}},
		{"escaped quote starts word", `\"x`, -1, []string{`"x`}},
		{"escaped quote alone", `\'`, -1, []string{`'`}},
		{"windows path kept", `C:\dir`, -1, []string{`C:\dir`}},
		{"backslash before letter kept", `a\nb`, -1, []string{`a\nb`}},
		{"double backslash then quote", `\\"`, -1, []string{`\"`}},
		{"double backslash quote in word", `a\\"b`, -1, []string{`a\"b`}},
		{"trailing backslash kept", `a\`, -1, []string{`a\`}},
		{"lone backslash", `\`, -1, []string{`\`}},
		{"empty name value", `-name ""`, -1, []string{"-name"}},
		{"empty single quotes", `-name ''`, -1, []string{"-name"}},
		{"empty quotes mid-word", `a""b`, -1, []string{"ab"}},
		{"two empty quotes", `"" ''`, -1, nil},
		{"quoted space is a word", `" "`, -1, []string{" "}},
		{"unterminated discards final word", `-path "/data/x`, -1, []string{"-path"}},
		{"unterminated single", `a 'b c`, -1, []string{"a"}},
		{"unterminated spans words", `a "b c d`, -1, []string{"a"}},
		{"unterminated after closed", `"a b" "c`, -1, []string{"a b"}},
		{"empty input", ``, -1, nil},
		{"only whitespace", " \t\r\n ", -1, nil},
		{"multiple spaces", "  a   b  ", -1, []string{"a", "b"}},
		{"tabs and newlines", "a\tb\nc\r\nd", -1, []string{"a", "b", "c", "d"}},
		{"quoted whitespace kept", "\"a\tb\"", -1, []string{"a\tb"}},

		// Unicode whitespace (protocol.md §3.4)
		{"nbsp", "a\u00a0b", -1, []string{"a", "b"}},
		{"em space", "a\u2003b", -1, []string{"a", "b"}},
		{"nel", "a\u0085b", -1, []string{"a", "b"}},
		{"line separator", "a\u2028b\u2029c", -1, []string{"a", "b", "c"}},
		{"ideographic space", "a\u3000b", -1, []string{"a", "b"}},
		{"zero width space is not whitespace", "a\u200bb", -1, []string{"a\u200bb"}},
		{"non-ascii words", "-name Jürgen 😀", -1, []string{"-name", "Jürgen", "😀"}},

		// maxArgs
		{"maxArgs 2 drops the rest", `-name bob -force`, 2, []string{"-name", "bob"}},
		{"maxArgs 3", `-path VALUE extra more`, 3, []string{"-path", "VALUE", "extra"}},
		{"maxArgs 1", `a b`, 1, []string{"a"}},
		{"maxArgs 0", `a b`, 0, nil},
		{"maxArgs larger than words", `a b`, 11, []string{"a", "b"}},
		{"maxArgs equal to words", `a b`, 2, []string{"a", "b"}},
		{"maxArgs stops before unterminated quote", `a b "c`, 2, []string{"a", "b"}},
		{"maxArgs with quoted words", `"a b" 'c d' e`, 2, []string{"a b", "c d"}},
		{"maxArgs -1 unlimited", `a b c d e f g h i j k l`, -1, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseArgs(tt.in, tt.maxArgs)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseArgs(%q, %d) = %q, want %q", tt.in, tt.maxArgs, got, tt.want)
			}
		})
	}
}

func TestGetParam(t *testing.T) {
	// protocol.md §13.4 getParam("-path") column.
	table := []struct {
		in   string
		want string
	}{
		{`-path /data`, "/data"},
		{`-PATH "/my docs/a b"`, "/my docs/a b"},
		{`-path 'say "hi"'`, `say "hi"`},
		{`-path say\"hi\"`, `say"hi"`},
		{`-path -force`, ""},
		{`-path "unterminated`, ""},
		{`-path ""`, ""},
	}
	for _, tt := range table {
		if got := GetParam(ParseArgs(tt.in, -1), "-path"); got != tt.want {
			t.Errorf("getParam(-path) on %q = %q, want %q", tt.in, got, tt.want)
		}
	}

	tests := []struct {
		name  string
		words []string
		key   string
		want  string
	}{
		{"first occurrence wins", []string{"-n", "a", "-n", "b"}, "-n", "a"},
		{"first occurrence without value wins", []string{"-n", "-x", "-n", "b"}, "-n", ""},
		{"key case-insensitive", []string{"-NAME", "Bob"}, "-name", "Bob"},
		{"key arg case-insensitive", []string{"-name", "Bob"}, "-NaMe", "Bob"},
		{"value case kept", []string{"-name", "BoB"}, "-name", "BoB"},
		{"value starting with dash is empty", []string{"-len", "-5"}, "-len", ""},
		{"lone dash value is empty", []string{"-file", "-"}, "-file", ""},
		{"key last", []string{"a", "-name"}, "-name", ""},
		{"absent", []string{"-other", "x"}, "-name", ""},
		{"no words", nil, "-name", ""},
		{"exact match only", []string{"-names", "x"}, "-name", ""},
		{"value may equal another key", []string{"-a", "b", "-b", "c"}, "-a", "b"},
		{"value appears anywhere after", []string{"x", "y", "-k", "v"}, "-k", "v"},
	}
	for _, tt := range tests {
		if got := GetParam(tt.words, tt.key); got != tt.want {
			t.Errorf("%s: GetParam(%q, %q) = %q, want %q", tt.name, tt.words, tt.key, got, tt.want)
		}
	}
}

func TestHasFlag(t *testing.T) {
	words := []string{"-path", "/x", "-FORCE", "-single_step"}
	for _, tt := range []struct {
		key  string
		want bool
	}{
		{"-force", true}, {"-Force", true}, {"-path", true}, {"/x", true},
		{"-SINGLE_STEP", true}, {"-forc", false}, {"force", false}, {"", false}, {"-truncate", false},
	} {
		if got := HasFlag(words, tt.key); got != tt.want {
			t.Errorf("HasFlag(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
	if HasFlag(nil, "-x") {
		t.Error("HasFlag(nil) true")
	}
	// A quoted flag is still a flag (quotes are removed by the splitter).
	if !HasFlag(ParseArgs(`"-force"`, -1), "-force") {
		t.Error(`"-force" not seen as a flag`)
	}
}
