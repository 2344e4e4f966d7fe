package modsdk

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mrci/mrci/internal/wire"
)

// Layout of the session and host data files (docs/modules.md "Session
// data"); the session block keeps the offsets of modules.md §9.2.
const (
	sessionBlockLen = 7698
	sessionFileSize = 8192
	hostFileSize    = 4096
	seqOff          = 7704
	sessionMagicOff = 7712
	hostMagicOff    = 8
	sessionMagic    = "MRCI-SES"
	hostMagic       = "MRCI-HST"
)

// ErrNoSessionData is returned when the host passed no usable session or
// host data file (for example a host that is not the Go MRCI host).
var ErrNoSessionData = errors.New("modsdk: no session data")

// SubChannel is one open sub-channel: a channel id and a sub-channel id.
type SubChannel struct {
	Channel uint64
	Sub     uint8
}

// SessionInfo is a consistent snapshot of the calling session.
type SessionInfo struct {
	SessionID     [28]byte
	LoggedIn      bool
	UserID        [32]byte // zero when nobody is logged in
	IP            string   // the client's address
	AppName       string   // the client application's name
	UserName      string
	DisplayName   string
	Rank          uint32 // host rank; 0 when nobody is logged in
	Active        bool   // an open sub-channel has active updates
	OwnerOverride bool   // channel owner override is on
	Channels      []uint64
	Open          []SubChannel // open sub-channels
	Writable      []SubChannel // open sub-channels the user may write to
	PendingPeers  [][28]byte   // sessions whose P2P requests wait for an answer
	Peers         [][28]byte   // accepted P2P links

	writableRaw [wire.SubChannelListLen]byte
}

// SessionIDHex returns the session id as lower-case hex.
func (s *SessionInfo) SessionIDHex() string { return hex.EncodeToString(s.SessionID[:]) }

// UserIDHex returns the user id as lower-case hex ("" when logged out).
func (s *SessionInfo) UserIDHex() string {
	if !s.LoggedIn {
		return ""
	}
	return hex.EncodeToString(s.UserID[:])
}

// decodeSessionBlock decodes a session block copied out of the file.
func decodeSessionBlock(b []byte) *SessionInfo {
	s := &SessionInfo{}
	copy(s.SessionID[:], b[0:28])
	copy(s.UserID[:], b[28:60])
	s.LoggedIn = s.UserID != [32]byte{}
	s.IP = wire.ReadFixed(b[60:138])
	s.AppName = wire.ReadFixed(b[138:272])
	s.UserName = wire.ReadFixed(b[272:320])
	s.DisplayName = wire.ReadFixed(b[320:384])
	s.Rank = binary.LittleEndian.Uint32(b[384:])
	s.Active = b[388] != 0
	s.OwnerOverride = b[389] != 0
	for i := range 200 {
		if ch := binary.LittleEndian.Uint64(b[390+8*i:]); ch != 0 {
			s.Channels = append(s.Channels, ch)
		}
	}
	subs := func(off int) []SubChannel {
		var out []SubChannel
		for i := range wire.MaxOpenSubChannels {
			e := b[off+9*i:]
			if ch := binary.LittleEndian.Uint64(e); ch != 0 {
				out = append(out, SubChannel{Channel: ch, Sub: e[8]})
			}
		}
		return out
	}
	s.Open = subs(1990)
	s.Writable = subs(2044)
	copy(s.writableRaw[:], b[2044:2098])
	peers := func(off int) [][28]byte {
		var out [][28]byte
		for i := range 100 {
			var id [28]byte
			copy(id[:], b[off+28*i:])
			if id != [28]byte{} {
				out = append(out, id)
			}
		}
		return out
	}
	s.PendingPeers = peers(2098)
	s.Peers = peers(4898)
	return s
}

// sessionData maps the data files lazily.
type sessionData struct {
	sesPath, hostPath string

	mu   sync.Mutex
	ses  []byte
	host []byte
	err  error
}

func (d *sessionData) open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ses != nil || d.err != nil {
		return d.err
	}
	ses, err := mapFile(d.sesPath, sessionFileSize)
	if err == nil && string(ses[sessionMagicOff:sessionMagicOff+8]) != sessionMagic {
		unmapFile(ses)
		err = fmt.Errorf("%s is not a session data file", d.sesPath)
	}
	if err != nil {
		d.err = fmt.Errorf("%w: %w", ErrNoSessionData, err)
		return d.err
	}
	host, err := mapFile(d.hostPath, hostFileSize)
	if err == nil && string(host[hostMagicOff:hostMagicOff+8]) != hostMagic {
		unmapFile(host)
		err = fmt.Errorf("%s is not a host data file", d.hostPath)
	}
	if err != nil {
		unmapFile(ses)
		d.err = fmt.Errorf("%w: %w", ErrNoSessionData, err)
		return d.err
	}
	d.ses, d.host = ses, host
	return nil
}

// session copies a consistent block under the host's seqlock.
func (d *sessionData) session() (*SessionInfo, error) {
	if err := d.open(); err != nil {
		return nil, err
	}
	seq := (*uint64)(unsafe.Pointer(&d.ses[seqOff]))
	buf := make([]byte, sessionBlockLen)
	deadline := time.Now().Add(time.Second)
	for i := 0; ; i++ {
		s1 := atomic.LoadUint64(seq)
		if s1&1 == 0 {
			copy(buf, d.ses[:sessionBlockLen])
			if atomic.LoadUint64(seq) == s1 {
				return decodeSessionBlock(buf), nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: the session data kept changing", ErrNoSessionData)
		}
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(time.Millisecond)
		}
	}
}

func (d *sessionData) hostSessions() (int, error) {
	if err := d.open(); err != nil {
		return 0, err
	}
	return int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&d.host[0])))), nil
}

func (d *sessionData) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ses != nil {
		unmapFile(d.ses)
		unmapFile(d.host)
		d.ses, d.host = nil, nil
	}
}

// ReadSessionFiles reads a session data file and a host data file
// directly, for tools and tests (modules use Call.Session and
// Call.HostSessions). It returns the session and the live session count.
func ReadSessionFiles(sessionFile, hostFile string) (*SessionInfo, int, error) {
	d := &sessionData{sesPath: sessionFile, hostPath: hostFile}
	defer d.close()
	s, err := d.session()
	if err != nil {
		return nil, 0, err
	}
	n, err := d.hostSessions()
	return s, n, err
}
