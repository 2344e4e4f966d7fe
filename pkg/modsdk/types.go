package modsdk

import "github.com/mrci/mrci/internal/wire"

// TypeID is a frame type id (types.md §1).
type TypeID = wire.TypeID

// AsyncID is an async command id (seed/async.md §5.1).
type AsyncID = wire.AsyncID

// Frame type ids a module commonly sends or receives.
const (
	TypeGenFile        = wire.TypeGenFile
	TypeText           = wire.TypeText
	TypeErr            = wire.TypeErr
	TypePrivText       = wire.TypePrivText
	TypeIdle           = wire.TypeIdle
	TypeFileInfo       = wire.TypeFileInfo
	TypePeerInfo       = wire.TypePeerInfo
	TypeBytes          = wire.TypeBytes
	TypeSessionID      = wire.TypeSessionID
	TypeBigText        = wire.TypeBigText
	TypeTermCmd        = wire.TypeTermCmd
	TypeHostVer        = wire.TypeHostVer
	TypePrivIPC        = wire.TypePrivIPC
	TypePubIPC         = wire.TypePubIPC
	TypePubIPCFeedback = wire.TypePubIPCFeedback
	TypeKillCmd        = wire.TypeKillCmd
	TypeHaltCmd        = wire.TypeHaltCmd
	TypeResumeCmd      = wire.TypeResumeCmd
)

// Async command ids a module commonly emits.
const (
	AsyncCast         = wire.AsyncCast
	AsyncLimitedCast  = wire.AsyncLimitedCast
	AsyncRWMyInfo     = wire.AsyncRWMyInfo
	AsyncOpenSubCh    = wire.AsyncOpenSubCh
	AsyncCloseSubCh   = wire.AsyncCloseSubCh
	AsyncKeepAlive    = wire.AsyncKeepAlive
	AsyncSetDir       = wire.AsyncSetDir
	AsyncDebugText    = wire.AsyncDebugText
	AsyncEnableMod    = wire.AsyncEnableMod
	AsyncDisableMod   = wire.AsyncDisableMod
	AsyncUserLogin    = wire.AsyncUserLogin
	AsyncCmdRanksChgd = wire.AsyncCmdRanksChanged
)

// Frame is one frame received from the host.
type Frame struct {
	Type    TypeID
	Payload []byte
}

// EncodeText encodes s as the UTF-16LE text of TEXT-like payloads.
func EncodeText(s string) []byte { return wire.EncodeText(s) }

// DecodeText decodes a UTF-16LE text payload.
func DecodeText(b []byte) string { return wire.DecodeText(b) }
