// Package wire is everything about MRCI bytes: frames, the client and host
// headers, type ids, async ids, UTF-16LE text shapes and every structured
// payload. It does no I/O beyond reading frames from an io.Reader and holds
// no state; every function is safe for concurrent use.
package wire

import "fmt"

// TypeID says how to interpret a frame's payload (types.md §1).
type TypeID uint8

// The type ids of wire version 2.0.2.
const (
	TypeGenFile        TypeID = 1
	TypeText           TypeID = 2
	TypeErr            TypeID = 3
	TypePrivText       TypeID = 4
	TypeIdle           TypeID = 5
	TypeHostCert       TypeID = 6
	TypeFileInfo       TypeID = 7
	TypePeerInfo       TypeID = 8
	TypeMyInfo         TypeID = 9
	TypePeerStat       TypeID = 10
	TypeP2PRequest     TypeID = 11
	TypeP2PClose       TypeID = 12
	TypeP2POpen        TypeID = 13
	TypeBytes          TypeID = 14
	TypeSessionID      TypeID = 15
	TypeNewCmd         TypeID = 16
	TypeCmdID          TypeID = 17
	TypeBigText        TypeID = 18
	TypeTermCmd        TypeID = 19
	TypeHostVer        TypeID = 20
	TypePrivIPC        TypeID = 21
	TypePubIPC         TypeID = 22
	TypePubIPCFeedback TypeID = 23
	TypePingPeers      TypeID = 24
	TypeChMemberInfo   TypeID = 25
	TypeChID           TypeID = 26
	TypeKillCmd        TypeID = 27
	TypeHaltCmd        TypeID = 28
	TypeResumeCmd      TypeID = 29
)

var typeNames = [...]string{
	1: "GEN_FILE", 2: "TEXT", 3: "ERR", 4: "PRIV_TEXT", 5: "IDLE", 6: "HOST_CERT",
	7: "FILE_INFO", 8: "PEER_INFO", 9: "MY_INFO", 10: "PEER_STAT", 11: "P2P_REQUEST",
	12: "P2P_CLOSE", 13: "P2P_OPEN", 14: "BYTES", 15: "SESSION_ID", 16: "NEW_CMD",
	17: "CMD_ID", 18: "BIG_TEXT", 19: "TERM_CMD", 20: "HOST_VER", 21: "PRIV_IPC",
	22: "PUB_IPC", 23: "PUB_IPC_WITH_FEEDBACK", 24: "PING_PEERS", 25: "CH_MEMBER_INFO",
	26: "CH_ID", 27: "KILL_CMD", 28: "HALT_CMD", 29: "RESUME_CMD",
}

// String returns the spec's name of the type id.
func (t TypeID) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("TYPE_%d", uint8(t))
}

// IsControl reports whether t is one of the command-control types that carry
// no data (TERM_CMD, KILL_CMD, HALT_CMD, RESUME_CMD).
func (t TypeID) IsControl() bool {
	return t == TypeTermCmd || t == TypeKillCmd || t == TypeHaltCmd || t == TypeResumeCmd
}

// IsIPC reports whether t is one of the three async-emitting IPC types.
func (t TypeID) IsIPC() bool {
	return t == TypePrivIPC || t == TypePubIPC || t == TypePubIPCFeedback
}

// AsyncID is an async command id (1..255). It is a distinct type from TypeID
// so that a type id can never be emitted as an async id by mistake.
type AsyncID uint16

// The async command ids of seed/async.md §5.1.
const (
	AsyncRdy             AsyncID = 1
	AsyncSysMsg          AsyncID = 2
	AsyncExit            AsyncID = 3
	AsyncCast            AsyncID = 4
	AsyncMaxSes          AsyncID = 5
	AsyncLogout          AsyncID = 6
	AsyncUserDeleted     AsyncID = 7
	AsyncDispRenamed     AsyncID = 8
	AsyncUserRankChanged AsyncID = 9
	AsyncCmdRanksChanged AsyncID = 10
	AsyncRestart         AsyncID = 11
	AsyncEnableMod       AsyncID = 12
	AsyncDisableMod      AsyncID = 13
	AsyncEndSession      AsyncID = 14
	AsyncUserLogin       AsyncID = 15
	AsyncToPeer          AsyncID = 16
	AsyncLimitedCast     AsyncID = 17
	AsyncRWMyInfo        AsyncID = 18
	AsyncP2P             AsyncID = 19
	AsyncCloseP2P        AsyncID = 20
	AsyncNewChMember     AsyncID = 21
	AsyncDelCh           AsyncID = 22
	AsyncRenameCh        AsyncID = 23
	AsyncChActFlag       AsyncID = 24
	AsyncNewSubCh        AsyncID = 25
	AsyncRmSubCh         AsyncID = 26
	AsyncRenameSubCh     AsyncID = 27
	AsyncInvitedToCh     AsyncID = 28
	AsyncRmChMember      AsyncID = 29
	AsyncInviteAccepted  AsyncID = 30
	AsyncMemLevelChanged AsyncID = 31
	AsyncSubChLevelChg   AsyncID = 32
	AsyncAddRdonly       AsyncID = 33
	AsyncRmRdonly        AsyncID = 34
	AsyncAddCmd          AsyncID = 35
	AsyncRmCmd           AsyncID = 36
	AsyncUserRenamed     AsyncID = 37
	AsyncPingPeers       AsyncID = 38
	AsyncOpenSubCh       AsyncID = 39
	AsyncCloseSubCh      AsyncID = 40
	AsyncUpdateBans      AsyncID = 41
	AsyncKeepAlive       AsyncID = 42
	AsyncSetDir          AsyncID = 43
	AsyncDebugText       AsyncID = 44
)

// MaxAsyncID is the highest async id defined by wire version 2.0.2.
const MaxAsyncID = AsyncDebugText

var asyncNames = [...]string{
	1: "ASYNC_RDY", 2: "ASYNC_SYS_MSG", 3: "ASYNC_EXIT", 4: "ASYNC_CAST", 5: "ASYNC_MAXSES",
	6: "ASYNC_LOGOUT", 7: "ASYNC_USER_DELETED", 8: "ASYNC_DISP_RENAMED",
	9: "ASYNC_USER_RANK_CHANGED", 10: "ASYNC_CMD_RANKS_CHANGED", 11: "ASYNC_RESTART",
	12: "ASYNC_ENABLE_MOD", 13: "ASYNC_DISABLE_MOD", 14: "ASYNC_END_SESSION",
	15: "ASYNC_USER_LOGIN", 16: "ASYNC_TO_PEER", 17: "ASYNC_LIMITED_CAST",
	18: "ASYNC_RW_MY_INFO", 19: "ASYNC_P2P", 20: "ASYNC_CLOSE_P2P",
	21: "ASYNC_NEW_CH_MEMBER", 22: "ASYNC_DEL_CH", 23: "ASYNC_RENAME_CH",
	24: "ASYNC_CH_ACT_FLAG", 25: "ASYNC_NEW_SUB_CH", 26: "ASYNC_RM_SUB_CH",
	27: "ASYNC_RENAME_SUB_CH", 28: "ASYNC_INVITED_TO_CH", 29: "ASYNC_RM_CH_MEMBER",
	30: "ASYNC_INVITE_ACCEPTED", 31: "ASYNC_MEM_LEVEL_CHANGED", 32: "ASYNC_SUB_CH_LEVEL_CHG",
	33: "ASYNC_ADD_RDONLY", 34: "ASYNC_RM_RDONLY", 35: "ASYNC_ADD_CMD", 36: "ASYNC_RM_CMD",
	37: "ASYNC_USER_RENAMED", 38: "ASYNC_PING_PEERS", 39: "ASYNC_OPEN_SUBCH",
	40: "ASYNC_CLOSE_SUBCH", 41: "ASYNC_UPDATE_BANS", 42: "ASYNC_KEEP_ALIVE",
	43: "ASYNC_SET_DIR", 44: "ASYNC_DEBUG_TEXT",
}

// String returns the seed document's name of the async id.
func (a AsyncID) String() string {
	if int(a) < len(asyncNames) && asyncNames[a] != "" {
		return asyncNames[a]
	}
	return fmt.Sprintf("ASYNC_%d", uint16(a))
}

// FirstCommandID is the lowest command id a session assigns to a command;
// ids below it are async ids.
const FirstCommandID = 256
