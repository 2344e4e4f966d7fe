package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

const fuzzFrameLimit = 64

func FuzzReadFrame(f *testing.F) {
	f.Add(hx("05 2C 01 00 00 00 00 00"))
	f.Add(hx("02 01 00 00 00 12 00 00 0A 00 52 00 65 00 61 00 64 00 79 00 21 00 0A 00 0A 00"))
	f.Add(hx("05 2C 01 00 00 00 00 00 05 2C 01 00 00 00 00 00 02 2C 01 00 00 02 00 00 41 00"))
	f.Add(hx("0E 00 01 00 00 FF FF FF"))                        // over the limit
	f.Add(hx("0E 00 01 00 00 41 00 00"))                        // 65 bytes announced, limit 64
	f.Add(append(hx("0E 00 01 00 00 40 00 00"), seq(0, 64)...)) // exactly the limit
	f.Add(hx("02 01 00 00 00 04 00 00 41"))                     // payload cut short
	f.Add(hx("05 2C"))                                          // header cut short
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), fuzzFrameLimit)
		var consumed []byte
		for {
			fr, err := r.ReadFrame()
			rest := data[len(consumed):]
			if err != nil {
				switch {
				case err == io.EOF:
					if len(rest) != 0 {
						t.Fatalf("io.EOF with %d unconsumed bytes", len(rest))
					}
				case errors.Is(err, ErrPayloadTooLarge):
					h, herr := ParseFrameHeader(rest)
					if herr != nil || h.Len <= fuzzFrameLimit {
						t.Fatalf("ErrPayloadTooLarge for header % X", head(rest))
					}
				case err == io.ErrUnexpectedEOF:
					if len(rest) == 0 {
						t.Fatal("io.ErrUnexpectedEOF at a frame boundary")
					}
					if h, herr := ParseFrameHeader(rest); herr == nil && len(rest) >= FrameHeaderLen+h.Len {
						t.Fatalf("io.ErrUnexpectedEOF but the whole frame (%d bytes) is present", h.Len)
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(fr.Payload) > fuzzFrameLimit {
				t.Fatalf("payload of %d bytes over the limit", len(fr.Payload))
			}
			enc, err := AppendFrame(consumed, fr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, enc) {
				t.Fatalf("frame %+v re-encodes to bytes that differ from the input", fr)
			}
			consumed = enc
		}
	})
}

func FuzzParseArgs(f *testing.F) {
	seeds := []string{
		`-path /data`, `-PATH "/my docs/a b"`, `-path 'say "hi"'`, `-path say\"hi\"`,
		`-path -force`, `-path "unterminated`, `-path ""`, `ab"c d"e`, `\\"`, `C:\dir`,
		`-name bob -force`, "a\u00a0b\u2003c", `'a\'b' "c\"d"`, `\`, "", "\xff\xfe",
	}
	for i, s := range seeds {
		f.Add(s, i%4-1)
	}
	f.Fuzz(func(t *testing.T, text string, maxArgs int) {
		n := -1
		if maxArgs >= 0 {
			n = maxArgs % 16
		}
		all := ParseArgs(text, -1)
		got := ParseArgs(text, n)
		for _, w := range all {
			if w == "" {
				t.Fatalf("empty word in %q", all)
			}
		}
		if n >= 0 {
			if len(got) > n {
				t.Fatalf("maxArgs %d returned %d words", n, len(got))
			}
			// A limited parse is the prefix of the unlimited one.
			want := all[:min(n, len(all))]
			if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
				t.Fatalf("maxArgs %d: %q, want prefix %q", n, got, want)
			}
		}
		// GetParam/HasFlag never panic and agree with each other.
		for i, w := range all {
			if !HasFlag(all, w) {
				t.Fatalf("HasFlag misses %q", w)
			}
			v := GetParam(all, w)
			if strings.HasPrefix(v, "-") {
				t.Fatalf("GetParam returned %q", v)
			}
			first := i
			for j := range all[:i] {
				if strings.EqualFold(all[j], w) {
					first = j
					break
				}
			}
			if v != "" && (first+1 >= len(all) || all[first+1] != v) {
				t.Fatalf("GetParam(%q) = %q is not the word after the first occurrence", w, v)
			}
		}

		// Round trip: plain words joined by spaces parse back to themselves.
		if !utf8.ValidString(text) {
			return
		}
		var plain []string
		for _, w := range strings.Fields(text) {
			if !strings.ContainsAny(w, "'\"\\") {
				plain = append(plain, w)
			}
		}
		back := ParseArgs(strings.Join(plain, " "), -1)
		if len(back) != len(plain) || (len(plain) > 0 && !reflect.DeepEqual(back, plain)) {
			t.Fatalf("round trip %q -> %q", plain, back)
		}
		// Quoting each plain word (and re-joining with other whitespace)
		// gives the same words.
		var quoted []string
		for _, w := range plain {
			quoted = append(quoted, `"`+w+`"`)
		}
		back = ParseArgs(strings.Join(quoted, "\t\u2003"), -1)
		if len(back) != len(plain) || (len(plain) > 0 && !reflect.DeepEqual(back, plain)) {
			t.Fatalf("quoted round trip %q -> %q", plain, back)
		}
	})
}

func FuzzDecodeText(f *testing.F) {
	f.Add(hx("41 00 00 01"), "AĀ")
	f.Add(hx("FF FE FF FE 41 00"), "\uFEFF\uFEFFa")
	f.Add(hx("3D D8 41 00 00 DE"), "😀")
	f.Add(hx("00 00 41"), "a\x00b")
	f.Add([]byte{}, "\xed\xa0\x80")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		d := DecodeText(b)
		if !utf8.ValidString(d) {
			t.Fatalf("DecodeText(% X) = %q: invalid UTF-8", b, d)
		}
		if strings.ContainsRune(d, 0) {
			t.Fatalf("DecodeText(% X) = %q contains U+0000", b, d)
		}
		if len(b)%2 == 1 && DecodeText(b[:len(b)-1]) != d {
			t.Fatal("odd trailing byte changed the result")
		}
		// Re-encoding is stable: the only change a second decode makes is
		// to drop one leading U+FEFF (taken as a BOM).
		e := EncodeText(d)
		if len(e) != 2*TextLen(d) {
			t.Fatalf("len(EncodeText) = %d, TextLen = %d", len(e), TextLen(d))
		}
		if got := DecodeText(e); got != strings.TrimPrefix(d, "\uFEFF") {
			t.Fatalf("DecodeText(EncodeText(%q)) = %q", d, got)
		}
		if got := DecodeText(append([]byte{0xFF, 0xFE}, e...)); got != d {
			t.Fatalf("with BOM: %q, want %q", got, d)
		}

		// Encoding an arbitrary Go string: decode gives the string with
		// invalid UTF-8 replaced, U+0000 dropped and one leading BOM dropped,
		// and after that encode/decode is a fixed point.
		var want strings.Builder
		for _, r := range s {
			if r != 0 {
				want.WriteRune(r)
			}
		}
		d1 := DecodeText(EncodeText(s))
		if d1 != strings.TrimPrefix(want.String(), "\uFEFF") {
			t.Fatalf("DecodeText(EncodeText(%q)) = %q", s, d1)
		}
		if !strings.HasPrefix(d1, "\uFEFF") {
			e1 := EncodeText(d1)
			if d2 := DecodeText(e1); d2 != d1 || !bytes.Equal(EncodeText(d2), e1) {
				t.Fatalf("not stable: %q -> %q", d1, d2)
			}
		}

		// Fixed-width fields never split a pair and decode to a prefix.
		for _, w := range []int{0, 2, 4, 6, 10} {
			fx := AppendFixed(nil, d, w)
			if len(fx) != w {
				t.Fatalf("AppendFixed width %d: %d bytes", w, len(fx))
			}
			if got := ReadFixed(fx); !strings.HasPrefix(strings.TrimPrefix(d, "\uFEFF"), got) {
				t.Fatalf("ReadFixed(AppendFixed(%q, %d)) = %q", d, w, got)
			}
		}
		// Null-terminated strings round trip and leave the rest intact.
		nt := AppendNullTerm(nil, d)
		nt = append(nt, b...)
		got, rest := ReadNullTerm(nt)
		if got != strings.TrimPrefix(d, "\uFEFF") || !bytes.Equal(rest, b) {
			t.Fatalf("ReadNullTerm(AppendNullTerm(%q)+b) = %q, rest % X", d, got, rest)
		}
	})
}

func FuzzParseClientHeader(f *testing.F) {
	f.Add(ClientHeader{AppName: "Cmdr v2.2.0", CommonName: "host.example"}.Marshal())
	f.Add(ClientHeader{AppName: strings.Repeat("a", 66) + "😀", CommonName: " x "}.Marshal())
	f.Add(append([]byte("MRCX"), make([]byte, 406)...))
	f.Add([]byte("MRCI"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseClientHeader(b)
		if err != nil {
			if len(b) >= ClientHeaderLen && string(b[:4]) == "MRCI" {
				t.Fatalf("valid header rejected: %v", err)
			}
			if errors.Is(err, ErrBadTag) != (len(b) >= ClientHeaderLen && string(b[:4]) != "MRCI") {
				t.Fatalf("wrong error %v", err)
			}
			return
		}
		if len(b) < ClientHeaderLen || string(b[:4]) != "MRCI" {
			t.Fatal("invalid header accepted")
		}
		for _, s := range []string{h.AppName, h.CommonName} {
			if !utf8.ValidString(s) || strings.TrimFunc(s, unicode.IsSpace) != s || strings.ContainsRune(s, 0) {
				t.Fatalf("field %q not clean", s)
			}
		}
		if TextLen(h.AppName) > 67 || TextLen(h.CommonName) > 136 {
			t.Fatalf("field too long: %d / %d units", TextLen(h.AppName), TextLen(h.CommonName))
		}
		// Ignoring bytes after the header.
		if h2, _ := ParseClientHeader(b[:ClientHeaderLen]); h2 != h {
			t.Fatal("bytes after the header changed the result")
		}
		// Re-marshal and re-parse gives the same header (modulo a leading
		// U+FEFF, which a reader takes as a BOM).
		if strings.HasPrefix(h.AppName, "\uFEFF") || strings.HasPrefix(h.CommonName, "\uFEFF") {
			return
		}
		m := h.Marshal()
		if len(m) != ClientHeaderLen {
			t.Fatalf("Marshal len %d", len(m))
		}
		if h2, err := ParseClientHeader(m); err != nil || h2 != h {
			t.Fatalf("re-parse: %+v, %v; want %+v", h2, err, h)
		}
	})
}

func FuzzParsePayloads(f *testing.F) {
	p := testPeer()
	f.Add(p.Marshal())
	f.Add((&MyInfo{Peer: p, Email: "a@b.c", Rank: 2, EmailVerified: true}).Marshal())
	f.Add((&PeerStat{SessionID: p.SessionID, Open: SubChannelList{2: sc(5, 1)}}).Marshal())
	f.Add((&NewCmd{ID: 300, GenFile: 2, Name: "ls", Library: "lib", Summary: "s", IO: "i", Long: "l"}).Marshal())
	f.Add((&ChMemberInfo{ChannelID: 7, Level: 4, UserName: "bob", ChannelName: "lobby"}).Marshal())
	f.Add(hx("00 00 00 00 00 00 00 00 07 05 00 00 00 00 00 00 00 02"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkLen := func(name string, err error, min int) {
			t.Helper()
			if (err == nil) != (len(b) >= min) {
				t.Fatalf("%s: %d bytes, err %v", name, len(b), err)
			}
		}
		pi, err := ParsePeerInfo(b)
		checkLen("PeerInfo", err, PeerInfoLen)
		if err == nil {
			if m := pi.Marshal(); len(m) != PeerInfoLen || !bytes.Equal(m[:60], b[:60]) {
				t.Fatal("PeerInfo ids not preserved")
			}
		}
		mi, err := ParseMyInfo(b)
		checkLen("MyInfo", err, MyInfoLen)
		if err == nil {
			m := mi.Marshal()
			if len(m) != MyInfoLen || !bytes.Equal(m[434:438], b[434:438]) || mi.Peer != pi {
				t.Fatal("MyInfo rank/peer not preserved")
			}
		}
		ps, err := ParsePeerStat(b)
		checkLen("PeerStat", err, PeerStatLen)
		if err == nil && len(ps.Marshal()) != PeerStatLen {
			t.Fatal("PeerStat length")
		}
		nc, err := ParseNewCmd(b)
		checkLen("NewCmd", err, NewCmdMinLen)
		if err == nil {
			rb := RebuildNewCmd(b, nc.ID+1, nc.Name)
			if len(rb) != len(b) || !bytes.Equal(rb[131:], b[131:]) || rb[2] != b[2] {
				t.Fatal("RebuildNewCmd changed the tail")
			}
			for _, s := range []string{nc.Name, nc.Library, nc.Summary, nc.IO, nc.Long} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 %q", s)
				}
			}
		}
		cm, err := ParseChMemberInfo(b)
		checkLen("ChMemberInfo", err, ChMemberInfoMin)
		if err == nil {
			m := cm.Marshal()
			if !bytes.Equal(m[:40], b[:40]) || (m[40] != 0) != (b[40] != 0) || m[41] != b[41] {
				t.Fatal("ChMemberInfo fixed part not preserved")
			}
		}
		l, err := ParseSubChannelList(b)
		checkLen("SubChannelList", err, SubChannelListLen)
		if err == nil {
			m := l.Marshal()
			for i := range MaxOpenSubChannels {
				slot := b[i*9 : i*9+9]
				if l[i].Valid() {
					if !bytes.Equal(m[i*9:i*9+9], slot) {
						t.Fatalf("slot %d not preserved", i)
					}
				} else if l[i] != (SubChannel{}) || !bytes.Equal(m[i*9:i*9+9], make([]byte, 9)) {
					t.Fatalf("empty slot %d = %+v", i, l[i])
				}
			}
			if back, _ := ParseSubChannelList(m); back != l {
				t.Fatal("SubChannelList round trip")
			}
			if l.Len() != len(l.Entries()) || (l.Len() > 0) != l.Overlaps(&l) {
				t.Fatal("Len/Entries/Overlaps disagree")
			}
		}
		if _, err := ParseSubChannel(b); (err == nil) != (len(b) >= SubChannelLen) {
			t.Fatal("ParseSubChannel length check")
		}
		if a, err := ParseAsyncPayload(b); (err == nil) != (len(b) >= 2) || (err == nil && len(a.Data) != len(b)-2) {
			t.Fatal("ParseAsyncPayload")
		}
		if _, err := ParseHostHeader(b); (err == nil) != (len(b) >= HostHeaderLen) {
			t.Fatal("ParseHostHeader length check")
		}
		if _, err := ParseFrameHeader(b); (err == nil) != (len(b) >= FrameHeaderLen) {
			t.Fatal("ParseFrameHeader length check")
		}
		_, _ = ReadNullTerm(b)
		_ = ReadFixed(b)
	})
}
