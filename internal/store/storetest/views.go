package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
)

// hexOf returns the lower-case hex of n repetitions of byte b.
func hexOf(b byte, n int) string { return strings.Repeat(fmt.Sprintf("%02x", b), n) }

func testViewUsers(t *testing.T, s store.Store) {
	mustUser(t, s, 1, "alice", "alice@example.com")
	mustUser(t, s, 2, "Bob", "")
	c := user(3, "carol", "c@example.com")
	c.Rank = 10
	c.Created = time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)
	ok(t, s.CreateUser(ctx(t), c), "carol")
	mustUser(t, s, 0xab, "dave", "")

	v := store.ViewUsers
	all := [][]string{
		{"2024-01-02 03:04:05", "alice", "2", hexOf(1, 32)},
		{"2024-01-02 03:04:05", "Bob", "2", hexOf(2, 32)},
		{"2025-12-31 23:59:59", "carol", "10", hexOf(3, 32)},
		{"2024-01-02 03:04:05", "dave", "2", hexOf(0xab, 32)},
	}
	eq(t, listCells(t, s, v), all, "all users")
	pick := func(i ...int) [][]string {
		out := [][]string{}
		for _, n := range i {
			out = append(out, all[n])
		}
		return out
	}
	for _, c := range []struct {
		f    []store.Filter
		want [][]string
	}{
		{[]store.Filter{sub("user_name", "AL")}, pick(0)},
		{[]store.Filter{sub("user_name", "o")}, pick(1, 2)},
		{[]store.Filter{sub("user_name", "")}, all},
		{[]store.Filter{exact("user_name", "BOB")}, pick(1)},
		{[]store.Filter{exact("user_name", "bo")}, pick()},
		{[]store.Filter{sub("host_rank", "1")}, pick(2)},
		{[]store.Filter{exact("host_rank", "2")}, pick(0, 1, 3)},
		{[]store.Filter{exact("host_rank", "1")}, pick()},
		{[]store.Filter{sub("time_stamp", "2025-12")}, pick(2)},
		{[]store.Filter{sub("time_stamp", "03:04:05")}, pick(0, 1, 3)},
		{[]store.Filter{exact("time_stamp", "2025-12-31 23:59:59")}, pick(2)},
		{[]store.Filter{sub("user_id", "0202")}, pick(1)},
		{[]store.Filter{sub("user_id", "ABAB")}, pick(3)},
		{[]store.Filter{exact("user_id", hexOf(3, 32))}, pick(2)},
		{[]store.Filter{exact("user_id", "0303")}, pick()},
		{[]store.Filter{sub("user_name", "a"), sub("host_rank", "2")}, pick(0, 3)},
		{[]store.Filter{sub("user_name", "a"), sub("user_name", "v")}, pick(3)},
		// Columns that are neither displayed nor hidden filter columns of
		// this view are ignored.
		{[]store.Filter{sub("email_address", "zzz")}, all},
		{[]store.Filter{exact("password_hash", "zzz")}, all},
		{[]store.Filter{exact("channel_id", "1")}, all},
		{[]store.Filter{sub("user_name", "bob"), sub("nonsense", "x")}, pick(1)},
		// SQL injection attempts match nothing.
		{[]store.Filter{sub("user_name", "x' OR '1'='1")}, pick()},
		{[]store.Filter{exact("user_name", "x' OR '1'='1")}, pick()},
		{[]store.Filter{sub("user_name", "alice'; DROP TABLE users; --")}, pick()},
		{[]store.Filter{exact("host_rank", "2 OR 1=1")}, pick()},
	} {
		eq(t, listCells(t, s, v, c.f...), c.want, "filters %v", c.f)
	}
	eq(t, listCells(t, s, v), all, "users intact after injection attempts")
}

func testViewFilterEscaping(t *testing.T, s store.Store) {
	names := []string{"a%c", "a_c", "abc", "aXc", `a\c`, "100%", "x'y"}
	for i, n := range names {
		mustUser(t, s, byte(i+1), n, "")
	}
	v := store.ViewUsers
	for _, c := range []struct {
		value string
		want  []string
	}{
		{"%", []string{"a%c", "100%"}},
		{"_", []string{"a_c"}},
		{"a%c", []string{"a%c"}},
		{"a_c", []string{"a_c"}},
		{`\`, []string{`a\c`}},
		{`a\c`, []string{`a\c`}},
		{`\%`, []string{}},
		{`\_`, []string{}},
		{"%%", []string{}},
		{"'", []string{"x'y"}},
		{"X'Y", []string{"x'y"}},
		{"AXC", []string{"aXc"}},
		{"", names},
	} {
		got := column(listCells(t, s, v, sub("user_name", c.value)), 1)
		eq(t, got, c.want, "user_name filter %q", c.value)
	}
	for _, c := range []struct {
		value string
		want  []string
	}{
		{"a%c", []string{"a%c"}},
		{"A_C", []string{"a_c"}},
		{"a_", []string{}},
		{"%", []string{}},
		{`a\c`, []string{`a\c`}},
	} {
		got := column(listCells(t, s, v, exact("user_name", c.value)), 1)
		eq(t, got, c.want, "exact user_name %q", c.value)
	}
}

func testViewPaging(t *testing.T, s store.Store) {
	const n = 7
	for i := 0; i < n; i++ {
		ok(t, s.LogDebug(ctx(t), fmt.Sprintf("msg %d", i)), "log")
	}
	v := store.ViewDebug
	all := list(t, s, v)
	if len(all) != n {
		t.Fatalf("%d rows, want %d", len(all), n)
	}
	cells(t, v, all)
	for i, r := range all {
		eq(t, r.Cells[1], fmt.Sprintf("msg %d", i), "row %d in insertion order", i)
	}
	var got []store.Row
	after := int64(0)
	pages := 0
	for {
		page, err := s.ListView(ctx(t), v, nil, store.Page{After: after, Limit: 3})
		ok(t, err, "page")
		if len(page) > 3 {
			t.Fatalf("page of %d rows, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		pages++
		got = append(got, page...)
		after = page[len(page)-1].Key
	}
	eq(t, pages, 3, "pages")
	eq(t, got, all, "rows of all pages")

	// Rows inserted while paging appear on later pages, in order.
	page, err := s.ListView(ctx(t), v, nil, store.Page{After: all[n-1].Key, Limit: 3})
	ok(t, err, "page after last")
	eq(t, len(page), 0, "rows after the last key")
	ok(t, s.LogDebug(ctx(t), "late"), "log")
	page, err = s.ListView(ctx(t), v, nil, store.Page{After: all[n-1].Key, Limit: 3})
	ok(t, err, "page after last")
	eq(t, len(page), 1, "rows after the last key")
	eq(t, page[0].Cells[1], "late", "late row")

	// Deleting rows does not disturb the keys of the others.
	_, err = s.DeleteView(ctx(t), v, []store.Filter{exact("log_entry", "msg 3")})
	ok(t, err, "delete")
	page, err = s.ListView(ctx(t), v, nil, store.Page{After: all[1].Key, Limit: 2})
	ok(t, err, "page")
	eq(t, page, []store.Row{all[2], all[4]}, "page across a deleted row")

	// Paging combines with filters.
	page, err = s.ListView(ctx(t), v, []store.Filter{sub("log_entry", "msg")}, store.Page{After: all[4].Key, Limit: 10})
	ok(t, err, "filtered page")
	eq(t, page, []store.Row{all[5], all[6]}, "filtered page")

	// Derived keys (sub-channels) page the same way.
	a := mustUser(t, s, 1, "alice", "")
	ch := mustChannel(t, s, "room", a.ID)
	for i := 0; i < 5; i++ {
		_, err := s.CreateSubChannel(ctx(t), ch.ID, fmt.Sprintf("sub%d", i), 50)
		ok(t, err, "sub")
	}
	f := []store.Filter{exact("channel_id", fmt.Sprint(ch.ID))}
	allSubs := list(t, s, store.ViewSubChannels, f...)
	first, err := s.ListView(ctx(t), store.ViewSubChannels, f, store.Page{Limit: 2})
	ok(t, err, "sub page 1")
	rest, err := s.ListView(ctx(t), store.ViewSubChannels, f, store.Page{After: first[1].Key})
	ok(t, err, "sub page 2")
	eq(t, append(first, rest...), allSubs, "sub-channel pages")
	eq(t, len(allSubs), 5, "sub-channel rows")
}

func testViewAuthLog(t *testing.T, s store.Store) {
	mustUser(t, s, 1, "alice", "")
	mustUser(t, s, 2, "bob", "")
	before := time.Now()
	for _, a := range []store.AuthAttempt{
		{IP: "10.0.0.1", UserID: uid(1), AuthAttempt: true, CountToThreshold: true},
		{IP: "10.0.0.2", UserID: uid(2), AuthAttempt: true, Accepted: true},
		{IP: "10.0.0.1", UserID: uid(9), AuthAttempt: true, CountToThreshold: true},
		{IP: "::1", UserID: uid(1), RecoverAttempt: true, CountToThreshold: true},
	} {
		ok(t, s.AddAuthAttempt(ctx(t), a), "add")
	}
	after := time.Now()
	v := store.ViewAuthLog
	rows := listCells(t, s, v)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3 (the unknown user's row is hidden): %v", len(rows), rows)
	}
	for _, r := range rows {
		checkNow(t, r[0], before, after)
		r[0] = "T"
	}
	want := [][]string{
		{"T", "10.0.0.1", "alice", "1", "0", "1", "0"},
		{"T", "10.0.0.2", "bob", "1", "0", "0", "1"},
		{"T", "::1", "alice", "0", "1", "1", "0"},
	}
	eq(t, rows, want, "auth log")
	eq(t, column(listCells(t, s, v, sub("user_name", "ALI")), 1), []string{"10.0.0.1", "::1"}, "by user")
	eq(t, column(listCells(t, s, v, exact("accepted", "1")), 2), []string{"bob"}, "accepted")
	eq(t, column(listCells(t, s, v, sub("recover_attempt", "1")), 1), []string{"::1"}, "recover")
	eq(t, column(listCells(t, s, v, sub("ip_address", "10.0.0"), sub("count_to_threshold", "1")), 2), []string{"alice"}, "combined")
	ok(t, s.ResetFailedAuth(ctx(t), uid(1), ""), "reset")
	eq(t, column(listCells(t, s, v, exact("count_to_threshold", "1")), 1), []string{"::1"}, "after reset (recovery rows still count)")
	ok(t, s.DeleteUser(ctx(t), uid(2)), "delete bob")
	eq(t, column(listCells(t, s, v), 2), []string{"alice", "alice"}, "deleted user's rows hidden")
}

func testViewActLog(t *testing.T, s store.Store) {
	before := time.Now()
	ok(t, s.LogActivity(ctx(t), store.Activity{IP: "10.0.0.1", SessionID: sid(0xa1), ClientApp: "Cute Client", Entry: "Session Active"}), "log")
	ok(t, s.LogActivity(ctx(t), store.Activity{IP: "10.0.0.2", SessionID: sid(2), Entry: "Session Ended"}), "log")
	after := time.Now()
	v := store.ViewActLog
	rows := listCells(t, s, v)
	for _, r := range rows {
		checkNow(t, r[0], before, after)
		r[0] = "T"
	}
	eq(t, rows, [][]string{
		{"T", "10.0.0.1", "Cute Client", hexOf(0xa1, 28), "Session Active"},
		{"T", "10.0.0.2", "", hexOf(2, 28), "Session Ended"},
	}, "activity log")
	eq(t, column(listCells(t, s, v, sub("session_id", "A1A1")), 1), []string{"10.0.0.1"}, "session filter")
	eq(t, column(listCells(t, s, v, exact("session_id", hexOf(2, 28))), 1), []string{"10.0.0.2"}, "exact session")
	eq(t, column(listCells(t, s, v, sub("client_app", "cute")), 1), []string{"10.0.0.1"}, "app filter")
	eq(t, column(listCells(t, s, v, sub("log_entry", "ended")), 1), []string{"10.0.0.2"}, "entry filter")
}

func testViewDebug(t *testing.T, s store.Store) {
	before := time.Now()
	ok(t, s.LogDebug(ctx(t), "first message"), "log")
	ok(t, s.LogDebug(ctx(t), "Second: 100% _done_ \\ 'quoted' ✓"), "log")
	after := time.Now()
	rows := listCells(t, s, store.ViewDebug)
	for _, r := range rows {
		checkNow(t, r[0], before, after)
		r[0] = "T"
	}
	eq(t, rows, [][]string{{"T", "first message"}, {"T", "Second: 100% _done_ \\ 'quoted' ✓"}}, "debug log")
	eq(t, len(listCells(t, s, store.ViewDebug, sub("log_entry", "100% _"))), 1, "literal %% and _")
	eq(t, len(listCells(t, s, store.ViewDebug, sub("log_entry", "✓"))), 1, "non-ASCII")
}

func testViewBans(t *testing.T, s store.Store) {
	before := time.Now()
	ok(t, s.AddBan(ctx(t), "10.0.0.1"), "ban")
	ok(t, s.AddBan(ctx(t), "192.168.1.1"), "ban")
	after := time.Now()
	rows := listCells(t, s, store.ViewBans)
	for _, r := range rows {
		checkNow(t, r[0], before, after)
		r[0] = "T"
	}
	eq(t, rows, [][]string{{"T", "10.0.0.1"}, {"T", "192.168.1.1"}}, "bans")
	eq(t, column(listCells(t, s, store.ViewBans, sub("ip_address", "168")), 1), []string{"192.168.1.1"}, "filter")
}

func testViewCertsModsRanks(t *testing.T, s store.Store) {
	ok(t, s.PutCert(ctx(t), store.Cert{CommonName: "a.example.com", CertPEM: []byte("c"), KeyPEM: []byte("k")}), "cert")
	ok(t, s.PutCert(ctx(t), store.Cert{CommonName: "b.example.org", CertPEM: []byte("c"), KeyPEM: []byte("k")}), "cert")
	eq(t, listCells(t, s, store.ViewCerts), [][]string{{"a.example.com"}, {"b.example.org"}}, "certs")
	eq(t, listCells(t, s, store.ViewCerts, sub("common_name", ".ORG")), [][]string{{"b.example.org"}}, "certs filter")

	ok(t, s.AddModule(ctx(t), "/opt/mods/one"), "mod")
	ok(t, s.AddModule(ctx(t), "/opt/mods/two_x"), "mod")
	eq(t, listCells(t, s, store.ViewMods), [][]string{{"/opt/mods/one"}, {"/opt/mods/two_x"}}, "mods")
	eq(t, listCells(t, s, store.ViewMods, sub("module_executable", "_")), [][]string{{"/opt/mods/two_x"}}, "mods filter")

	ok(t, s.AddCommandRank(ctx(t), store.CommandRank{Module: store.InternalModule, Command: "Add_Acct", Rank: 1}), "rank")
	ok(t, s.AddCommandRank(ctx(t), store.CommandRank{Module: "/opt/mods/one", Command: "hello", Rank: 12}), "rank")
	eq(t, listCells(t, s, store.ViewRankedCmds), [][]string{
		{":internal_mod", "add_acct", "1"},
		{"/opt/mods/one", "hello", "12"},
	}, "ranked commands")
	eq(t, column(listCells(t, s, store.ViewRankedCmds, exact("host_rank", "12")), 1), []string{"hello"}, "rank filter")
	eq(t, column(listCells(t, s, store.ViewRankedCmds, sub("command_name", "ADD")), 1), []string{"add_acct"}, "command filter")
}

func testViewChannels(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	for i := 1; i <= 12; i++ {
		mustChannel(t, s, fmt.Sprintf("Chan%02d", i), a.ID)
	}
	v := store.ViewChannels
	rows := listCells(t, s, v)
	eq(t, len(rows), 12, "channels")
	eq(t, rows[0], []string{"1", "Chan01"}, "first row")
	eq(t, rows[11], []string{"12", "Chan12"}, "last row")
	eq(t, column(listCells(t, s, v, sub("channel_id", "1")), 1), []string{"Chan01", "Chan10", "Chan11", "Chan12"}, "id as text")
	eq(t, column(listCells(t, s, v, exact("channel_id", "1")), 1), []string{"Chan01"}, "exact id")
	eq(t, column(listCells(t, s, v, sub("channel_name", "CHAN1")), 0), []string{"10", "11", "12"}, "name filter")
	ok(t, s.DeleteChannel(ctx(t), 10), "delete")
	eq(t, column(listCells(t, s, v, sub("channel_name", "CHAN1")), 0), []string{"11", "12"}, "after delete")
}

func testViewMyChannels(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	b := mustUser(t, s, 2, "bob", "")
	room := mustChannel(t, s, "room", a.ID)
	mustChannel(t, s, "hall", a.ID)
	mustChannel(t, s, "bobs", b.ID)
	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: room.ID, UserID: b.ID, Pending: true, Level: 4}), "invite")
	v := store.ViewMyChannels
	eq(t, listCells(t, s, v, exact("user_id", hexOf(1, 32))), [][]string{
		{"1", "room", "0", "1"},
		{"2", "hall", "0", "1"},
	}, "alice's channels")
	eq(t, listCells(t, s, v, exact("user_id", hexOf(2, 32))), [][]string{
		{"3", "bobs", "0", "1"},
		{"1", "room", "1", "4"},
	}, "bob's channels")
	eq(t, len(listCells(t, s, v)), 4, "all memberships without filter")
	eq(t, len(listCells(t, s, v, exact("user_id", hexOf(9, 32)))), 0, "stranger")
	eq(t, len(listCells(t, s, v, exact("user_id", "zz"))), 0, "invalid hex")
	eq(t, len(listCells(t, s, v, exact("user_id", hexOf(1, 31)))), 0, "short id")
	eq(t, len(listCells(t, s, v, exact("user_id", "x' OR '1'='1"))), 0, "injection")
	eq(t, len(listCells(t, s, v, sub("user_id", hexOf(2, 3)))), 2, "substring on the hidden id still restricts")
	eq(t, listCells(t, s, v, exact("user_id", hexOf(2, 32)), sub("pending_invite", "1")), [][]string{{"1", "room", "1", "4"}}, "combined")
	eq(t, listCells(t, s, v, exact("user_id", hexOf(1, 32)), sub("channel_name", "HA")), [][]string{{"2", "hall", "0", "1"}}, "name filter")
}

func testViewSubChannels(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	c1 := mustChannel(t, s, "room", a.ID)
	c2 := mustChannel(t, s, "hall", a.ID)
	for _, n := range []string{"zeta", "alpha", "beta"} {
		_, err := s.CreateSubChannel(ctx(t), c1.ID, n, 50)
		ok(t, err, "sub")
	}
	_, err := s.CreateSubChannel(ctx(t), c2.ID, "other", 50)
	ok(t, err, "sub")
	ok(t, s.UpdateSubChannel(ctx(t), store.SubChannel{ChannelID: c1.ID, ID: 1, Name: "alpha", LowestLevel: 5, ActiveUpdates: true}), "update")
	v := store.ViewSubChannels
	eq(t, listCells(t, s, v, exact("channel_id", "1")), [][]string{
		{"0", "zeta", "4", "0"},
		{"1", "alpha", "5", "1"},
		{"2", "beta", "4", "0"},
	}, "room's sub-channels")
	eq(t, listCells(t, s, v, exact("channel_id", "2")), [][]string{{"0", "other", "4", "0"}}, "hall's sub-channels")
	eq(t, len(listCells(t, s, v)), 4, "all sub-channels")
	eq(t, len(listCells(t, s, v, exact("channel_id", "01"))), 0, "non-canonical id")
	eq(t, len(listCells(t, s, v, exact("channel_id", "-1"))), 0, "negative id")
	eq(t, len(listCells(t, s, v, exact("channel_id", "1 OR 1=1"))), 0, "injection")
	eq(t, len(listCells(t, s, v, exact("channel_id", "99999999999999999999999"))), 0, "huge id")
	eq(t, listCells(t, s, v, exact("channel_id", "1"), exact("lowest_access_level", "5")), [][]string{{"1", "alpha", "5", "1"}}, "public ones")
	eq(t, column(listCells(t, s, v, exact("channel_id", "1"), sub("sub_channel_name", "ET")), 1), []string{"zeta", "beta"}, "name filter")
	eq(t, column(listCells(t, s, v, exact("channel_id", "1"), exact("active_updates", "0")), 0), []string{"0", "2"}, "inactive")
}

func testViewMembers(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	b := mustUser(t, s, 2, "bob", "")
	mustUser(t, s, 3, "carol", "")
	ok(t, s.UpdateUser(ctx(t), uid(3), store.UserUpdate{DisplayName: ptr("")}), "no display name")
	c1 := mustChannel(t, s, "room", a.ID)
	mustChannel(t, s, "hall", b.ID)
	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: c1.ID, UserID: b.ID, Pending: true, Level: 4}), "invite")
	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: c1.ID, UserID: uid(3), Level: 3}), "add")
	v := store.ViewMembers
	eq(t, listCells(t, s, v, exact("channel_id", "1")), [][]string{
		{"1", "alice", "Disp alice", "0", "1"},
		{"1", "bob", "Disp bob", "1", "4"},
		{"1", "carol", "", "0", "3"},
	}, "room's members")
	eq(t, listCells(t, s, v, exact("channel_id", "2")), [][]string{{"2", "bob", "Disp bob", "0", "1"}}, "hall's members")
	eq(t, len(listCells(t, s, v)), 4, "all members")
	eq(t, column(listCells(t, s, v, exact("channel_id", "1"), sub("user_name", "B")), 1), []string{"bob"}, "user filter")
	eq(t, column(listCells(t, s, v, exact("channel_id", "1"), sub("display_name", "disp")), 1), []string{"alice", "bob"}, "display filter")
	eq(t, len(listCells(t, s, v, exact("channel_id", "abc"))), 0, "invalid id")
}

func testViewReadOnly(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	c1 := mustChannel(t, s, "room", a.ID)
	c2 := mustChannel(t, s, "hall", a.ID)
	for _, f := range []store.ReadOnlyFlag{
		{ChannelID: c1.ID, SubID: 9, Level: 5},
		{ChannelID: c1.ID, SubID: 0, Level: 4},
		{ChannelID: c2.ID, SubID: 255, Level: 1},
		{ChannelID: c1.ID, SubID: 9, Level: 1},
	} {
		ok(t, s.AddReadOnlyFlag(ctx(t), f), "flag")
	}
	v := store.ViewReadOnly
	eq(t, listCells(t, s, v), [][]string{
		{"room", "1", "0", "4"},
		{"room", "1", "9", "1"},
		{"room", "1", "9", "5"},
		{"hall", "2", "255", "1"},
	}, "all flags")
	eq(t, listCells(t, s, v, exact("channel_id", "2")), [][]string{{"hall", "2", "255", "1"}}, "hall's flags")
	eq(t, listCells(t, s, v, exact("channel_id", "1"), exact("access_level", "5")), [][]string{{"room", "1", "9", "5"}}, "public flags")
	eq(t, column(listCells(t, s, v, sub("channel_name", "OO")), 2), []string{"0", "9", "9"}, "name filter")
	ok(t, s.RenameChannel(ctx(t), c1.ID, "lounge"), "rename")
	eq(t, column(listCells(t, s, v, exact("channel_id", "1")), 0), []string{"lounge", "lounge", "lounge"}, "renamed channel")
}

func testViewUnknown(t *testing.T, s store.Store) {
	_, err := s.ListView(ctx(t), store.View("ls_nothing"), nil, store.Page{})
	is(t, err, store.ErrUnknownView, "unknown view")
	_, err = s.ListView(ctx(t), store.View("users; DROP TABLE users"), nil, store.Page{})
	is(t, err, store.ErrUnknownView, "unknown view")
	_, err = s.DeleteView(ctx(t), store.View("ls_nothing"), nil)
	if err == nil {
		t.Fatal("DeleteView of an unknown view succeeded")
	}
	// Every declared view can be listed on an empty store.
	for _, v := range []store.View{store.ViewUsers, store.ViewAuthLog, store.ViewActLog, store.ViewDebug,
		store.ViewBans, store.ViewCerts, store.ViewMods, store.ViewRankedCmds, store.ViewChannels,
		store.ViewMyChannels, store.ViewSubChannels, store.ViewMembers, store.ViewReadOnly} {
		rows := list(t, s, v)
		if rows == nil {
			// nil and empty are both fine; just make sure it is empty.
			rows = []store.Row{}
		}
		eq(t, len(rows), 0, "rows of %s on an empty store", v)
		// Filters on every column (and every hidden column) are valid SQL.
		var fs []store.Filter
		for _, c := range store.ViewColumns(v) {
			fs = append(fs, sub(c, "x"), exact(c, "x"))
		}
		for _, c := range store.HiddenFilterColumns(v) {
			fs = append(fs, sub(c, "x"), exact(c, "x"))
		}
		_, err := s.ListView(ctx(t), v, fs, store.Page{After: 5, Limit: 1})
		ok(t, err, "list %s with all filters", v)
	}
}

func testDeleteViewActLog(t *testing.T, s store.Store) {
	for i, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1", "192.168.0.1"} {
		ok(t, s.LogActivity(ctx(t), store.Activity{IP: ip, SessionID: sid(byte(i)), ClientApp: "app", Entry: "Session Active"}), "log")
	}
	v := store.ViewActLog
	n, err := s.DeleteView(ctx(t), v, []store.Filter{exact("ip_address", "10.0.0.1")})
	ok(t, err, "delete")
	eq(t, n, int64(2), "deleted rows")
	eq(t, column(listCells(t, s, v), 1), []string{"10.0.0.2", "192.168.0.1"}, "remaining")
	n, err = s.DeleteView(ctx(t), v, []store.Filter{sub("ip_address", "x' OR '1'='1")})
	ok(t, err, "delete injection")
	eq(t, n, int64(0), "injection deletes nothing")
	n, err = s.DeleteView(ctx(t), v, []store.Filter{sub("session_id", hexOf(3, 2))})
	ok(t, err, "delete by session")
	eq(t, n, int64(1), "deleted by session")
	eq(t, column(listCells(t, s, v), 1), []string{"10.0.0.2"}, "remaining")
}

func testDeleteViewDebug(t *testing.T, s store.Store) {
	for i := 0; i < 5; i++ {
		ok(t, s.LogDebug(ctx(t), fmt.Sprintf("entry %d", i)), "log")
	}
	v := store.ViewDebug
	n, err := s.DeleteView(ctx(t), v, []store.Filter{sub("log_entry", "ENTRY 1")})
	ok(t, err, "delete")
	eq(t, n, int64(1), "deleted")
	n, err = s.DeleteView(ctx(t), v, []store.Filter{sub("log_entry", "%")})
	ok(t, err, "delete %%")
	eq(t, n, int64(0), "literal %% deletes nothing")
	n, err = s.DeleteView(ctx(t), v, nil)
	ok(t, err, "delete all")
	eq(t, n, int64(4), "deleted all")
	eq(t, len(listCells(t, s, v)), 0, "empty")
	ok(t, s.LogDebug(ctx(t), "after"), "log")
	eq(t, column(listCells(t, s, v), 1), []string{"after"}, "log after delete")
}

func testDeleteViewBans(t *testing.T, s store.Store) {
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "192.168.0.1"} {
		ok(t, s.AddBan(ctx(t), ip), "ban")
	}
	n, err := s.DeleteView(ctx(t), store.ViewBans, []store.Filter{sub("ip_address", "10.0.")})
	ok(t, err, "delete")
	eq(t, n, int64(2), "deleted")
	bans, err := s.Bans(ctx(t))
	ok(t, err, "bans")
	eq(t, bans, []string{"192.168.0.1"}, "bans after delete")
	// A deleted ban can be added again.
	ok(t, s.AddBan(ctx(t), "10.0.0.1"), "ban again")
	bans, err = s.Bans(ctx(t))
	ok(t, err, "bans")
	eq(t, bans, []string{"192.168.0.1", "10.0.0.1"}, "bans")
}

func testDeleteViewNotAllowed(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	ch := mustChannel(t, s, "room", a.ID)
	_, err := s.CreateSubChannel(ctx(t), ch.ID, "sub", 50)
	ok(t, err, "sub")
	ok(t, s.AddReadOnlyFlag(ctx(t), store.ReadOnlyFlag{ChannelID: ch.ID, Level: 5}), "flag")
	ok(t, s.AddAuthAttempt(ctx(t), store.AuthAttempt{IP: "1.2.3.4", UserID: a.ID, AuthAttempt: true}), "auth")
	ok(t, s.AddModule(ctx(t), "/m"), "mod")
	ok(t, s.AddCommandRank(ctx(t), store.CommandRank{Module: "/m", Command: "c", Rank: 1}), "rank")
	ok(t, s.PutCert(ctx(t), store.Cert{CommonName: "cn", CertPEM: []byte("c"), KeyPEM: []byte("k")}), "cert")
	for _, v := range []store.View{store.ViewUsers, store.ViewAuthLog, store.ViewCerts, store.ViewMods,
		store.ViewRankedCmds, store.ViewChannels, store.ViewMyChannels, store.ViewSubChannels,
		store.ViewMembers, store.ViewReadOnly} {
		before := len(list(t, s, v))
		if before == 0 {
			t.Fatalf("%s: test data missing", v)
		}
		n, err := s.DeleteView(ctx(t), v, nil)
		if err == nil || !errors.Is(err, store.ErrNotDeletable) {
			t.Fatalf("DeleteView(%s) = %d, %v; want ErrNotDeletable", v, n, err)
		}
		eq(t, len(list(t, s, v)), before, "%s rows after refused delete", v)
	}
}
