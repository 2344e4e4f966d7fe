package module

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/mrci/mrci/internal/wire"
)

// Session and host data files (docs/modules.md "Session data"). The session
// block keeps the offsets of the original's session shared memory
// (modules.md §9.2); a seqlock counter after it lets readers copy a
// consistent block without any cross-process lock.
const (
	// SessionBlockLen is the size of the session block (modules.md §9.2).
	SessionBlockLen = 7698
	// SessionFileSize is the size of a session data file.
	SessionFileSize = 8192
	// HostFileSize is the size of the host data file.
	HostFileSize = 4096

	// SessionSeqOff is the offset of the u64 seqlock counter of a session
	// file: odd while the host is writing the block.
	SessionSeqOff   = 7704
	sessionMagicOff = 7712
	sessionVerOff   = 7720
	hostMagicOff    = 8
	hostVersionOff  = 16

	dataLayoutVersion = 1

	// Session block field offsets (modules.md §9.2).
	offSessionID   = 0
	offUserID      = 28
	offIP          = 60
	offAppName     = 138
	offUserName    = 272
	offDisplayName = 320
	offRank        = 384
	offActive      = 388
	offOverride    = 389
	offChannels    = 390
	offOpen        = 1990
	offWritable    = 2044
	offP2PPending  = 2098
	offP2PAccepted = 4898

	maxBlockChannels = 200
	maxBlockP2P      = 100
)

// The magic strings identifying the data files.
const (
	sessionMagic = "MRCI-SES"
	hostMagic    = "MRCI-HST"
)

// encodeSessionBlock writes the session block of info into b
// (SessionBlockLen bytes), with the documented capacities (200 channels,
// 6 sub-channels, 100 + 100 peers).
func encodeSessionBlock(b []byte, info *SessionInfo) {
	clear(b[:SessionBlockLen])
	copy(b[offSessionID:], info.SessionID[:])
	if info.LoggedIn {
		copy(b[offUserID:], info.UserID[:])
	}
	wire.AppendFixed(b[offIP:offIP], info.IP, 78)
	wire.AppendFixed(b[offAppName:offAppName], info.AppName, 134)
	wire.AppendFixed(b[offUserName:offUserName], info.UserName, wire.UserNameWidth)
	wire.AppendFixed(b[offDisplayName:offDisplayName], info.DisplayName, wire.DisplayNameWidth)
	binary.LittleEndian.PutUint32(b[offRank:], info.Rank)
	if info.Active {
		b[offActive] = 1
	}
	if info.OwnerOverride {
		b[offOverride] = 1
	}
	for i, ch := range info.Channels {
		if i == maxBlockChannels {
			break
		}
		binary.LittleEndian.PutUint64(b[offChannels+8*i:], ch)
	}
	info.Open.Append(b[offOpen:offOpen])
	info.Writable.Append(b[offWritable:offWritable])
	for i, id := range info.P2PPendingIn {
		if i == maxBlockP2P {
			break
		}
		copy(b[offP2PPending+wire.SessionIDLen*i:], id[:])
	}
	for i, id := range info.P2PAccepted {
		if i == maxBlockP2P {
			break
		}
		copy(b[offP2PAccepted+wire.SessionIDLen*i:], id[:])
	}
}

// initSessionFile writes the magic and layout version of a session file.
func initSessionFile(mem []byte) {
	copy(mem[sessionMagicOff:], sessionMagic)
	putU32(mem[sessionVerOff:], dataLayoutVersion)
}

// writeSessionBlock replaces the block in a mapped session file under the
// seqlock. Besides, the user id is cleared first on logout and written last
// on login (modules.md §9.6), for readers that ignore the counter.
func writeSessionBlock(mem, block, old []byte) {
	seq := (*uint64)(unsafe.Pointer(&mem[SessionSeqOff]))
	atomic.AddUint64(seq, 1)
	uid := block[offUserID : offUserID+wire.UserIDLen]
	loggingOut := string(uid) != string(old[offUserID:offUserID+wire.UserIDLen])
	if loggingOut {
		clear(mem[offUserID : offUserID+wire.UserIDLen])
	}
	copy(mem[:offUserID], block[:offUserID])
	copy(mem[offUserID+wire.UserIDLen:SessionBlockLen], block[offUserID+wire.UserIDLen:])
	copy(mem[offUserID:], uid)
	atomic.AddUint64(seq, 1)
}

func putU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }

// storeU32 stores the host file's session count atomically.
func storeU32(mem []byte, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[0])), v)
}
