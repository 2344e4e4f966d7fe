package wire

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Field widths of the structured payloads (types.md §6, §8).
const (
	UserNameWidth    = 48
	DisplayNameWidth = 64
	EmailWidth       = 128
	CmdNameWidth     = 128
	LibNameWidth     = 128
	PeerInfoLen      = 306
	MyInfoLen        = 439
	PeerStatLen      = 83
	NewCmdMinLen     = 259
	ChMemberInfoMin  = 42
	HostVerLen       = 6
)

func errShort(what string, got, want int) error {
	return fmt.Errorf("wire: %s is %d bytes, want at least %d", what, got, want)
}

// PeerInfo is the public data about a session (types.md §6.2, 306 bytes).
type PeerInfo struct {
	SessionID   SessionID
	UserID      UserID
	UserName    string
	AppName     string
	DisplayName string
}

// Append appends the 306-byte encoding.
func (p *PeerInfo) Append(dst []byte) []byte {
	dst = append(dst, p.SessionID[:]...)
	dst = append(dst, p.UserID[:]...)
	dst = AppendFixed(dst, p.UserName, UserNameWidth)
	dst = AppendFixed(dst, p.AppName, appNameWidth)
	return AppendFixed(dst, p.DisplayName, DisplayNameWidth)
}

// Marshal returns the 306-byte encoding.
func (p *PeerInfo) Marshal() []byte { return p.Append(make([]byte, 0, PeerInfoLen)) }

// ParsePeerInfo decodes a PEER_INFO (or PING_PEERS / P2P_REQUEST) payload.
func ParsePeerInfo(b []byte) (PeerInfo, error) {
	var p PeerInfo
	if len(b) < PeerInfoLen {
		return p, errShort("PEER_INFO", len(b), PeerInfoLen)
	}
	copy(p.SessionID[:], b[0:28])
	copy(p.UserID[:], b[28:60])
	p.UserName = ReadFixed(b[60:108])
	p.AppName = ReadFixed(b[108:242])
	p.DisplayName = ReadFixed(b[242:306])
	return p, nil
}

// MyInfo is the client's own session and account data (types.md §6.4, 439 bytes).
type MyInfo struct {
	Peer          PeerInfo
	Email         string
	Rank          uint32
	EmailVerified bool
}

// Marshal returns the 439-byte encoding.
func (m *MyInfo) Marshal() []byte {
	b := m.Peer.Append(make([]byte, 0, MyInfoLen))
	b = AppendFixed(b, m.Email, EmailWidth)
	b = binary.LittleEndian.AppendUint32(b, m.Rank)
	if m.EmailVerified {
		return append(b, 1)
	}
	return append(b, 0)
}

// ParseMyInfo decodes a MY_INFO payload.
func ParseMyInfo(b []byte) (MyInfo, error) {
	if len(b) < MyInfoLen {
		return MyInfo{}, errShort("MY_INFO", len(b), MyInfoLen)
	}
	p, _ := ParsePeerInfo(b)
	return MyInfo{
		Peer:          p,
		Email:         ReadFixed(b[306:434]),
		Rank:          binary.LittleEndian.Uint32(b[434:438]),
		EmailVerified: b[438] != 0,
	}, nil
}

// PeerStat tells peers that a session changed sub-channels or left
// (types.md §6.5, 83 bytes).
type PeerStat struct {
	SessionID    SessionID
	Open         SubChannelList
	Disconnected bool
}

// Marshal returns the 83-byte encoding.
func (p *PeerStat) Marshal() []byte {
	b := append(make([]byte, 0, PeerStatLen), p.SessionID[:]...)
	b = p.Open.Append(b)
	if p.Disconnected {
		return append(b, 1)
	}
	return append(b, 0)
}

// ParsePeerStat decodes a PEER_STAT payload.
func ParsePeerStat(b []byte) (PeerStat, error) {
	var p PeerStat
	if len(b) < PeerStatLen {
		return p, errShort("PEER_STAT", len(b), PeerStatLen)
	}
	copy(p.SessionID[:], b[:28])
	p.Open, _ = ParseSubChannelList(b[28:82])
	p.Disconnected = b[82] != 0
	return p, nil
}

// NewCmd announces a command (types.md §8.1).
type NewCmd struct {
	ID      uint16
	GenFile uint8
	Name    string
	Library string
	Summary string
	IO      string
	Long    string
}

// Marshal encodes the announcement.
func (c *NewCmd) Marshal() []byte {
	b := make([]byte, 0, NewCmdMinLen+2*(len(c.Summary)+len(c.IO)+len(c.Long))+6)
	b = binary.LittleEndian.AppendUint16(b, c.ID)
	b = append(b, c.GenFile)
	b = AppendFixed(b, c.Name, CmdNameWidth)
	b = AppendFixed(b, c.Library, LibNameWidth)
	b = AppendNullTerm(b, c.Summary)
	b = AppendNullTerm(b, c.IO)
	return AppendNullTerm(b, c.Long)
}

// ParseNewCmd decodes a NEW_CMD payload of at least 259 bytes. Missing
// terminators end the remaining strings at the end of the payload. The name
// is returned as sent (callers trim and lower-case it).
func ParseNewCmd(b []byte) (NewCmd, error) {
	if len(b) < NewCmdMinLen {
		return NewCmd{}, errShort("NEW_CMD", len(b), NewCmdMinLen)
	}
	c := NewCmd{
		ID:      binary.LittleEndian.Uint16(b),
		GenFile: b[2],
		Name:    ReadFixed(b[3:131]),
		Library: ReadFixed(b[131:259]),
	}
	rest := b[259:]
	c.Summary, rest = ReadNullTerm(rest)
	c.IO, rest = ReadNullTerm(rest)
	c.Long, _ = ReadNullTerm(rest)
	return c, nil
}

// RebuildNewCmd re-addresses a module's NEW_CMD payload for a client: the
// assigned id, the module's genfile byte, the session-unique client-visible
// name, then every byte from offset 131 of the module's frame unchanged.
func RebuildNewCmd(moduleFrame []byte, id uint16, clientName string) []byte {
	b := make([]byte, 0, len(moduleFrame))
	b = binary.LittleEndian.AppendUint16(b, id)
	b = append(b, moduleFrame[2])
	b = AppendFixed(b, clientName, CmdNameWidth)
	return append(b, moduleFrame[131:]...)
}

// EncodeCmdID returns the 2-byte CMD_ID payload.
func EncodeCmdID(id uint16) []byte { return binary.LittleEndian.AppendUint16(nil, id) }

// EncodeChID returns the 8-byte CH_ID payload.
func EncodeChID(id uint64) []byte { return binary.LittleEndian.AppendUint64(nil, id) }

// ChMemberInfo is public data about a channel member (types.md §9.2).
type ChMemberInfo struct {
	ChannelID   uint64
	UserID      UserID
	Pending     bool
	Level       uint8
	UserName    string
	DisplayName string
	ChannelName string
}

// Marshal encodes the record.
func (m *ChMemberInfo) Marshal() []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, 48+2*len(m.UserName+m.DisplayName+m.ChannelName)), m.ChannelID)
	b = append(b, m.UserID[:]...)
	pending := byte(0)
	if m.Pending {
		pending = 1
	}
	b = append(b, pending, m.Level)
	b = AppendNullTerm(b, m.UserName)
	b = AppendNullTerm(b, m.DisplayName)
	return AppendNullTerm(b, m.ChannelName)
}

// ParseChMemberInfo decodes a CH_MEMBER_INFO payload.
func ParseChMemberInfo(b []byte) (ChMemberInfo, error) {
	if len(b) < ChMemberInfoMin {
		return ChMemberInfo{}, errShort("CH_MEMBER_INFO", len(b), ChMemberInfoMin)
	}
	m := ChMemberInfo{ChannelID: binary.LittleEndian.Uint64(b), Pending: b[40] != 0, Level: b[41]}
	copy(m.UserID[:], b[8:40])
	rest := b[42:]
	m.UserName, rest = ReadNullTerm(rest)
	m.DisplayName, rest = ReadNullTerm(rest)
	m.ChannelName, _ = ReadNullTerm(rest)
	return m, nil
}

// EncodeHostVer returns the 6-byte HOST_VER payload.
func EncodeHostVer(v HostVersion) []byte {
	return []byte{byte(v.Major), byte(v.Major >> 8), byte(v.Minor), byte(v.Minor >> 8), byte(v.Patch), byte(v.Patch >> 8)}
}

// AsyncPayload is the payload of a PRIV_IPC / PUB_IPC /
// PUB_IPC_WITH_FEEDBACK frame: a 2-byte async id then the async's data.
type AsyncPayload struct {
	ID   AsyncID
	Data []byte
}

// Marshal encodes the IPC payload.
func (a AsyncPayload) Marshal() []byte {
	return append(binary.LittleEndian.AppendUint16(make([]byte, 0, 2+len(a.Data)), uint16(a.ID)), a.Data...)
}

// ParseAsyncPayload decodes an IPC payload; payloads under 2 bytes are an error.
// Data aliases b.
func ParseAsyncPayload(b []byte) (AsyncPayload, error) {
	if len(b) < 2 {
		return AsyncPayload{}, errShort("async IPC payload", len(b), 2)
	}
	return AsyncPayload{ID: AsyncID(binary.LittleEndian.Uint16(b)), Data: b[2:]}, nil
}

// HexID formats raw id bytes as lower-case hex without allocation surprises.
func HexID(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}
