package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Client and host header sizes (protocol.md §4, §5).
const (
	ClientHeaderLen = 410
	HostHeaderLen   = 35
	appNameWidth    = 134
	commonNameWidth = 272
)

// Tag is the 4-byte magic that starts every client header.
var Tag = [4]byte{'M', 'R', 'C', 'I'}

// ErrBadTag is returned for a client header that does not start with "MRCI".
var ErrBadTag = errors.New("wire: client header tag is not MRCI")

// Host header reply codes (protocol.md §5.1).
const (
	ReplyPlain  = 1 // accepted, no encryption (loopback)
	ReplyTLS    = 2 // accepted, HOST_CERT then client-initiated TLS follow
	ReplyNoCert = 4 // no certificate for the requested common name
)

// Version is the wire version this host speaks; clients of the 2.0.2 era
// accept any host whose major is 2.
var Version = HostVersion{Major: 2, Minor: 0, Patch: 2}

// HostVersion is a major.minor.patch version triple.
type HostVersion struct{ Major, Minor, Patch uint16 }

// String formats the version as "2.0.2".
func (v HostVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// ClientHeader is the 410-byte header a client sends first.
type ClientHeader struct {
	AppName    string // client application name and version
	CommonName string // the certificate common name the client asks for
}

// Marshal encodes the header.
func (h ClientHeader) Marshal() []byte {
	b := make([]byte, 0, ClientHeaderLen)
	b = append(b, Tag[:]...)
	b = AppendFixed(b, h.AppName, appNameWidth)
	return AppendFixed(b, h.CommonName, commonNameWidth)
}

// ParseClientHeader decodes a 410-byte client header; text fields are
// trimmed of surrounding whitespace as the original does.
func ParseClientHeader(b []byte) (ClientHeader, error) {
	if len(b) < ClientHeaderLen {
		return ClientHeader{}, fmt.Errorf("wire: client header is %d bytes, want %d", len(b), ClientHeaderLen)
	}
	if !bytes.Equal(b[:4], Tag[:]) {
		return ClientHeader{}, ErrBadTag
	}
	return ClientHeader{
		AppName:    strings.TrimSpace(ReadFixed(b[4 : 4+appNameWidth])),
		CommonName: strings.TrimSpace(ReadFixed(b[4+appNameWidth : ClientHeaderLen])),
	}, nil
}

// HostHeader is the 35-byte reply to a client header.
type HostHeader struct {
	Reply     byte
	Version   HostVersion
	SessionID SessionID
}

// Marshal encodes the header.
func (h HostHeader) Marshal() []byte {
	b := make([]byte, 0, HostHeaderLen)
	v := h.Version
	b = append(b, h.Reply, byte(v.Major), byte(v.Major>>8), byte(v.Minor), byte(v.Minor>>8),
		byte(v.Patch), byte(v.Patch>>8))
	return append(b, h.SessionID[:]...)
}

// ParseHostHeader decodes a 35-byte host header.
func ParseHostHeader(b []byte) (HostHeader, error) {
	if len(b) < HostHeaderLen {
		return HostHeader{}, fmt.Errorf("wire: host header is %d bytes, want %d", len(b), HostHeaderLen)
	}
	h := HostHeader{Reply: b[0], Version: HostVersion{
		Major: le16(b[1:]), Minor: le16(b[3:]), Patch: le16(b[5:]),
	}}
	copy(h.SessionID[:], b[7:HostHeaderLen])
	return h, nil
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
