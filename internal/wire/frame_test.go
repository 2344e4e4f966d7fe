package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestEncodeFrameVectors(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want []byte
	}{
		{
			name: "IDLE cmd 300 (protocol.md §7 example)",
			f:    Frame{Type: TypeIdle, Cmd: 300},
			want: hx("05 2C 01 00 00 00 00 00"),
		},
		{
			name: "ASYNC_RDY (protocol.md §6.7)",
			f:    Frame{Type: TypeText, Cmd: uint16(AsyncRdy), Payload: hx("0A 00 52 00 65 00 61 00 64 00 79 00 21 00 0A 00 0A 00")},
			want: hx("02 01 00 00 00 12 00 00 0A 00 52 00 65 00 61 00 64 00 79 00 21 00 0A 00 0A 00"),
		},
		{
			name: "GEN_FILE -to_host (types.md §5.5 #2)",
			f:    Frame{Type: TypeGenFile, Cmd: 300, Payload: asc16("-to_host")},
			want: hx("01 2C 01 00 00 10 00 00 2D 00 74 00 6F 00 5F 00 68 00 6F 00 73 00 74 00"),
		},
		{
			name: "GEN_FILE raw data (types.md §5.6 #4)",
			f:    Frame{Type: TypeGenFile, Cmd: 301, Payload: hx("61 2C 62 0D 0A")},
			want: hx("01 2D 01 00 00 05 00 00 61 2C 62 0D 0A"),
		},
		{
			name: "branch and 3-byte length little-endian",
			f:    Frame{Type: TypeBytes, Cmd: 0xBEEF, Branch: 0x1234, Payload: make([]byte, 0x010203)},
			want: append(hx("0E EF BE 34 12 03 02 01"), make([]byte, 0x010203)...),
		},
		{
			name: "HOST_CERT on ASYNC_SYS_MSG",
			f:    Frame{Type: TypeHostCert, Cmd: 2, Payload: []byte("PEM")},
			want: hx("06 02 00 00 00 03 00 00 50 45 4D"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EncodeFrame(tt.f); !bytes.Equal(got, tt.want) {
				t.Errorf("EncodeFrame:\n got % X\nwant % X", head(got), head(tt.want))
			}
			got, err := AppendFrame([]byte{0x99}, tt.f)
			if err != nil || got[0] != 0x99 || !bytes.Equal(got[1:], tt.want) {
				t.Errorf("AppendFrame(prefix) = % X, %v", head(got), err)
			}
			h, err := ParseFrameHeader(tt.want)
			if err != nil || h.Type != tt.f.Type || h.Cmd != tt.f.Cmd || h.Branch != tt.f.Branch || h.Len != len(tt.f.Payload) {
				t.Errorf("ParseFrameHeader = %+v, %v", h, err)
			}
		})
	}
	if got := EncodeText("\nReady!\n\n"); !bytes.Equal(got, hx("0A 00 52 00 65 00 61 00 64 00 79 00 21 00 0A 00 0A 00")) {
		t.Errorf("ready text = % X", got)
	}
}

func head(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

func TestFrameHeaderMaxLength(t *testing.T) {
	got := AppendFrameHeader(nil, TypeBytes, 256, 0, MaxPayload)
	if want := hx("0E 00 01 00 00 FF FF FF"); !bytes.Equal(got, want) {
		t.Errorf("header = % X, want % X", got, want)
	}
	if MaxPayload != 16777215 {
		t.Errorf("MaxPayload = %d", MaxPayload)
	}
	h, err := ParseFrameHeader(got)
	if err != nil || h.Len != 16777215 {
		t.Errorf("ParseFrameHeader = %+v, %v", h, err)
	}
}

func TestParseFrameHeaderShort(t *testing.T) {
	for n := 0; n < 8; n++ {
		if _, err := ParseFrameHeader(make([]byte, n)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%d bytes: err %v", n, err)
		}
	}
}

func TestAppendFrameTooLarge(t *testing.T) {
	big := make([]byte, MaxPayload+1)
	dst := []byte{1, 2, 3}
	got, err := AppendFrame(dst, Frame{Type: TypeBytes, Cmd: 300, Payload: big})
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("err = %v, want ErrPayloadTooLarge", err)
	}
	if !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Errorf("dst modified on error: len %d", len(got))
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("EncodeFrame did not panic on an oversized payload")
			}
		}()
		EncodeFrame(Frame{Payload: big})
	}()
	// Exactly MaxPayload is fine.
	got, err = AppendFrame(nil, Frame{Type: TypeBytes, Payload: big[:MaxPayload]})
	if err != nil || len(got) != 8+MaxPayload || !bytes.Equal(got[5:8], hx("FF FF FF")) {
		t.Errorf("MaxPayload frame: len %d, err %v", len(got), err)
	}
}

func TestFrameID32(t *testing.T) {
	f := Frame{Cmd: 300, Branch: 2}
	if got := f.ID32(); got != 0x0002012C {
		t.Errorf("ID32 = %#x, want 0x2012c", got)
	}
	if got := (Frame{Cmd: 0xFFFF, Branch: 0xFFFF}).ID32(); got != 0xFFFFFFFF {
		t.Errorf("ID32 = %#x", got)
	}
}

func TestReaderBackToBack(t *testing.T) {
	stream := hx("05 2C 01 00 00 00 00 00" + // IDLE 300/0
		"02 01 00 00 00 02 00 00 41 00" + // TEXT 1/0 "A"
		"1C 2D 01 07 00 00 00 00" + // HALT_CMD 301/7
		"0E FF FF FF FF 03 00 00 AA BB CC") // BYTES 65535/65535
	want := []Frame{
		{Type: TypeIdle, Cmd: 300, Payload: []byte{}},
		{Type: TypeText, Cmd: 1, Payload: hx("41 00")},
		{Type: TypeHaltCmd, Cmd: 301, Branch: 7, Payload: []byte{}},
		{Type: TypeBytes, Cmd: 0xFFFF, Branch: 0xFFFF, Payload: hx("AA BB CC")},
	}
	readers := map[string]io.Reader{
		"whole":   bytes.NewReader(stream),
		"onebyte": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":    iotest.HalfReader(bytes.NewReader(stream)),
	}
	for name, src := range readers {
		t.Run(name, func(t *testing.T) {
			r := NewReader(src, 0)
			for i, w := range want {
				f, err := r.ReadFrame()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Type != w.Type || f.Cmd != w.Cmd || f.Branch != w.Branch || !bytes.Equal(f.Payload, w.Payload) {
					t.Errorf("frame %d = %+v, want %+v", i, f, w)
				}
				if f.Payload == nil {
					t.Errorf("frame %d: nil payload (want empty, non-nil)", i)
				}
			}
			if _, err := r.ReadFrame(); err != io.EOF {
				t.Errorf("after last frame: err %v, want io.EOF", err)
			}
		})
	}
}

func TestReaderPayloadIsFresh(t *testing.T) {
	stream := hx("02 01 00 00 00 02 00 00 41 00 02 01 00 00 00 02 00 00 42 00")
	r := NewReader(bytes.NewReader(stream), 0)
	a, _ := r.ReadFrame()
	b, _ := r.ReadFrame()
	if string(a.Payload) != "A\x00" || string(b.Payload) != "B\x00" {
		t.Errorf("payloads % X / % X: first frame's payload was overwritten", a.Payload, b.Payload)
	}
}

func TestReaderEOF(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty stream", nil, io.EOF},
		{"partial header", hx("05 2C 01"), io.ErrUnexpectedEOF},
		{"7 header bytes", hx("05 2C 01 00 00 00 00"), io.ErrUnexpectedEOF},
		{"header only, payload missing", hx("02 01 00 00 00 02 00 00"), io.ErrUnexpectedEOF},
		{"payload cut short", hx("02 01 00 00 00 04 00 00 41 00 42"), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.in), 0).ReadFrame()
			if err != tt.want {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// Clean EOF after a complete frame, ErrUnexpectedEOF after a partial one.
	r := NewReader(bytes.NewReader(hx("05 2C 01 00 00 00 00 00 05 2C")), 0)
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFrame(); err != io.ErrUnexpectedEOF {
		t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	src := io.MultiReader(bytes.NewReader(hx("02 01 00 00 00 04 00 00 41")), iotest.ErrReader(boom))
	if _, err := NewReader(src, 0).ReadFrame(); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the underlying error", err)
	}
}

func TestReaderLimit(t *testing.T) {
	stream := hx("0E 2C 01 03 00 0B 00 00") // BYTES 300/3, 11 bytes announced
	r := NewReader(bytes.NewReader(append(stream, make([]byte, 11)...)), 10)
	h, err := r.ReadHeader()
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("err = %v, want ErrPayloadTooLarge", err)
	}
	if h != (FrameHeader{Type: TypeBytes, Cmd: 300, Branch: 3, Len: 11}) {
		t.Errorf("header returned with the error = %+v", h)
	}

	r = NewReader(bytes.NewReader(append(stream, make([]byte, 11)...)), 10)
	if _, err := r.ReadFrame(); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("ReadFrame err = %v, want ErrPayloadTooLarge", err)
	}

	// Exactly at the limit is accepted.
	r = NewReader(bytes.NewReader(append(hx("0E 2C 01 03 00 0A 00 00"), seq(0, 10)...)), 10)
	f, err := r.ReadFrame()
	if err != nil || !bytes.Equal(f.Payload, seq(0, 10)) {
		t.Errorf("at limit: %+v, %v", f, err)
	}

	// A header announcing the wire maximum is rejected by a small limit
	// before any payload is allocated or read.
	r = NewReader(bytes.NewReader(hx("0E 00 01 00 00 FF FF FF")), 1<<16)
	h, err = r.ReadHeader()
	if !errors.Is(err, ErrPayloadTooLarge) || h.Len != MaxPayload {
		t.Errorf("max announce: %+v, %v", h, err)
	}
}

func TestReaderDefaultLimitIsWireMax(t *testing.T) {
	for _, limit := range []int{0, -1, MaxPayload + 1, 1 << 30} {
		r := NewReader(bytes.NewReader(nil), limit)
		if r.limit != MaxPayload {
			t.Errorf("NewReader(limit %d).limit = %d, want MaxPayload", limit, r.limit)
		}
	}
}

func TestReaderMaxPayload(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 32 MiB")
	}
	stream := make([]byte, 8+MaxPayload)
	copy(stream, hx("0E 00 01 00 00 FF FF FF"))
	stream[8] = 0x11
	stream[len(stream)-1] = 0x22
	stream = append(stream, hx("05 00 01 00 00 00 00 00")...)
	r := NewReader(bytes.NewReader(stream), 0)
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Payload) != 16777215 || f.Payload[0] != 0x11 || f.Payload[MaxPayload-1] != 0x22 {
		t.Errorf("payload len %d", len(f.Payload))
	}
	f, err = r.ReadFrame()
	if err != nil || f.Type != TypeIdle || f.Cmd != 256 {
		t.Errorf("frame after max payload: %+v, %v", f, err)
	}
}

func TestReaderKeepsBufferedBytes(t *testing.T) {
	// Bytes already buffered by a header-reading bufio.Reader must not be
	// lost when the frame reader takes over (protocol.md §15.2).
	hdr := clientHeaderBytes(t, "MRCI", asc16("x"), nil)
	stream := append(hdr, hx("05 2C 01 00 00 00 00 00")...)
	br := bufio.NewReader(bytes.NewReader(stream))
	if _, err := io.ReadFull(br, make([]byte, ClientHeaderLen)); err != nil {
		t.Fatal(err)
	}
	if br.Buffered() != 8 {
		t.Fatalf("setup: %d bytes buffered", br.Buffered())
	}
	r := NewReader(br, 0)
	if r.Buffered() != 8 {
		t.Errorf("Buffered = %d, want 8", r.Buffered())
	}
	f, err := r.ReadFrame()
	if err != nil || f.Type != TypeIdle || f.Cmd != 300 {
		t.Errorf("frame = %+v, %v", f, err)
	}
	if r.Buffered() != 0 {
		t.Errorf("Buffered after frame = %d", r.Buffered())
	}
}

func TestReadHeaderThenPayload(t *testing.T) {
	r := NewReader(bytes.NewReader(hx("02 2C 01 00 00 04 00 00 41 00 42 00")), 0)
	h, err := r.ReadHeader()
	if err != nil || h.Len != 4 {
		t.Fatalf("%+v %v", h, err)
	}
	p, err := r.ReadPayload(h.Len)
	if err != nil || !bytes.Equal(p, hx("41 00 42 00")) {
		t.Errorf("payload % X, %v", p, err)
	}
	if _, err := r.ReadPayload(1); err != io.ErrUnexpectedEOF {
		t.Errorf("payload at EOF: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestIPCFrames(t *testing.T) {
	got, err := AppendIPCFrame(nil, TypeText, hx("68 00 69 00"))
	if want := hx("02 04 00 00 68 00 69 00"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendIPCFrame = % X, %v; want % X", got, err, want)
	}
	got, err = AppendIPCFrame([]byte{0xAB}, TypeIdle, nil)
	if want := hx("AB 05 00 00 00"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendIPCFrame(IDLE) = % X, %v", got, err)
	}
	got, err = AppendIPCFrame(nil, TypeHostVer, hx("02 00 00 00 02 00"))
	if want := hx("14 06 00 00 02 00 00 00 02 00"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendIPCFrame(HOST_VER) = % X, %v", got, err)
	}
	got, err = AppendIPCFrame(nil, TypePrivIPC, make([]byte, 0x030201))
	if err != nil || !bytes.Equal(got[:4], hx("15 01 02 03")) || len(got) != 4+0x030201 {
		t.Errorf("u24 length: % X, %v", got[:4], err)
	}
	got, err = AppendIPCFrame([]byte{1}, TypeBytes, make([]byte, MaxPayload+1))
	if !errors.Is(err, ErrPayloadTooLarge) || !bytes.Equal(got, []byte{1}) {
		t.Errorf("oversized: len %d, %v", len(got), err)
	}
}

func TestIPCReader(t *testing.T) {
	stream := hx("14 06 00 00 02 00 00 00 02 00" + "05 00 00 00" + "15 03 00 00 01 00 FF")
	want := []IPCFrame{
		{Type: TypeHostVer, Payload: hx("02 00 00 00 02 00")},
		{Type: TypeIdle, Payload: []byte{}},
		{Type: TypePrivIPC, Payload: hx("01 00 FF")},
	}
	r := NewIPCReader(iotest.OneByteReader(bytes.NewReader(stream)), 0)
	for i, w := range want {
		f, err := r.ReadFrame()
		if err != nil || f.Type != w.Type || !bytes.Equal(f.Payload, w.Payload) {
			t.Errorf("frame %d = %+v, %v; want %+v", i, f, err, w)
		}
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Errorf("end: %v, want io.EOF", err)
	}

	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"partial header", hx("02 04"), io.ErrUnexpectedEOF},
		{"payload cut", hx("02 04 00 00 68 00"), io.ErrUnexpectedEOF},
		{"header only", hx("02 04 00 00"), io.ErrUnexpectedEOF},
	} {
		if _, err := NewIPCReader(bytes.NewReader(tt.in), 0).ReadFrame(); err != tt.want {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}

	r = NewIPCReader(bytes.NewReader(hx("0E 05 00 00 01 02 03 04 05")), 4)
	if _, err := r.ReadFrame(); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("over limit: %v", err)
	}
	r = NewIPCReader(bytes.NewReader(hx("0E 04 00 00 01 02 03 04")), 4)
	if f, err := r.ReadFrame(); err != nil || len(f.Payload) != 4 {
		t.Errorf("at limit: %+v, %v", f, err)
	}
	if r := NewIPCReader(bytes.NewReader(nil), -5); r.limit != MaxPayload {
		t.Errorf("default limit %d", r.limit)
	}
}

func TestParseAsyncPayload(t *testing.T) {
	tests := []struct {
		in      []byte
		want    AsyncPayload
		wantErr bool
	}{
		{in: nil, wantErr: true},
		{in: hx("01"), wantErr: true},
		{in: hx("01 00"), want: AsyncPayload{ID: AsyncRdy, Data: []byte{}}},
		{in: hx("2A 00 FF"), want: AsyncPayload{ID: AsyncKeepAlive, Data: hx("FF")}},
		{in: hx("00 01 61 00"), want: AsyncPayload{ID: 256, Data: hx("61 00")}},
	}
	for _, tt := range tests {
		got, err := ParseAsyncPayload(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseAsyncPayload(% X) err = %v", tt.in, err)
			continue
		}
		if !tt.wantErr && (got.ID != tt.want.ID || !bytes.Equal(got.Data, tt.want.Data)) {
			t.Errorf("ParseAsyncPayload(% X) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	m := AsyncPayload{ID: AsyncCast, Data: hx("AA BB")}.Marshal()
	if !bytes.Equal(m, hx("04 00 AA BB")) {
		t.Errorf("Marshal = % X", m)
	}
	if m := (AsyncPayload{ID: AsyncLogout}).Marshal(); !bytes.Equal(m, hx("06 00")) {
		t.Errorf("Marshal(no data) = % X", m)
	}
}
