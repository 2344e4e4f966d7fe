package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// clientHeaderBytes builds a 410-byte client header by hand from already
// encoded fields (protocol.md §4).
func clientHeaderBytes(t testing.TB, tag string, app, co []byte) []byte {
	b := make([]byte, 410)
	copy(b[0:4], tag)
	put(t, b, 4, 134, app)
	put(t, b, 138, 272, co)
	return b
}

func TestClientHeaderMarshalLayout(t *testing.T) {
	h := ClientHeader{AppName: "Cmdr v2.2.0", CommonName: "host.example"}
	want := clientHeaderBytes(t, "MRCI", asc16("Cmdr v2.2.0"), asc16("host.example"))
	got := h.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal:\n got % X\nwant % X", got, want)
	}
	if len(got) != ClientHeaderLen || ClientHeaderLen != 410 {
		t.Fatalf("len %d / ClientHeaderLen %d, want 410", len(got), ClientHeaderLen)
	}
	if !bytes.Equal(got[0:4], hx("4D 52 43 49")) {
		t.Errorf("tag % X", got[0:4])
	}
	if got[4] != 'C' || got[5] != 0 || got[138] != 'h' || got[139] != 0 {
		t.Errorf("field offsets wrong: b[4]=%02X b[138]=%02X", got[4], got[138])
	}
}

func TestParseClientHeader(t *testing.T) {
	long67 := strings.Repeat("a", 67)
	long136 := strings.Repeat("c", 136)
	tests := []struct {
		name    string
		in      []byte
		want    ClientHeader
		wantErr error
	}{
		{
			name: "cmdr",
			in:   clientHeaderBytes(t, "MRCI", asc16("Cmdr v2.2.0"), asc16("10.0.0.5")),
			want: ClientHeader{AppName: "Cmdr v2.2.0", CommonName: "10.0.0.5"},
		},
		{
			name: "trimmed",
			in:   clientHeaderBytes(t, "MRCI", asc16(" \t Cmdr \r\n"), append(hx("A0 00 03 20"), asc16("host ")...)),
			want: ClientHeader{AppName: "Cmdr", CommonName: "host"},
		},
		{
			name: "inner space kept",
			in:   clientHeaderBytes(t, "MRCI", asc16("My Client 1.0"), nil),
			want: ClientHeader{AppName: "My Client 1.0"},
		},
		{
			name: "full-width fields without terminator",
			in:   clientHeaderBytes(t, "MRCI", asc16(long67), asc16(long136)),
			want: ClientHeader{AppName: long67, CommonName: long136},
		},
		{
			name: "all zero fields",
			in:   clientHeaderBytes(t, "MRCI", nil, nil),
			want: ClientHeader{},
		},
		{
			name: "non-ascii",
			in:   clientHeaderBytes(t, "MRCI", hx("E9 00 3D D8 00 DE"), hx("AC 20")),
			want: ClientHeader{AppName: "é😀", CommonName: "€"},
		},
		{
			name: "extra bytes after the header are ignored",
			in:   append(clientHeaderBytes(t, "MRCI", asc16("x"), asc16("y")), hx("05 2C 01 00 00 00 00 00")...),
			want: ClientHeader{AppName: "x", CommonName: "y"},
		},
		{name: "bad tag", in: clientHeaderBytes(t, "MRCX", asc16("x"), nil), wantErr: ErrBadTag},
		{name: "lower-case tag", in: clientHeaderBytes(t, "mrci", asc16("x"), nil), wantErr: ErrBadTag},
		{name: "http", in: append([]byte("GET / HTTP/1.1\r\n"), make([]byte, 400)...), wantErr: ErrBadTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClientHeader(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseClientHeaderShort(t *testing.T) {
	full := clientHeaderBytes(t, "MRCI", asc16("x"), asc16("y"))
	for _, n := range []int{0, 3, 4, 137, 138, 409} {
		_, err := ParseClientHeader(full[:n])
		if err == nil {
			t.Errorf("%d bytes: no error", n)
		}
		if errors.Is(err, ErrBadTag) {
			t.Errorf("%d bytes: short header reported as bad tag", n)
		}
	}
	// A short buffer with a wrong tag is still "short", not a crash.
	if _, err := ParseClientHeader([]byte("XY")); err == nil {
		t.Error("2 bytes: no error")
	}
}

func TestClientHeaderTruncation(t *testing.T) {
	h := ClientHeader{AppName: strings.Repeat("a", 70), CommonName: strings.Repeat("c", 140)}
	b := h.Marshal()
	if len(b) != 410 {
		t.Fatalf("len %d", len(b))
	}
	got, err := ParseClientHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.AppName != strings.Repeat("a", 67) || got.CommonName != strings.Repeat("c", 136) {
		t.Errorf("truncated to %d/%d chars, want 67/136", len(got.AppName), len(got.CommonName))
	}
	// A pair straddling the end of the app-name field is dropped, and the
	// common name still starts at 138.
	h = ClientHeader{AppName: strings.Repeat("a", 66) + "😀", CommonName: "z"}
	b = h.Marshal()
	if !bytes.Equal(b[136:140], hx("00 00 7A 00")) {
		t.Errorf("bytes 136..139 = % X, want 00 00 7A 00", b[136:140])
	}
}

func TestHostHeaderMarshal(t *testing.T) {
	sid := SessionID(seq(0x01, 28))
	for _, reply := range []byte{ReplyPlain, ReplyTLS, ReplyNoCert} {
		h := HostHeader{Reply: reply, Version: Version, SessionID: sid}
		want := append([]byte{reply}, hx("02 00 00 00 02 00")...)
		want = append(want, hx("01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C")...)
		got := h.Marshal()
		if !bytes.Equal(got, want) {
			t.Errorf("reply %d:\n got % X\nwant % X", reply, got, want)
		}
		if len(got) != HostHeaderLen || HostHeaderLen != 35 {
			t.Errorf("len %d, HostHeaderLen %d, want 35", len(got), HostHeaderLen)
		}
		back, err := ParseHostHeader(got)
		if err != nil || back != h {
			t.Errorf("ParseHostHeader = %+v, %v; want %+v", back, err, h)
		}
	}
	if ReplyPlain != 1 || ReplyTLS != 2 || ReplyNoCert != 4 {
		t.Errorf("reply codes %d %d %d, want 1 2 4", ReplyPlain, ReplyTLS, ReplyNoCert)
	}
}

func TestHostHeaderVersionBytes(t *testing.T) {
	h := HostHeader{Reply: 1, Version: HostVersion{Major: 0x0102, Minor: 0x0304, Patch: 0xFFFE}}
	want := append(hx("01 02 01 04 03 FE FF"), make([]byte, 28)...)
	if got := h.Marshal(); !bytes.Equal(got, want) {
		t.Errorf("got % X, want % X", got, want)
	}
	if Version.String() != "2.0.2" {
		t.Errorf("Version = %s, want 2.0.2", Version)
	}
}

func TestParseHostHeader(t *testing.T) {
	in := append(hx("02 02 00 00 00 02 00"), seq(0xE0, 28)...)
	h, err := ParseHostHeader(in)
	if err != nil {
		t.Fatal(err)
	}
	if h.Reply != 2 || h.Version != (HostVersion{2, 0, 2}) || h.SessionID != SessionID(seq(0xE0, 28)) {
		t.Errorf("got %+v", h)
	}
	if _, err := ParseHostHeader(in[:34]); err == nil {
		t.Error("34 bytes: no error")
	}
}

func TestIDs(t *testing.T) {
	sid := SessionID(seq(0x00, 28))
	if got := sid.String(); got != "000102030405060708090a0b0c0d0e0f101112131415161718191a1b" {
		t.Errorf("SessionID.String = %s", got)
	}
	var uid UserID
	if !uid.IsZero() || !(SessionID{}).IsZero() {
		t.Error("zero ids not IsZero")
	}
	uid[31] = 0xAB
	if uid.IsZero() || sid.IsZero() {
		t.Error("non-zero ids IsZero")
	}
	if got := uid.String(); got != strings.Repeat("00", 31)+"ab" {
		t.Errorf("UserID.String = %s", got)
	}
	if got := HexID(hx("00 0F F0 FF 5A")); got != "000ff0ff5a" {
		t.Errorf("HexID = %s", got)
	}
	if HexID(nil) != "" {
		t.Error("HexID(nil) not empty")
	}
}
