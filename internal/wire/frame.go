package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// FrameHeaderLen is the size of an MRCI frame header: type, cmd, branch, u24 length.
const FrameHeaderLen = 8

// MaxPayload is the largest payload a 24-bit length can express.
const MaxPayload = 1<<24 - 1

// ErrPayloadTooLarge is returned for a payload over the wire maximum or over
// a reader's configured limit.
var ErrPayloadTooLarge = errors.New("wire: payload too large")

// Frame is one MRCI frame. Payload is owned by whoever holds the Frame;
// frames read by a Reader own a fresh slice.
type Frame struct {
	Type    TypeID
	Cmd     uint16
	Branch  uint16
	Payload []byte
}

// ID32 packs the command and branch ids as the original does
// (cmd | branch<<16); it keys everything routed per command instance.
func (f Frame) ID32() uint32 { return uint32(f.Cmd) | uint32(f.Branch)<<16 }

// AppendFrame appends the encoded frame to dst.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	if len(f.Payload) > MaxPayload {
		return dst, fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(f.Payload))
	}
	dst = AppendFrameHeader(dst, f.Type, f.Cmd, f.Branch, len(f.Payload))
	return append(dst, f.Payload...), nil
}

// AppendFrameHeader appends an 8-byte frame header for a payload of n bytes
// (n must not exceed MaxPayload).
func AppendFrameHeader(dst []byte, t TypeID, cmd, branch uint16, n int) []byte {
	return append(dst, byte(t), byte(cmd), byte(cmd>>8), byte(branch), byte(branch>>8),
		byte(n), byte(n>>8), byte(n>>16))
}

// EncodeFrame returns the encoded frame. It panics if the payload exceeds
// MaxPayload; use AppendFrame for untrusted sizes.
func EncodeFrame(f Frame) []byte {
	b, err := AppendFrame(make([]byte, 0, FrameHeaderLen+len(f.Payload)), f)
	if err != nil {
		panic(err)
	}
	return b
}

// FrameHeader is a decoded 8-byte frame header.
type FrameHeader struct {
	Type   TypeID
	Cmd    uint16
	Branch uint16
	Len    int
}

// ParseFrameHeader decodes the first 8 bytes of b.
func ParseFrameHeader(b []byte) (FrameHeader, error) {
	if len(b) < FrameHeaderLen {
		return FrameHeader{}, io.ErrUnexpectedEOF
	}
	return FrameHeader{
		Type:   TypeID(b[0]),
		Cmd:    binary.LittleEndian.Uint16(b[1:]),
		Branch: binary.LittleEndian.Uint16(b[3:]),
		Len:    int(b[5]) | int(b[6])<<8 | int(b[7])<<16,
	}, nil
}

// Reader reads frames from a byte stream.
type Reader struct {
	r     *bufio.Reader
	limit int
	hdr   [FrameHeaderLen]byte
}

// NewReader returns a Reader that rejects payloads larger than limit bytes
// (limit <= 0 or > MaxPayload means MaxPayload). If r is already a
// *bufio.Reader it is used directly, so bytes it buffered are not lost.
func NewReader(r io.Reader, limit int) *Reader {
	if limit <= 0 || limit > MaxPayload {
		limit = MaxPayload
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br, limit: limit}
}

// ReadHeader reads the next frame header. A header announcing a payload over
// the limit returns the header and an error wrapping ErrPayloadTooLarge.
func (r *Reader) ReadHeader() (FrameHeader, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return FrameHeader{}, err
	}
	h, _ := ParseFrameHeader(r.hdr[:])
	if h.Len > r.limit {
		return h, fmt.Errorf("%w: %d bytes announced, limit %d", ErrPayloadTooLarge, h.Len, r.limit)
	}
	return h, nil
}

// ReadPayload reads the n-byte payload that follows a header. Its buffer
// grows as bytes arrive (see ReadGrowing), so a header alone never makes
// the reader allocate the announced length.
func (r *Reader) ReadPayload(n int) ([]byte, error) {
	p, err := ReadGrowing(r.r, n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return p, nil
}

// growStart is the first buffer size of ReadGrowing.
const growStart = 32 << 10

// ReadGrowing reads exactly n bytes from r into a fresh slice that starts
// small and doubles as bytes arrive, so the memory held for a payload
// never exceeds twice what the peer has actually sent (plus growStart).
// Errors are those of io.ReadFull.
func ReadGrowing(r io.Reader, n int) ([]byte, error) {
	if n <= growStart {
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, err
		}
		return p, nil
	}
	p := make([]byte, 0, growStart)
	for len(p) < n {
		if len(p) == cap(p) {
			p = slices.Grow(p, min(n, 2*cap(p))-len(p))
		}
		m, err := r.Read(p[len(p):min(n, cap(p))])
		p = p[:len(p)+m]
		if err != nil && len(p) < n {
			if err == io.EOF && len(p) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return p, nil
}

// Discard skips the n-byte payload that follows a header without
// allocating it.
func (r *Reader) Discard(n int) error {
	if _, err := r.r.Discard(n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// ReadPayloadInto reads a payload of len(p) bytes into p.
func (r *Reader) ReadPayloadInto(p []byte) error {
	if _, err := io.ReadFull(r.r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// ReadFrame reads one whole frame. io.EOF means the stream ended cleanly
// between frames; io.ErrUnexpectedEOF means it ended inside one.
func (r *Reader) ReadFrame() (Frame, error) {
	h, err := r.ReadHeader()
	if err != nil {
		return Frame{}, err
	}
	p, err := r.ReadPayload(h.Len)
	if err != nil {
		return Frame{}, err
	}
	return Frame{Type: h.Type, Cmd: h.Cmd, Branch: h.Branch, Payload: p}, nil
}

// Buffered returns the bytes read from the stream but not yet consumed.
func (r *Reader) Buffered() int { return r.r.Buffered() }
