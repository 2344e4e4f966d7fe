package wire

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []byte
	}{
		{"empty", "", []byte{}},
		{"ascii", "AB", hx("41 00 42 00")},
		{"ready", "\nReady!\n\n", hx("0A 00 52 00 65 00 61 00 64 00 79 00 21 00 0A 00 0A 00")},
		{"latin1", "é", hx("E9 00")},
		{"bmp", "€", hx("AC 20")},
		{"u0100", "AĀ", hx("41 00 00 01")},
		{"surrogate pair", "😀", hx("3D D8 00 DE")},
		{"no bom added", "a", hx("61 00")},
		{"invalid utf8 becomes U+FFFD", "a\xffb", hx("61 00 FD FF 62 00")},
		{"embedded nul kept", "a\x00b", hx("61 00 00 00 62 00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EncodeText(tt.in)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("EncodeText(%q) = % X, want % X", tt.in, got, tt.want)
			}
			if n := TextLen(tt.in); n != len(tt.want)/2 {
				t.Errorf("TextLen(%q) = %d, want %d", tt.in, n, len(tt.want)/2)
			}
			// AppendText must append, not overwrite.
			got = AppendText([]byte{0xEE}, tt.in)
			if got[0] != 0xEE || !bytes.Equal(got[1:], tt.want) {
				t.Errorf("AppendText(prefix, %q) = % X", tt.in, got)
			}
		})
	}
}

func TestTextLenCountsCodeUnits(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0}, {"abc", 3}, {"é€", 2}, {"a😀", 3}, {"😀😀", 4},
	} {
		if got := TextLen(tt.in); got != tt.want {
			t.Errorf("TextLen(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"nil", nil, ""},
		{"single odd byte", hx("41"), ""},
		{"ascii", hx("41 00 42 00"), "AB"},
		{"ready", hx("0A 00 52 00 65 00 61 00 64 00 79 00 21 00 0A 00 0A 00"), "\nReady!\n\n"},
		// The original deletes the misaligned "00 00" in 41 [00 00] 01 and
		// corrupts this; aligned decoding must keep both characters.
		{"A then U+0100 survives", hx("41 00 00 01"), "AĀ"},
		{"A then U+2000 survives", hx("41 00 00 20"), "A\u2000"},
		{"U+0100 U+0100", hx("00 01 00 01"), "ĀĀ"},
		{"drops U+0000 units", hx("00 00 41 00 00 00 42 00 00 00"), "AB"},
		{"only zeros", hx("00 00 00 00"), ""},
		{"leading bom dropped", hx("FF FE 41 00"), "A"},
		{"only bom", hx("FF FE"), ""},
		{"only one leading bom dropped", hx("FF FE FF FE 41 00"), "\uFEFFA"},
		{"inner bom kept", hx("41 00 FF FE"), "A\uFEFF"},
		{"big-endian bom is a character", hx("FE FF 41 00"), "\uFFFEA"},
		{"bom then odd byte", hx("FF FE 41"), ""},
		{"odd trailing byte ignored", hx("41 00 42"), "A"},
		{"odd trailing zero ignored", hx("41 00 00"), "A"},
		{"pair", hx("3D D8 00 DE"), "😀"},
		{"pair between ascii", hx("61 00 3D D8 00 DE 62 00"), "a😀b"},
		{"lone high at end", hx("3D D8"), "\uFFFD"},
		{"lone high before ascii", hx("3D D8 41 00"), "\uFFFDA"},
		{"lone low", hx("00 DE 41 00"), "\uFFFDA"},
		{"reversed pair", hx("00 DE 3D D8"), "\uFFFD\uFFFD"},
		{"high high low", hx("3D D8 3D D8 00 DE"), "\uFFFD😀"},
		{"high then odd byte", hx("3D D8 00"), "\uFFFD"},
		{"latin1 and bmp", hx("E9 00 AC 20"), "é€"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DecodeText(tt.in)
			if got != tt.want {
				t.Errorf("DecodeText(% X) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("DecodeText(% X) returned invalid UTF-8 %q", tt.in, got)
			}
		})
	}
}

func TestAppendFixed(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		width int
		want  []byte
	}{
		{"padded", "ab", 8, hx("61 00 62 00 00 00 00 00")},
		{"empty", "", 4, hx("00 00 00 00")},
		{"exact fit", "abcd", 8, hx("61 00 62 00 63 00 64 00")},
		{"truncated", "abcde", 8, hx("61 00 62 00 63 00 64 00")},
		{"pair fits exactly", "ab😀", 8, hx("61 00 62 00 3D D8 00 DE")},
		{"pair would be split: dropped, padded", "ab😀", 6, hx("61 00 62 00 00 00")},
		{"truncation stops at pair even if later chars fit", "a😀b", 4, hx("61 00 00 00")},
		{"pair alone does not fit", "😀", 2, hx("00 00")},
		{"zero width", "abc", 0, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendFixed(nil, tt.in, tt.width)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("AppendFixed(%q, %d) = % X, want % X", tt.in, tt.width, got, tt.want)
			}
			got = AppendFixed([]byte{0xAA, 0xBB}, tt.in, tt.width)
			if len(got) != 2+tt.width || got[0] != 0xAA || got[1] != 0xBB || !bytes.Equal(got[2:], tt.want) {
				t.Errorf("AppendFixed(prefix, %q, %d) = % X", tt.in, tt.width, got)
			}
		})
	}
}

func TestAppendFixedNeverSplitsPair(t *testing.T) {
	// 66 BMP characters then a pair: the pair needs units 67 and 68 but the
	// 134-byte app-name field holds only 67.
	s := strings.Repeat("x", 66) + "😀"
	b := AppendFixed(nil, s, appNameWidth)
	if len(b) != appNameWidth {
		t.Fatalf("len = %d, want %d", len(b), appNameWidth)
	}
	if !bytes.Equal(b[132:], hx("00 00")) {
		t.Errorf("last unit = % X, want 00 00 (pair must not be split)", b[132:])
	}
	if got := ReadFixed(b); got != strings.Repeat("x", 66) {
		t.Errorf("ReadFixed = %q", got)
	}
	// Every width from 0 to 20 over a string mixing pairs and BMP characters:
	// the field must decode without U+FFFD.
	mixed := "a😀b😀😀c€😀"
	for w := 0; w <= 20; w += 2 {
		f := AppendFixed(nil, mixed, w)
		if len(f) != w {
			t.Fatalf("width %d: len %d", w, len(f))
		}
		got := ReadFixed(f)
		if strings.ContainsRune(got, utf8.RuneError) {
			t.Errorf("width %d: split pair, decoded %q", w, got)
		}
		if !strings.HasPrefix(mixed, got) {
			t.Errorf("width %d: %q is not a prefix of %q", w, got, mixed)
		}
	}
}

func TestReadFixed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"padded", hx("61 00 62 00 00 00 00 00"), "ab"},
		{"full", hx("61 00 62 00"), "ab"},
		{"stops at first zero unit", hx("61 00 00 00 62 00"), "a"},
		{"aligned: U+0100 is not a terminator", hx("41 00 00 01 00 00"), "AĀ"},
		{"all zero", hx("00 00 00 00"), ""},
		{"empty", nil, ""},
		{"pair", hx("3D D8 00 DE 00 00"), "😀"},
	}
	for _, tt := range tests {
		if got := ReadFixed(tt.in); got != tt.want {
			t.Errorf("%s: ReadFixed(% X) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestAppendNullTerm(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{"", hx("00 00")},
		{"ab", hx("61 00 62 00 00 00")},
		{"a\x00b", hx("61 00 62 00 00 00")}, // embedded U+0000 dropped
		{"Ā", hx("00 01 00 00")},
		{"😀", hx("3D D8 00 DE 00 00")},
	}
	for _, tt := range tests {
		if got := AppendNullTerm(nil, tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("AppendNullTerm(%q) = % X, want % X", tt.in, got, tt.want)
		}
	}
}

func TestReadNullTerm(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		want     string
		wantRest []byte
	}{
		{"terminated", hx("61 00 00 00 62 00"), "a", hx("62 00")},
		{"empty string", hx("00 00 61 00"), "", hx("61 00")},
		{"terminator at end", hx("61 00 62 00 00 00"), "ab", []byte{}},
		{"missing terminator", hx("61 00 62 00"), "ab", nil},
		{"missing terminator, odd byte", hx("61 00 62"), "a", nil},
		{"empty input", nil, "", nil},
		{"aligned scan skips misaligned 00 00", hx("41 00 00 01 00 00 42 00"), "AĀ", hx("42 00")},
		{"single zero byte", hx("00"), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest := ReadNullTerm(tt.in)
			if got != tt.want || !bytes.Equal(rest, tt.wantRest) {
				t.Errorf("ReadNullTerm(% X) = %q, % X; want %q, % X", tt.in, got, rest, tt.want, tt.wantRest)
			}
		})
	}
}

func TestNullTermSequence(t *testing.T) {
	b := AppendNullTerm(nil, "one")
	b = AppendNullTerm(b, "")
	b = AppendNullTerm(b, "thrée😀")
	want := append(asc16("one"), 0, 0, 0, 0)
	want = append(want, asc16("thr")...)
	want = append(want, hx("E9 00 65 00 3D D8 00 DE 00 00")...)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded % X, want % X", b, want)
	}
	var got []string
	rest := b
	for range 3 {
		var s string
		s, rest = ReadNullTerm(rest)
		got = append(got, s)
	}
	if strings.Join(got, "|") != "one||thrée😀" || len(rest) != 0 {
		t.Errorf("decoded %q, rest % X", got, rest)
	}
}
