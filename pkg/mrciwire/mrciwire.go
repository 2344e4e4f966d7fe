// Package mrciwire is the public vocabulary of the MRCI wire protocol
// (version 2.0.2) for programs that use package client or package modsdk:
// frames, type ids, async ids, ids, the structured payloads a client
// receives (MY_INFO, PEER_INFO, PEER_STAT, NEW_CMD, CH_MEMBER_INFO,
// sub-channel lists) and UTF-16LE text.
//
// Every type here is an alias of the host's own implementation, so values
// pass between this package, package client and package modsdk without
// conversion, and the encoding is exactly the host's.
package mrciwire

import "github.com/mrci/mrci/internal/wire"

// Frame is one MRCI frame: a type id, a command id (1..255: async, 256 and
// up: a command of the session), a branch id and the payload.
type Frame = wire.Frame

// TypeID says how to interpret a frame's payload (types.md §1).
type TypeID = wire.TypeID

// AsyncID is an async command id (1..255, seed/async.md §5.1).
type AsyncID = wire.AsyncID

// SessionID is the 28-byte id of a session (the host header, PEER_INFO).
type SessionID = wire.SessionID

// UserID is the 32-byte id of an account.
type UserID = wire.UserID

// HostVersion is the wire version a host reports in its header.
type HostVersion = wire.HostVersion

// PeerInfo is the PEER_INFO payload: who a session is.
type PeerInfo = wire.PeerInfo

// MyInfo is the MY_INFO payload: the session's own account.
type MyInfo = wire.MyInfo

// PeerStat is the PEER_STAT payload: a peer's open sub-channels, or that it
// disconnected.
type PeerStat = wire.PeerStat

// NewCmd is the NEW_CMD payload announcing a command: id, name, library,
// summary, IO signature and long description.
type NewCmd = wire.NewCmd

// ChMemberInfo is the CH_MEMBER_INFO payload of the channel events.
type ChMemberInfo = wire.ChMemberInfo

// SubChannel addresses one sub-channel (channel id and sub id).
type SubChannel = wire.SubChannel

// SubChannelList is the 6-slot open sub-channel list.
type SubChannelList = wire.SubChannelList

// Version is the wire version this package speaks.
var Version = wire.Version

// FirstCommandID is the lowest command id; lower ids are async ids.
const FirstCommandID = wire.FirstCommandID

// Type ids of wire version 2.0.2.
const (
	TypeGenFile        = wire.TypeGenFile
	TypeText           = wire.TypeText
	TypeErr            = wire.TypeErr
	TypePrivText       = wire.TypePrivText
	TypeIdle           = wire.TypeIdle
	TypeHostCert       = wire.TypeHostCert
	TypeFileInfo       = wire.TypeFileInfo
	TypePeerInfo       = wire.TypePeerInfo
	TypeMyInfo         = wire.TypeMyInfo
	TypePeerStat       = wire.TypePeerStat
	TypeP2PRequest     = wire.TypeP2PRequest
	TypeP2PClose       = wire.TypeP2PClose
	TypeP2POpen        = wire.TypeP2POpen
	TypeBytes          = wire.TypeBytes
	TypeSessionID      = wire.TypeSessionID
	TypeNewCmd         = wire.TypeNewCmd
	TypeCmdID          = wire.TypeCmdID
	TypeBigText        = wire.TypeBigText
	TypeTermCmd        = wire.TypeTermCmd
	TypeHostVer        = wire.TypeHostVer
	TypePrivIPC        = wire.TypePrivIPC
	TypePubIPC         = wire.TypePubIPC
	TypePubIPCFeedback = wire.TypePubIPCFeedback
	TypePingPeers      = wire.TypePingPeers
	TypeChMemberInfo   = wire.TypeChMemberInfo
	TypeChID           = wire.TypeChID
	TypeKillCmd        = wire.TypeKillCmd
	TypeHaltCmd        = wire.TypeHaltCmd
	TypeResumeCmd      = wire.TypeResumeCmd
)

// Async command ids of wire version 2.0.2.
const (
	AsyncRdy             = wire.AsyncRdy
	AsyncSysMsg          = wire.AsyncSysMsg
	AsyncExit            = wire.AsyncExit
	AsyncCast            = wire.AsyncCast
	AsyncMaxSes          = wire.AsyncMaxSes
	AsyncLogout          = wire.AsyncLogout
	AsyncUserDeleted     = wire.AsyncUserDeleted
	AsyncDispRenamed     = wire.AsyncDispRenamed
	AsyncUserRankChanged = wire.AsyncUserRankChanged
	AsyncCmdRanksChanged = wire.AsyncCmdRanksChanged
	AsyncRestart         = wire.AsyncRestart
	AsyncEnableMod       = wire.AsyncEnableMod
	AsyncDisableMod      = wire.AsyncDisableMod
	AsyncEndSession      = wire.AsyncEndSession
	AsyncUserLogin       = wire.AsyncUserLogin
	AsyncToPeer          = wire.AsyncToPeer
	AsyncLimitedCast     = wire.AsyncLimitedCast
	AsyncRWMyInfo        = wire.AsyncRWMyInfo
	AsyncP2P             = wire.AsyncP2P
	AsyncCloseP2P        = wire.AsyncCloseP2P
	AsyncNewChMember     = wire.AsyncNewChMember
	AsyncDelCh           = wire.AsyncDelCh
	AsyncRenameCh        = wire.AsyncRenameCh
	AsyncChActFlag       = wire.AsyncChActFlag
	AsyncNewSubCh        = wire.AsyncNewSubCh
	AsyncRmSubCh         = wire.AsyncRmSubCh
	AsyncRenameSubCh     = wire.AsyncRenameSubCh
	AsyncInvitedToCh     = wire.AsyncInvitedToCh
	AsyncRmChMember      = wire.AsyncRmChMember
	AsyncInviteAccepted  = wire.AsyncInviteAccepted
	AsyncMemLevelChanged = wire.AsyncMemLevelChanged
	AsyncSubChLevelChg   = wire.AsyncSubChLevelChg
	AsyncAddRdonly       = wire.AsyncAddRdonly
	AsyncRmRdonly        = wire.AsyncRmRdonly
	AsyncAddCmd          = wire.AsyncAddCmd
	AsyncRmCmd           = wire.AsyncRmCmd
	AsyncUserRenamed     = wire.AsyncUserRenamed
	AsyncPingPeers       = wire.AsyncPingPeers
	AsyncOpenSubCh       = wire.AsyncOpenSubCh
	AsyncCloseSubCh      = wire.AsyncCloseSubCh
	AsyncUpdateBans      = wire.AsyncUpdateBans
	AsyncKeepAlive       = wire.AsyncKeepAlive
	AsyncSetDir          = wire.AsyncSetDir
	AsyncDebugText       = wire.AsyncDebugText
)

// EncodeText encodes s as the UTF-16LE text of TEXT, PRIV_TEXT, ERR and
// BIG_TEXT payloads.
func EncodeText(s string) []byte { return wire.EncodeText(s) }

// DecodeText decodes a UTF-16LE text payload.
func DecodeText(b []byte) string { return wire.DecodeText(b) }

// ParseMyInfo decodes a MY_INFO payload.
func ParseMyInfo(b []byte) (MyInfo, error) { return wire.ParseMyInfo(b) }

// ParsePeerInfo decodes a PEER_INFO payload.
func ParsePeerInfo(b []byte) (PeerInfo, error) { return wire.ParsePeerInfo(b) }

// ParsePeerStat decodes a PEER_STAT payload.
func ParsePeerStat(b []byte) (PeerStat, error) { return wire.ParsePeerStat(b) }

// ParseNewCmd decodes a NEW_CMD payload.
func ParseNewCmd(b []byte) (NewCmd, error) { return wire.ParseNewCmd(b) }

// ParseChMemberInfo decodes a CH_MEMBER_INFO payload.
func ParseChMemberInfo(b []byte) (ChMemberInfo, error) { return wire.ParseChMemberInfo(b) }

// ParseSubChannel decodes a 9-byte sub-channel (channel id, sub id).
func ParseSubChannel(b []byte) (SubChannel, error) { return wire.ParseSubChannel(b) }

// ParseSubChannelList decodes a 54-byte open sub-channel list.
func ParseSubChannelList(b []byte) (SubChannelList, error) { return wire.ParseSubChannelList(b) }

// ParseArgs splits a command's TEXT arguments the way the host does
// (protocol.md §13.1); maxArgs < 0 means no limit.
func ParseArgs(text string, maxArgs int) []string { return wire.ParseArgs(text, maxArgs) }
