package asynctest

import (
	"strings"
	"testing"
)

// clustered reports whether a test runs under TestCluster: its host is
// then three nodes of one cluster (PostgreSQL + NATS) and its clients are
// spread over them in turn, so that the barrier, the first and the second
// client of a test are each on a node of their own.
func clustered(t *testing.T) bool { return strings.HasPrefix(t.Name(), "TestCluster/") }

// TestCluster runs the per-id async tests whose receivers can be on
// another node with the sessions spread over a three-node cluster: the
// same tests, the same assertions (docs/cluster.md). Left out are the
// tests of what is per node by design (close_host, restart_host, the
// host's own listener and raw sockets, stalls of one node's sessions).
func TestCluster(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Async04Cast", TestAsync04Cast},
		{"Async06Logout", TestAsync06Logout},
		{"Async07UserDeleted", TestAsync07UserDeleted},
		{"Async08DispRenamed", TestAsync08DispRenamed},
		{"Async09UserRankChanged", TestAsync09UserRankChanged},
		{"Async10CmdRanksChanged", TestAsync10CmdRanksChanged},
		{"Async12EnableMod", TestAsync12EnableMod},
		{"Async13DisableMod", TestAsync13DisableMod},
		{"Async14EndSession", TestAsync14EndSession},
		{"Async15UserLogin", TestAsync15UserLogin},
		{"Async16ToPeer", TestAsync16ToPeer},
		{"Async17LimitedCast", TestAsync17LimitedCast},
		{"Async18RWMyInfo", TestAsync18RWMyInfo},
		{"Async19P2P", TestAsync19P2P},
		{"Async20CloseP2P", TestAsync20CloseP2P},
		{"Async21NewChMember", TestAsync21NewChMember},
		{"Async22DelCh", TestAsync22DelCh},
		{"Async23RenameCh", TestAsync23RenameCh},
		{"Async24ChActFlag", TestAsync24ChActFlag},
		{"Async25NewSubCh", TestAsync25NewSubCh},
		{"Async26RmSubCh", TestAsync26RmSubCh},
		{"Async27RenameSubCh", TestAsync27RenameSubCh},
		{"Async28InvitedToCh", TestAsync28InvitedToCh},
		{"Async29RmChMember", TestAsync29RmChMember},
		{"Async30InviteAccepted", TestAsync30InviteAccepted},
		{"Async31MemLevelChanged", TestAsync31MemLevelChanged},
		{"Async32SubChLevelChg", TestAsync32SubChLevelChg},
		{"Async33AddRdonly", TestAsync33AddRdonly},
		{"Async34RmRdonly", TestAsync34RmRdonly},
		{"Async37UserRenamed", TestAsync37UserRenamed},
		{"Async38PingPeers", TestAsync38PingPeers},
		{"Async39OpenSubCh", TestAsync39OpenSubCh},
		{"Async40CloseSubCh", TestAsync40CloseSubCh},
		{"OneOrderedPathPerReceiver", TestOneOrderedPathPerReceiver},
		{"SlowReaderGetsEveryCast", TestSlowReaderGetsEveryCast},
	} {
		t.Run(tc.name, tc.fn)
	}
}
