package wire

import (
	"bufio"
	"fmt"
	"io"
)

// IPCHeaderLen is the size of a module IPC frame header: type (1) + u24 length.
const IPCHeaderLen = 4

// IPCFrame is one frame on a module pipe (modules.md §4).
type IPCFrame struct {
	Type    TypeID
	Payload []byte
}

// AppendIPCFrame appends an encoded IPC frame to dst.
func AppendIPCFrame(dst []byte, t TypeID, payload []byte) ([]byte, error) {
	n := len(payload)
	if n > MaxPayload {
		return dst, fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, n)
	}
	dst = append(dst, byte(t), byte(n), byte(n>>8), byte(n>>16))
	return append(dst, payload...), nil
}

// IPCReader reads IPC frames from a module pipe.
type IPCReader struct {
	r     *bufio.Reader
	limit int
	hdr   [IPCHeaderLen]byte
}

// NewIPCReader returns a reader rejecting payloads over limit bytes
// (limit <= 0 means MaxPayload).
func NewIPCReader(r io.Reader, limit int) *IPCReader {
	if limit <= 0 || limit > MaxPayload {
		limit = MaxPayload
	}
	return &IPCReader{r: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

// ReadFrame reads one IPC frame.
func (r *IPCReader) ReadFrame() (IPCFrame, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return IPCFrame{}, err
	}
	n := int(r.hdr[1]) | int(r.hdr[2])<<8 | int(r.hdr[3])<<16
	if n > r.limit {
		return IPCFrame{}, fmt.Errorf("%w: %d bytes announced, limit %d", ErrPayloadTooLarge, n, r.limit)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r.r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return IPCFrame{}, err
	}
	return IPCFrame{Type: TypeID(r.hdr[0]), Payload: p}, nil
}
