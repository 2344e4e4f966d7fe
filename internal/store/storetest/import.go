package storetest

import (
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
)

// testImportOriginal writes one import batch (ids kept, times kept, the
// fresh root replaced) and reads every part back.
func testImportOriginal(t *testing.T, s store.Store) {
	fresh := mustUser(t, s, 1, "root", "")
	when := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	root := user(2, "root", "")
	root.Rank = 1
	dave := user(3, "dave", "dave@example.org")
	dave.Created = when
	st := store.DefaultSettings()
	st.ListenPort = 36521
	st.RootUserID = root.ID
	b := store.OriginalImport{
		ReplaceUser:   fresh.ID,
		Users:         []store.User{root, dave},
		Channels:      []store.Channel{{ID: 7, Name: "sample_ch"}, {ID: 3, Name: "third"}},
		SubChannels:   []store.SubChannel{{ChannelID: 7, ID: 200, Name: "news", LowestLevel: 3, ActiveUpdates: true}},
		Members:       []store.Member{{ChannelID: 7, UserID: dave.ID, Pending: true, Level: 4}, {ChannelID: 3, UserID: root.ID, Level: 1}},
		ReadOnlyFlags: []store.ReadOnlyFlag{{ChannelID: 7, SubID: 200, Level: 4}},
		CommandRanks:  []store.CommandRank{{Module: store.InternalModule, Command: "LS_CHS", Rank: 3}},
		Bans:          []store.ImportedBan{{IP: "192.0.2.7", Time: when}},
		Certs:         []store.Cert{{CommonName: "example.org", CertPEM: []byte("c"), KeyPEM: []byte("k")}},
		Modules:       []string{"/opt/mod"},
		Settings:      &st,
		AuthLog:       []store.ImportedAuthAttempt{{AuthAttempt: store.AuthAttempt{IP: "10.0.0.1", UserID: dave.ID, AuthAttempt: true, Accepted: true}, Time: when}},
		Activity:      []store.ImportedActivity{{Activity: store.Activity{IP: "10.0.0.1", SessionID: sid(5), ClientApp: "app", Entry: "Session Active"}, Time: when}},
		Debug:         []store.ImportedDebug{{Entry: "hello", Time: when}},
		Marks:         []store.ImportMark{{Source: "src", Log: "auth_log", LastRowID: 4}},
	}
	if b.Empty() {
		t.Fatal("batch reported empty")
	}
	ok(t, s.ImportOriginal(ctx(t), b), "import")

	_, err := s.UserByID(ctx(t), fresh.ID)
	is(t, err, store.ErrNotFound, "replaced root")
	got, err := s.UserByName(ctx(t), "root")
	ok(t, err, "root")
	eq(t, got.ID, root.ID, "root id")
	got, err = s.UserByEmail(ctx(t), "DAVE@example.org")
	ok(t, err, "dave")
	eq(t, got, dave, "dave")
	users, err := s.UserList(ctx(t))
	ok(t, err, "user list")
	eq(t, len(users), 2, "user count")
	eq(t, users[0].Name, "root", "first user")

	c, err := s.ChannelByID(ctx(t), 7)
	ok(t, err, "channel 7")
	eq(t, c.Name, "sample_ch", "channel name")
	sc, err := s.SubChannelByID(ctx(t), 7, 200)
	ok(t, err, "sub-channel")
	eq(t, sc, store.SubChannel{ChannelID: 7, ID: 200, Name: "news", LowestLevel: 3, ActiveUpdates: true}, "sub-channel")
	m, err := s.Member(ctx(t), 7, dave.ID)
	ok(t, err, "member")
	eq(t, [2]any{m.Pending, m.Level}, [2]any{true, uint8(4)}, "invitation")
	flags, err := s.ReadOnlyFlags(ctx(t), 7)
	ok(t, err, "flags")
	eq(t, flags, []store.ReadOnlyFlag{{ChannelID: 7, SubID: 200, Level: 4}}, "flags")
	// New channels get ids above every imported one.
	nc := mustChannel(t, s, "later", dave.ID)
	eq(t, nc.ID, uint64(8), "next channel id")

	ranks, err := s.CommandRanks(ctx(t))
	ok(t, err, "ranks")
	eq(t, ranks, []store.CommandRank{{Module: store.InternalModule, Command: "ls_chs", Rank: 3}}, "ranks")
	bans, err := s.Bans(ctx(t))
	ok(t, err, "bans")
	eq(t, bans, []string{"192.0.2.7"}, "bans")
	eq(t, listCells(t, s, store.ViewBans)[0][0], "2019-05-06 07:08:09", "ban time kept")
	cert, err := s.Cert(ctx(t), "EXAMPLE.org")
	ok(t, err, "cert")
	eq(t, string(cert.CertPEM)+string(cert.KeyPEM), "ck", "cert bytes")
	mods, err := s.Modules(ctx(t))
	ok(t, err, "modules")
	eq(t, mods, []string{"/opt/mod"}, "modules")
	gotSt, err := s.Settings(ctx(t))
	ok(t, err, "settings")
	eq(t, gotSt, st, "settings")
	eq(t, listCells(t, s, store.ViewAuthLog), [][]string{{"2019-05-06 07:08:09", "10.0.0.1", "dave", "1", "0", "0", "1"}}, "auth log")
	eq(t, len(listCells(t, s, store.ViewActLog)), 1, "activity log")
	eq(t, listCells(t, s, store.ViewDebug), [][]string{{"2019-05-06 07:08:09", "hello"}}, "debug log")
	marks, err := s.ImportMarks(ctx(t), "src")
	ok(t, err, "marks")
	eq(t, marks, map[string]int64{"auth_log": 4}, "marks")
	ok(t, s.ImportOriginal(ctx(t), store.OriginalImport{Marks: []store.ImportMark{{Source: "src", Log: "auth_log", LastRowID: 9}}}), "mark update")
	marks, err = s.ImportMarks(ctx(t), "src")
	ok(t, err, "marks")
	eq(t, marks, map[string]int64{"auth_log": 9}, "updated marks")
	marks, err = s.ImportMarks(ctx(t), "other")
	ok(t, err, "marks")
	eq(t, len(marks), 0, "marks of another source")
}

// testImportAllOrNothing shows that one conflicting row anywhere in the
// batch leaves the database exactly as it was.
func testImportAllOrNothing(t *testing.T, s store.Store) {
	alice := mustUser(t, s, 1, "alice", "alice@example.org")
	mustChannel(t, s, "lobby", alice.ID)
	for _, tc := range []struct {
		name string
		b    store.OriginalImport
		want error
	}{
		{"name", store.OriginalImport{Users: []store.User{user(5, "zed", ""), user(6, "ALICE", "")}}, store.ErrNameTaken},
		{"email", store.OriginalImport{Users: []store.User{user(5, "zed", ""), user(6, "al", "Alice@example.org")}}, store.ErrEmailTaken},
		{"channel", store.OriginalImport{Users: []store.User{user(5, "zed", "")}, Channels: []store.Channel{{ID: 9, Name: "LOBBY"}}}, store.ErrNameTaken},
		{"channel id", store.OriginalImport{Users: []store.User{user(5, "zed", "")}, Channels: []store.Channel{{ID: 1, Name: "other"}}}, store.ErrExists},
		{"orphan member", store.OriginalImport{Users: []store.User{user(5, "zed", "")}, Members: []store.Member{{ChannelID: 1, UserID: uid(77), Level: 4}}}, store.ErrNotFound},
		{"log after users", store.OriginalImport{Users: []store.User{user(5, "zed", "")}, Modules: []string{"/m", "/m"}}, store.ErrExists},
	} {
		is(t, s.ImportOriginal(ctx(t), tc.b), tc.want, "%s conflict", tc.name)
		_, err := s.UserByName(ctx(t), "zed")
		is(t, err, store.ErrNotFound, "%s: zed written although the import failed", tc.name)
	}
	mods, err := s.Modules(ctx(t))
	ok(t, err, "modules")
	eq(t, len(mods), 0, "modules after failed imports")
	_, err = s.ChannelByID(ctx(t), 9)
	is(t, err, store.ErrNotFound, "channel of a failed import")
}
