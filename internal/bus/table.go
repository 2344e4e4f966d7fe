package bus

import "github.com/mrci/mrci/internal/wire"

// Audience says which sessions respond to an async id (seed/async.md §5.1).
type Audience uint8

// The audiences of the seed document.
const (
	// None: no session acts on it whatever the IPC mode; only the host
	// itself sends it to clients.
	None Audience = iota
	// Private: only the emitting module's own session, and only via PRIV_IPC.
	Private
	// Public: sessions act on it when sent with PUB_IPC (every other
	// session) or PUB_IPC_WITH_FEEDBACK (every session).
	Public
)

// Target says which sessions a public async can concern, so that routing
// touches only those (the sessions outside the target would ignore it).
type Target uint8

// Routing targets.
const (
	ToAll         Target = iota // every session
	ToUser                      // sessions logged in as the user id at Data[0:32]
	ToSession                   // the session whose id is at Data[0:28]
	ToSubChannels               // sessions with an entry of the list at Data[0:54] open
	ToChannel                   // member sessions of the channel id at Data[0:8] (+ openers, + the named user)
	ToSubChannel                // sessions with the sub-channel at Data[0:9] open
	ToSelf                      // only meaningful for the emitting session
)

// Route is one row of the async routing table.
type Route struct {
	ID   wire.AsyncID
	Name string
	// Client is true when the client may see frames of this id
	// ("client"), false for ids the session consumes ("internal").
	Client     bool
	Audience   Audience
	Restricted bool // modules may never emit it
	Target     Target
	// MinLen and ExactLen are the payload checks applied to asyncs coming
	// from modules (commands.md §15.2); 0 means no check.
	MinLen, ExactLen int
	// Privileged ids act on the host or on identity; only the host's own
	// module may emit them (host.md §13).
	Privileged bool
}

// Routes is the routing table for ids 1..44, indexed by id.
var Routes = func() [wire.MaxAsyncID + 1]Route {
	var t [wire.MaxAsyncID + 1]Route
	add := func(r Route) { r.Name = r.ID.String(); t[r.ID] = r }
	add(Route{ID: wire.AsyncRdy, Client: true, Audience: None})
	add(Route{ID: wire.AsyncSysMsg, Client: true, Audience: None})
	add(Route{ID: wire.AsyncExit, Audience: Private, Target: ToSelf, Privileged: true})
	add(Route{ID: wire.AsyncCast, Client: true, Audience: Public, Target: ToSubChannels, MinLen: 55})
	add(Route{ID: wire.AsyncMaxSes, Audience: Private, Target: ToSelf, ExactLen: 4, Privileged: true})
	add(Route{ID: wire.AsyncLogout, Audience: Private, Target: ToSelf})
	add(Route{ID: wire.AsyncUserDeleted, Client: true, Audience: Public, Target: ToUser, ExactLen: 32})
	add(Route{ID: wire.AsyncDispRenamed, Audience: Public, Target: ToUser, ExactLen: 96})
	add(Route{ID: wire.AsyncUserRankChanged, Audience: Public, Target: ToUser, ExactLen: 36})
	add(Route{ID: wire.AsyncCmdRanksChanged, Audience: Public, Target: ToAll})
	add(Route{ID: wire.AsyncRestart, Audience: Private, Target: ToSelf, Privileged: true})
	add(Route{ID: wire.AsyncEnableMod, Audience: Public, Target: ToAll, MinLen: 2})
	add(Route{ID: wire.AsyncDisableMod, Audience: Public, Target: ToAll, MinLen: 2})
	add(Route{ID: wire.AsyncEndSession, Audience: Private, Target: ToSelf, Privileged: true})
	add(Route{ID: wire.AsyncUserLogin, Audience: Private, Target: ToSelf, ExactLen: 32, Privileged: true})
	add(Route{ID: wire.AsyncToPeer, Client: true, Audience: Public, Restricted: true, Target: ToSession, MinLen: 29})
	add(Route{ID: wire.AsyncLimitedCast, Client: true, Audience: Public, Target: ToSubChannels, MinLen: 55})
	add(Route{ID: wire.AsyncRWMyInfo, Audience: Public, Target: ToUser, ExactLen: 32})
	add(Route{ID: wire.AsyncP2P, Client: true, Audience: Public, Target: ToSession, MinLen: 57})
	add(Route{ID: wire.AsyncCloseP2P, Audience: Public, Target: ToAll, MinLen: 28})
	for _, id := range []wire.AsyncID{wire.AsyncNewChMember, wire.AsyncInvitedToCh, wire.AsyncInviteAccepted, wire.AsyncRmChMember} {
		add(Route{ID: id, Client: true, Audience: Public, Target: ToChannel, MinLen: 40})
	}
	add(Route{ID: wire.AsyncMemLevelChanged, Client: true, Audience: Public, Target: ToChannel, MinLen: 41})
	add(Route{ID: wire.AsyncDelCh, Client: true, Audience: Public, Target: ToChannel, MinLen: 8})
	add(Route{ID: wire.AsyncRenameCh, Client: true, Audience: Public, Target: ToChannel, MinLen: 10})
	add(Route{ID: wire.AsyncChActFlag, Audience: Public, Target: ToSubChannel, MinLen: 9})
	add(Route{ID: wire.AsyncNewSubCh, Client: true, Audience: Public, Target: ToChannel, MinLen: 9})
	add(Route{ID: wire.AsyncRmSubCh, Client: true, Audience: Public, Target: ToChannel, MinLen: 9})
	add(Route{ID: wire.AsyncRenameSubCh, Client: true, Audience: Public, Target: ToChannel, MinLen: 9})
	add(Route{ID: wire.AsyncSubChLevelChg, Client: true, Audience: Public, Target: ToChannel, MinLen: 9})
	add(Route{ID: wire.AsyncAddRdonly, Client: true, Audience: Public, Target: ToChannel, MinLen: 9})
	add(Route{ID: wire.AsyncRmRdonly, Client: true, Audience: Public, Target: ToChannel, MinLen: 9})
	add(Route{ID: wire.AsyncAddCmd, Client: true, Audience: None})
	add(Route{ID: wire.AsyncRmCmd, Client: true, Audience: None})
	add(Route{ID: wire.AsyncUserRenamed, Audience: Public, Target: ToUser, ExactLen: 80})
	add(Route{ID: wire.AsyncPingPeers, Audience: Private, Target: ToSelf})
	add(Route{ID: wire.AsyncOpenSubCh, Audience: Private, Target: ToSelf, ExactLen: 9})
	add(Route{ID: wire.AsyncCloseSubCh, Audience: Private, Target: ToSelf, ExactLen: 9})
	add(Route{ID: wire.AsyncUpdateBans, Audience: Private, Target: ToSelf})
	add(Route{ID: wire.AsyncKeepAlive, Audience: Private, Target: ToSelf})
	add(Route{ID: wire.AsyncSetDir, Audience: Private, Target: ToSelf})
	add(Route{ID: wire.AsyncDebugText, Audience: Private, Target: ToSelf})
	return t
}()

// Lookup returns the route of an id and whether the id is defined.
func Lookup(id wire.AsyncID) (Route, bool) {
	if id == 0 || id > wire.MaxAsyncID {
		return Route{}, false
	}
	return Routes[id], true
}
