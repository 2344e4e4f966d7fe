package asynctest

// The data-flow rules of seed/async.md §5.1, checked for every id and every
// IPC mode through a real session: what the host refuses (written to the
// debug log) and what it lets through. The expectation is derived from the
// seed's enum below, not from the bus's routing table.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/wire"
)

// seedEnum is the enum of seed/async.md §5.1, verbatim.
const seedEnum = `
    ASYNC_RDY               = 1,   // client   | none
    ASYNC_SYS_MSG           = 2,   // client   | none
    ASYNC_EXIT              = 3,   // internal | private
    ASYNC_CAST              = 4,   // client   | public
    ASYNC_MAXSES            = 5,   // internal | private
    ASYNC_LOGOUT            = 6,   // internal | private
    ASYNC_USER_DELETED      = 7,   // client   | public
    ASYNC_DISP_RENAMED      = 8,   // internal | public
    ASYNC_USER_RANK_CHANGED = 9,   // internal | public
    ASYNC_CMD_RANKS_CHANGED = 10,  // internal | public
    ASYNC_RESTART           = 11,  // internal | private
    ASYNC_ENABLE_MOD        = 12,  // internal | public
    ASYNC_DISABLE_MOD       = 13,  // internal | public
    ASYNC_END_SESSION       = 14,  // internal | private
    ASYNC_USER_LOGIN        = 15,  // internal | private
    ASYNC_TO_PEER           = 16,  // client   | public  | retricted
    ASYNC_LIMITED_CAST      = 17,  // client   | public
    ASYNC_RW_MY_INFO        = 18,  // internal | public
    ASYNC_P2P               = 19,  // client   | public
    ASYNC_CLOSE_P2P         = 20,  // internal | public
    ASYNC_NEW_CH_MEMBER     = 21,  // client   | public
    ASYNC_DEL_CH            = 22,  // client   | public
    ASYNC_RENAME_CH         = 23,  // client   | public
    ASYNC_CH_ACT_FLAG       = 24,  // internal | public
    ASYNC_NEW_SUB_CH        = 25,  // client   | public
    ASYNC_RM_SUB_CH         = 26,  // client   | public
    ASYNC_RENAME_SUB_CH     = 27,  // client   | public
    ASYNC_INVITED_TO_CH     = 28,  // client   | public
    ASYNC_RM_CH_MEMBER      = 29,  // client   | public
    ASYNC_INVITE_ACCEPTED   = 30,  // client   | public
    ASYNC_MEM_LEVEL_CHANGED = 31,  // client   | public
    ASYNC_SUB_CH_LEVEL_CHG  = 32,  // client   | public
    ASYNC_ADD_RDONLY        = 33,  // client   | public
    ASYNC_RM_RDONLY         = 34,  // client   | public
    ASYNC_ADD_CMD           = 35,  // client   | none
    ASYNC_RM_CMD            = 36,  // client   | none
    ASYNC_USER_RENAMED      = 37,  // internal | public
    ASYNC_PING_PEERS        = 38,  // internal | private
    ASYNC_OPEN_SUBCH        = 39,  // internal | private
    ASYNC_CLOSE_SUBCH       = 40,  // internal | private
    ASYNC_UPDATE_BANS       = 41,  // internal | private
    ASYNC_KEEP_ALIVE        = 42,  // internal | private
    ASYNC_SET_DIR           = 43,  // internal | private
    ASYNC_DEBUG_TEXT        = 44   // internal | private
`

type seedRow struct {
	name       string
	client     bool
	audience   string // none, private, public
	restricted bool
}

func parseSeed(t testing.TB) map[wire.AsyncID]seedRow {
	rows := map[wire.AsyncID]seedRow{}
	for _, line := range strings.Split(strings.TrimSpace(seedEnum), "\n") {
		code, comment, _ := strings.Cut(line, "//")
		name, num, _ := strings.Cut(code, "=")
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(num), ","))
		if err != nil {
			t.Fatalf("seed line %q: %v", line, err)
		}
		f := strings.Split(comment, "|")
		r := seedRow{name: strings.TrimSpace(name), client: strings.TrimSpace(f[0]) == "client", audience: strings.TrimSpace(f[1])}
		r.restricted = len(f) > 2 && strings.TrimSpace(f[2]) == "retricted"
		rows[wire.AsyncID(n)] = r
	}
	if len(rows) != 44 {
		t.Fatalf("seed has %d ids", len(rows))
	}
	return rows
}

// privileged are the ids only the host's own module (or a trusted one) may
// emit (commands.md §15 notes; host.md §13).
var privileged = map[wire.AsyncID]bool{
	wire.AsyncExit: true, wire.AsyncMaxSes: true, wire.AsyncRestart: true,
	wire.AsyncEndSession: true, wire.AsyncUserLogin: true,
}

// validData returns a payload that passes the length and session checks
// of an id for the emitting peer and has no lasting effect.
func validData(p *peer, id wire.AsyncID) []byte {
	sid := p.sid()
	other := wire.SessionID{1, 2, 3}
	uid := wire.UserID{9, 9, 9}
	ch := chBytes(1 << 40) // no such channel
	switch id {
	case wire.AsyncCast, wire.AsyncLimitedCast:
		return castData(wire.SubChannelList{}, wire.TypeText, wire.EncodeText("x")) // the empty writable list
	case wire.AsyncMaxSes:
		return le32(1000)
	case wire.AsyncUserDeleted, wire.AsyncRWMyInfo, wire.AsyncUserLogin:
		return uid[:]
	case wire.AsyncDispRenamed:
		return cat(uid[:], make([]byte, 64))
	case wire.AsyncUserRankChanged:
		return cat(uid[:], le32(3))
	case wire.AsyncUserRenamed:
		return cat(uid[:], make([]byte, 48))
	case wire.AsyncEnableMod, wire.AsyncDisableMod:
		return wire.EncodeText("/nonexistent/module")
	case wire.AsyncToPeer:
		return cat(other[:], []byte{byte(wire.TypeText)}, wire.EncodeText("x"))
	case wire.AsyncP2P:
		return p2p(other, sid, wire.TypeText, nil)
	case wire.AsyncCloseP2P:
		return sid[:]
	case wire.AsyncNewChMember, wire.AsyncInvitedToCh, wire.AsyncInviteAccepted, wire.AsyncRmChMember:
		return cat(ch, uid[:])
	case wire.AsyncMemLevelChanged:
		return cat(ch, uid[:], []byte{3})
	case wire.AsyncDelCh:
		return ch
	case wire.AsyncRenameCh:
		return cat(ch, wire.AppendNullTerm(nil, "n"))
	case wire.AsyncChActFlag, wire.AsyncNewSubCh, wire.AsyncRmSubCh, wire.AsyncRenameSubCh,
		wire.AsyncSubChLevelChg, wire.AsyncAddRdonly, wire.AsyncRmRdonly:
		return cat(ch, []byte{1, 4, 0, 0, 0})
	case wire.AsyncOpenSubCh, wire.AsyncCloseSubCh:
		return make([]byte, 9) // channel 0: ignored
	case wire.AsyncSetDir:
		return wire.EncodeText("/nonexistent/dir")
	case wire.AsyncDebugText:
		return wire.EncodeText("debug")
	}
	return []byte("junk")
}

func TestAsyncDataFlowRules(t *testing.T) {
	t.Parallel()
	seed := parseSeed(t)
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trusted=%v", trusted), func(t *testing.T) {
			t.Parallel()
			e := start(t, opts{trust: trusted})
			p := e.dial("emitter")
			ids := []wire.AsyncID{0, 45, 255, 256, 0xFFFF}
			for id := wire.AsyncID(1); id <= 44; id++ {
				ids = append(ids, id)
			}
			e.debugMark(p)
			for _, id := range ids {
				row, defined := seed[id]
				for _, mode := range allModes {
					if trusted && mode == wire.TypePrivIPC && (id == wire.AsyncExit || id == wire.AsyncRestart || id == wire.AsyncEndSession) {
						continue // would end the host or the session: TestAsync03/11/14
					}
					var why string // "" = accepted
					switch {
					case !defined:
						why = whyUnknown
					case id == wire.AsyncKeepAlive:
						// dropped on arrival, before any check, never logged
					case row.restricted:
						why = whyRestricted
					case privileged[id] && !trusted:
						why = whyPrivileged
					case row.audience == "none",
						row.audience == "private" && mode != wire.TypePrivIPC,
						row.audience == "public" && mode == wire.TypePrivIPC:
						why = whyAudience
					}
					p.emit(mode, id, validData(p, id))
					rows := e.debugMark(p)
					if why == "" && id == wire.AsyncDebugText && len(rows) == 1 && rows[0] == "debug" {
						continue // the accepted DEBUG_TEXT itself
					}
					switch {
					case why == "" && len(rows) != 0:
						t.Errorf("%v (%d) with %v: refused, want accepted: %q", id, id, mode, rows)
					case why != "" && (len(rows) != 1 || !strings.HasPrefix(rows[0], refusal) || !strings.Contains(rows[0], why)):
						t.Errorf("%v (%d) with %v: debug log %q, want a refusal containing %q", id, id, mode, rows, why)
					}
				}
			}
			if trusted { // the accepted USER_LOGIN named no account
				p.want(wire.TypeErr, wire.AsyncSysMsg, wire.EncodeText("err: login failed: the account could not be loaded\n"))
			}
			e.quiet(p)
		})
	}
}
