// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a fresh, empty
// store; every subtest opens its own store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Run runs the conformance suite. open must return a new, empty store
// (freshly migrated) and arrange for it to be closed and removed when t
// ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ImportOriginal", testImportOriginal}, {"ImportAllOrNothing", testImportAllOrNothing},
		{"SettingsDefaults", testSettingsDefaults},
		{"SettingsSaveReload", testSettingsSaveReload},
		{"UserCreateAndLookup", testUserCreateAndLookup},
		{"UserConflicts", testUserConflicts},
		{"UserUpdate", testUserUpdate},
		{"UserDelete", testUserDelete},
		{"AuthLog", testAuthLog},
		{"Bans", testBans},
		{"CommandRanks", testCommandRanks},
		{"Modules", testModules},
		{"Certs", testCerts},
		{"Channels", testChannels},
		{"ChannelIDsNeverReused", testChannelIDsNeverReused},
		{"ChannelCascade", testChannelCascade},
		{"Members", testMembers},
		{"DeleteUserCascadesMemberships", testDeleteUserCascades},
		{"TransferOwnership", testTransferOwnership},
		{"SubChannels", testSubChannels},
		{"SubChannelLimit", testSubChannelLimit},
		{"SubChannelIDSpace", testSubChannelIDSpace},
		{"ReadOnlyFlags", testReadOnlyFlags},
		{"ConcurrentWrites", testConcurrentWrites},
		{"LogBatches", testLogBatches},
		{"ViewUsers", testViewUsers},
		{"ViewFilterEscaping", testViewFilterEscaping},
		{"ViewPaging", testViewPaging},
		{"ViewAuthLog", testViewAuthLog},
		{"ViewActLog", testViewActLog},
		{"ViewDebug", testViewDebug},
		{"ViewBans", testViewBans},
		{"ViewCertsModsRanks", testViewCertsModsRanks},
		{"ViewChannels", testViewChannels},
		{"ViewMyChannels", testViewMyChannels},
		{"ViewSubChannels", testViewSubChannels},
		{"ViewMembers", testViewMembers},
		{"ViewReadOnly", testViewReadOnly},
		{"ViewUnknown", testViewUnknown},
		{"DeleteViewActLog", testDeleteViewActLog},
		{"DeleteViewDebug", testDeleteViewDebug},
		{"DeleteViewBans", testDeleteViewBans},
		{"DeleteViewNotAllowed", testDeleteViewNotAllowed},
		{"AdmissionSettings", testAdmissionSettings},
		{"FilesSettings", testFilesSettings},
	}
	tests = append(tests, emailTests()...)
	tests = append(tests, adminTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
	runAccountTests(t, open)
}

// ---- helpers ----

func ctx(t *testing.T) context.Context { return t.Context() }

// uid returns a user id whose bytes are all b.
func uid(b byte) wire.UserID {
	var id wire.UserID
	for i := range id {
		id[i] = b
	}
	return id
}

// sid returns a session id whose bytes are all b.
func sid(b byte) wire.SessionID {
	var id wire.SessionID
	for i := range id {
		id[i] = b
	}
	return id
}

// ok fails the test on an unexpected error.
func ok(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", fmt.Sprintf(what, args...), err)
	}
}

// is fails the test unless errors.Is(err, want).
func is(t *testing.T, err, want error, what string, args ...any) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", fmt.Sprintf(what, args...), err, want)
	}
}

// eq fails the test unless got and want are deeply equal.
func eq(t *testing.T, got, want any, what string, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %#v\n want %#v", fmt.Sprintf(what, args...), got, want)
	}
}

// user returns a typical account.
func user(b byte, name, email string) store.User {
	return store.User{
		ID:           uid(b),
		Name:         name,
		Email:        email,
		DisplayName:  "Disp " + name,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$" + name,
		Rank:         2,
		Created:      time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// mustUser creates an account and returns it.
func mustUser(t *testing.T, s store.Store, b byte, name, email string) store.User {
	t.Helper()
	u := user(b, name, email)
	ok(t, s.CreateUser(ctx(t), u), "create user %s", name)
	return u
}

// mustChannel creates a channel owned by owner.
func mustChannel(t *testing.T, s store.Store, name string, owner wire.UserID) store.Channel {
	t.Helper()
	c, err := s.CreateChannel(ctx(t), name, owner)
	ok(t, err, "create channel %s", name)
	return c
}

func ptr[T any](v T) *T { return &v }

// checkNow fails unless cell is a "YYYY-MM-DD HH:MM:SS" UTC time between
// from and to (to the second).
func checkNow(t *testing.T, cell string, from, to time.Time) {
	t.Helper()
	ts, err := time.ParseInLocation(store.TimeLayout, cell, time.UTC)
	if err != nil {
		t.Fatalf("time cell %q: %v", cell, err)
	}
	if ts.Before(from.UTC().Truncate(time.Second).Add(-time.Second)) || ts.After(to.UTC().Add(time.Second)) {
		t.Fatalf("time cell %q not within [%v, %v]", cell, from.UTC(), to.UTC())
	}
}

// list returns all rows of a view with the filters.
func list(t *testing.T, s store.Store, v store.View, filters ...store.Filter) []store.Row {
	t.Helper()
	rows, err := s.ListView(ctx(t), v, filters, store.Page{})
	ok(t, err, "list %s %v", v, filters)
	return rows
}

// cells returns the cells of the rows, checking the keys increase and the
// row width.
func cells(t *testing.T, v store.View, rows []store.Row) [][]string {
	t.Helper()
	out := [][]string{}
	var last int64
	for i, r := range rows {
		if i > 0 && r.Key <= last {
			t.Fatalf("%s: row keys not increasing: %d after %d", v, r.Key, last)
		}
		last = r.Key
		if len(r.Cells) != len(store.ViewColumns(v)) {
			t.Fatalf("%s: row has %d cells, want %d", v, len(r.Cells), len(store.ViewColumns(v)))
		}
		out = append(out, r.Cells)
	}
	return out
}

// listCells returns the cells of all rows of a view with the filters.
func listCells(t *testing.T, s store.Store, v store.View, filters ...store.Filter) [][]string {
	t.Helper()
	return cells(t, v, list(t, s, v, filters...))
}

// column returns column i of every row.
func column(rows [][]string, i int) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r[i])
	}
	return out
}

func sub(col, val string) store.Filter   { return store.Filter{Column: col, Value: val} }
func exact(col, val string) store.Filter { return store.Filter{Column: col, Value: val, Exact: true} }

// ---- settings ----

func testSettingsDefaults(t *testing.T, s store.Store) {
	got, err := s.Settings(ctx(t))
	ok(t, err, "settings")
	want := store.Settings{
		ListenAddress:            "127.0.0.1",
		ListenPort:               35516,
		AutoBanThreshold:         30,
		AutoLockThreshold:        20,
		MaxSessions:              100,
		AllowPublicRegistrations: false,
		InitialHostRank:          2,
		MailerExecutable:         "/bin/sh",
		MailerSendCommand:        `-c "echo %message_body% | mutt -s %subject% %target_email%"`,
		VerifyEmailSubject:       "Email Verification",
		TempPwEmailSubject:       "Password Reset",
		VerifyEmailTemplate:      store.DefaultVerifyEmailTemplate,
		TempPwEmailTemplate:      store.DefaultTempPwEmailTemplate,
		EnableEmailVerify:        true,
		EnablePwReset:            true,
		ActiveUpdates:            true,
		MaxSubChannels:           50,
	}
	eq(t, got, want, "default settings")
	eq(t, got, store.DefaultSettings(), "DefaultSettings")
	for _, p := range []string{"%user_name%", "%confirmation_code%", "%date%"} {
		if !strings.Contains(got.VerifyEmailTemplate, p) {
			t.Errorf("verify template lacks %s", p)
		}
	}
	for _, p := range []string{"%user_name%", "%temp_pw%", "%date%"} {
		if !strings.Contains(got.TempPwEmailTemplate, p) {
			t.Errorf("temp pw template lacks %s", p)
		}
	}
}

func testSettingsSaveReload(t *testing.T, s store.Store) {
	st := store.Settings{
		ListenAddress:            "::1",
		ListenPort:               65535,
		AutoBanThreshold:         4294967295,
		AutoLockThreshold:        7,
		MaxSessions:              3,
		AllowPublicRegistrations: true,
		InitialHostRank:          9,
		MailerExecutable:         "/usr/bin/mailer",
		MailerSendCommand:        "%subject% %target_email% %message_body% 'quoted' \"dq\"",
		VerifyEmailSubject:       "Verify ✓",
		TempPwEmailSubject:       "Reset",
		VerifyEmailTemplate:      "v %user_name% %confirmation_code% %date%\nline2 ' \\ %",
		TempPwEmailTemplate:      "t %user_name% %temp_pw% %date%",
		EnableEmailVerify:        false,
		EnablePwReset:            false,
		ActiveUpdates:            false,
		MaxSubChannels:           256,
		DefaultPassword:          "Secret#123",
		RootUserID:               uid(0x42),
	}
	ok(t, s.SaveSettings(ctx(t), st), "save settings")
	got, err := s.Settings(ctx(t))
	ok(t, err, "settings")
	eq(t, got, st, "reloaded settings")

	st.DefaultPassword = ""
	st.ListenPort = 1
	st.ActiveUpdates = true
	ok(t, s.SaveSettings(ctx(t), st), "save settings again")
	got, err = s.Settings(ctx(t))
	ok(t, err, "settings")
	eq(t, got, st, "settings after second save")
}

// ---- users ----

func testUserCreateAndLookup(t *testing.T, s store.Store) {
	u := mustUser(t, s, 1, "Alice", "Alice@Example.com")
	u.Locked, u.NewPasswordReq, u.NewNameReq, u.EmailVerified = false, false, false, false

	got, err := s.UserByID(ctx(t), u.ID)
	ok(t, err, "by id")
	eq(t, got, u, "user by id")
	got, err = s.UserByName(ctx(t), "aLICE")
	ok(t, err, "by name")
	eq(t, got, u, "user by name (case-insensitive)")
	got, err = s.UserByEmail(ctx(t), "alice@EXAMPLE.COM")
	ok(t, err, "by email")
	eq(t, got, u, "user by email (case-insensitive)")

	_, err = s.UserByID(ctx(t), uid(99))
	is(t, err, store.ErrNotFound, "unknown id")
	_, err = s.UserByName(ctx(t), "bob")
	is(t, err, store.ErrNotFound, "unknown name")
	_, err = s.UserByName(ctx(t), "Alic")
	is(t, err, store.ErrNotFound, "name prefix is not a match")
	_, err = s.UserByEmail(ctx(t), "bob@example.com")
	is(t, err, store.ErrNotFound, "unknown email")
	_, err = s.UserByEmail(ctx(t), "")
	is(t, err, store.ErrNotFound, "empty email")

	// Every flag and a large rank survive the round trip.
	v := user(2, "Victor", "v@example.com")
	v.Rank, v.Locked, v.NewPasswordReq, v.NewNameReq, v.EmailVerified = 4294967295, true, true, true, true
	v.DisplayName = ""
	ok(t, s.CreateUser(ctx(t), v), "create victor")
	got, err = s.UserByID(ctx(t), v.ID)
	ok(t, err, "victor")
	eq(t, got, v, "victor")

	// A zero Created means "now", stored in UTC with second precision.
	before := time.Now()
	r := user(3, "root", "")
	r.Created = time.Time{}
	ok(t, s.CreateUser(ctx(t), r), "create root")
	after := time.Now()
	got, err = s.UserByID(ctx(t), r.ID)
	ok(t, err, "root")
	if got.Created.Location() != time.UTC || got.Created.Nanosecond() != 0 {
		t.Fatalf("created %v is not UTC whole seconds", got.Created)
	}
	checkNow(t, got.Created.Format(store.TimeLayout), before, after)
	r.Created = got.Created
	eq(t, got, r, "root")
	if got.Email != "" {
		t.Fatalf("root email %q, want empty", got.Email)
	}

	// A non-UTC creation time is stored as UTC.
	loc := time.FixedZone("X", 5*3600)
	w := user(4, "walter", "w@example.com")
	w.Created = time.Date(2023, 12, 31, 23, 30, 0, 999, loc)
	ok(t, s.CreateUser(ctx(t), w), "create walter")
	got, err = s.UserByID(ctx(t), w.ID)
	ok(t, err, "walter")
	eq(t, got.Created, time.Date(2023, 12, 31, 18, 30, 0, 0, time.UTC), "walter created")
}

func testUserConflicts(t *testing.T, s store.Store) {
	mustUser(t, s, 1, "alice", "alice@example.com")
	is(t, s.CreateUser(ctx(t), user(2, "ALICE", "other@example.com")), store.ErrNameTaken, "duplicate name")
	is(t, s.CreateUser(ctx(t), user(2, "bob", "Alice@Example.COM")), store.ErrEmailTaken, "duplicate email")
	err := s.CreateUser(ctx(t), user(1, "carol", "carol@example.com"))
	if err == nil || errors.Is(err, store.ErrNameTaken) || errors.Is(err, store.ErrEmailTaken) {
		t.Fatalf("duplicate id: got %v, want an error that is neither name nor email taken", err)
	}
	is(t, err, store.ErrExists, "duplicate id")
	// Failed inserts left nothing behind.
	_, err = s.UserByName(ctx(t), "bob")
	is(t, err, store.ErrNotFound, "bob after failed insert")
	_, err = s.UserByID(ctx(t), uid(2))
	is(t, err, store.ErrNotFound, "id 2 after failed inserts")

	// Accounts without e-mail never conflict with each other.
	mustUser(t, s, 3, "root", "")
	mustUser(t, s, 4, "nomail", "")
	mustUser(t, s, 5, "nomail2", "")
	for _, b := range []byte{3, 4, 5} {
		u, err := s.UserByID(ctx(t), uid(b))
		ok(t, err, "user %d", b)
		if u.Email != "" {
			t.Fatalf("user %d email %q", b, u.Email)
		}
	}
	// An empty e-mail is NULL, not a string: the e-mail view shows nothing
	// and UserByEmail("") finds nobody.
	_, err = s.UserByEmail(ctx(t), "")
	is(t, err, store.ErrNotFound, "empty email lookup")
}

func testUserUpdate(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "alice@example.com")
	mustUser(t, s, 2, "bob", "bob@example.com")

	// Every field, one at a time.
	up := []struct {
		u     store.UserUpdate
		apply func(u *store.User)
	}{
		{store.UserUpdate{Name: ptr("Alicia")}, func(u *store.User) { u.Name = "Alicia" }},
		{store.UserUpdate{Email: ptr("new@example.com")}, func(u *store.User) { u.Email = "new@example.com" }},
		{store.UserUpdate{DisplayName: ptr("The Alice")}, func(u *store.User) { u.DisplayName = "The Alice" }},
		{store.UserUpdate{PasswordHash: ptr("$argon2id$new")}, func(u *store.User) { u.PasswordHash = "$argon2id$new" }},
		{store.UserUpdate{Rank: ptr(uint32(1))}, func(u *store.User) { u.Rank = 1 }},
		{store.UserUpdate{Locked: ptr(true)}, func(u *store.User) { u.Locked = true }},
		{store.UserUpdate{NewPasswordReq: ptr(true)}, func(u *store.User) { u.NewPasswordReq = true }},
		{store.UserUpdate{NewNameReq: ptr(true)}, func(u *store.User) { u.NewNameReq = true }},
		{store.UserUpdate{EmailVerified: ptr(true)}, func(u *store.User) { u.EmailVerified = true }},
		{store.UserUpdate{Locked: ptr(false), EmailVerified: ptr(false), Rank: ptr(uint32(3))}, func(u *store.User) {
			u.Locked, u.EmailVerified, u.Rank = false, false, 3
		}},
		{store.UserUpdate{}, func(u *store.User) {}},
	}
	for i, c := range up {
		ok(t, s.UpdateUser(ctx(t), a.ID, c.u), "update %d", i)
		c.apply(&a)
		got, err := s.UserByID(ctx(t), a.ID)
		ok(t, err, "reload %d", i)
		eq(t, got, a, "after update %d", i)
	}
	// Renaming to the own name in another case is fine.
	ok(t, s.UpdateUser(ctx(t), a.ID, store.UserUpdate{Name: ptr("ALICIA")}), "case-only rename")
	a.Name = "ALICIA"
	_, err := s.UserByName(ctx(t), "alicia")
	ok(t, err, "lookup after case-only rename")

	is(t, s.UpdateUser(ctx(t), a.ID, store.UserUpdate{Name: ptr("BOB")}), store.ErrNameTaken, "rename to taken name")
	is(t, s.UpdateUser(ctx(t), a.ID, store.UserUpdate{Email: ptr("BOB@example.com")}), store.ErrEmailTaken, "taken email")
	got, err := s.UserByID(ctx(t), a.ID)
	ok(t, err, "reload")
	eq(t, got, a, "unchanged after conflicts")

	// Clearing the e-mail stores NULL: two accounts without one coexist.
	ok(t, s.UpdateUser(ctx(t), a.ID, store.UserUpdate{Email: ptr("")}), "clear alice email")
	ok(t, s.UpdateUser(ctx(t), uid(2), store.UserUpdate{Email: ptr("")}), "clear bob email")
	got, err = s.UserByID(ctx(t), a.ID)
	ok(t, err, "reload")
	eq(t, got.Email, "", "cleared email")
	_, err = s.UserByEmail(ctx(t), "new@example.com")
	is(t, err, store.ErrNotFound, "old email")

	is(t, s.UpdateUser(ctx(t), uid(9), store.UserUpdate{Rank: ptr(uint32(1))}), store.ErrNotFound, "update unknown")
	is(t, s.UpdateUser(ctx(t), uid(9), store.UserUpdate{}), store.ErrNotFound, "empty update of unknown")
}

func testUserDelete(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "alice@example.com")
	mustUser(t, s, 2, "bob", "bob@example.com")
	ok(t, s.DeleteUser(ctx(t), a.ID), "delete")
	_, err := s.UserByID(ctx(t), a.ID)
	is(t, err, store.ErrNotFound, "deleted user")
	is(t, s.DeleteUser(ctx(t), a.ID), store.ErrNotFound, "delete again")
	_, err = s.UserByID(ctx(t), uid(2))
	ok(t, err, "bob still there")
	// The name and e-mail are free again.
	mustUser(t, s, 3, "Alice", "ALICE@example.com")
}

// ---- logs ----

func testAuthLog(t *testing.T, s store.Store) {
	a, b := uid(1), uid(2)
	fail := func(u wire.UserID, ip string) store.AuthAttempt {
		return store.AuthAttempt{IP: ip, UserID: u, AuthAttempt: true, CountToThreshold: true}
	}
	add := func(at store.AuthAttempt) { t.Helper(); ok(t, s.AddAuthAttempt(ctx(t), at), "add attempt") }
	count := func(u wire.UserID, ip string, want int) {
		t.Helper()
		n, err := s.CountFailedAuth(ctx(t), u, ip)
		ok(t, err, "count")
		if n != want {
			t.Fatalf("CountFailedAuth(%x.., %q) = %d, want %d", u[0], ip, n, want)
		}
	}
	count(a, "", 0)
	for i := 0; i < 3; i++ {
		add(fail(a, "10.0.0.1"))
	}
	add(fail(a, "10.0.0.2"))
	add(fail(a, "FE80::1"))
	add(fail(b, "10.0.0.1"))
	// Rows that must not count: accepted, not counted, recovery attempts.
	add(store.AuthAttempt{IP: "10.0.0.1", UserID: a, AuthAttempt: true, Accepted: true})
	add(store.AuthAttempt{IP: "10.0.0.1", UserID: a, AuthAttempt: true})
	add(store.AuthAttempt{IP: "10.0.0.1", UserID: a, RecoverAttempt: true, CountToThreshold: true})

	count(a, "", 5)
	count(a, "10.0.0.1", 3)
	count(a, "10.0.0.2", 1)
	count(a, "fe80::1", 1)
	count(a, "10.0.0.3", 0)
	count(b, "", 1)
	count(uid(3), "", 0)

	ok(t, s.ResetFailedAuth(ctx(t), a, "10.0.0.1"), "reset ip")
	count(a, "", 2)
	count(a, "10.0.0.1", 0)
	count(a, "10.0.0.2", 1)
	count(b, "10.0.0.1", 1)

	add(fail(a, "10.0.0.1"))
	count(a, "", 3)
	ok(t, s.ResetFailedAuth(ctx(t), a, ""), "reset all")
	count(a, "", 0)
	count(b, "", 1)
	ok(t, s.ResetFailedAuth(ctx(t), uid(3), ""), "reset unknown user")
}

// ---- bans, ranks, modules, certs ----

func testBans(t *testing.T, s store.Store) {
	bans, err := s.Bans(ctx(t))
	ok(t, err, "bans")
	if len(bans) != 0 {
		t.Fatalf("fresh store has bans %v", bans)
	}
	ok(t, s.AddBan(ctx(t), "10.0.0.1"), "add")
	ok(t, s.AddBan(ctx(t), "fe80::1"), "add v6")
	ok(t, s.AddBan(ctx(t), "10.0.0.1"), "add again")
	ok(t, s.AddBan(ctx(t), "FE80::1"), "add again, other case")
	bans, err = s.Bans(ctx(t))
	ok(t, err, "bans")
	eq(t, bans, []string{"10.0.0.1", "fe80::1"}, "bans")
	ok(t, s.RemoveBan(ctx(t), "10.0.0.9"), "remove absent")
	ok(t, s.RemoveBan(ctx(t), "FE80::1"), "remove other case")
	bans, err = s.Bans(ctx(t))
	ok(t, err, "bans")
	eq(t, bans, []string{"10.0.0.1"}, "bans after remove")
	ok(t, s.RemoveBan(ctx(t), "10.0.0.1"), "remove")
	ok(t, s.RemoveBan(ctx(t), "10.0.0.1"), "remove again")
	bans, err = s.Bans(ctx(t))
	ok(t, err, "bans")
	if len(bans) != 0 {
		t.Fatalf("bans %v, want none", bans)
	}
}

func testCommandRanks(t *testing.T, s store.Store) {
	rs, err := s.CommandRanks(ctx(t))
	ok(t, err, "ranks")
	if len(rs) != 0 {
		t.Fatalf("fresh store has ranks %v", rs)
	}
	ok(t, s.AddCommandRank(ctx(t), store.CommandRank{Module: store.InternalModule, Command: "Add_Acct", Rank: 1}), "add")
	ok(t, s.AddCommandRank(ctx(t), store.CommandRank{Module: "/opt/mod", Command: "add_acct", Rank: 7}), "same command, other module")
	ok(t, s.AddCommandRank(ctx(t), store.CommandRank{Module: store.InternalModule, Command: "ls_users", Rank: 4294967295}), "add 2")
	is(t, s.AddCommandRank(ctx(t), store.CommandRank{Module: store.InternalModule, Command: "add_acct", Rank: 3}), store.ErrExists, "duplicate")
	is(t, s.AddCommandRank(ctx(t), store.CommandRank{Module: store.InternalModule, Command: "ADD_ACCT", Rank: 3}), store.ErrExists, "duplicate other case")
	rs, err = s.CommandRanks(ctx(t))
	ok(t, err, "ranks")
	eq(t, rs, []store.CommandRank{
		{Module: store.InternalModule, Command: "add_acct", Rank: 1},
		{Module: "/opt/mod", Command: "add_acct", Rank: 7},
		{Module: store.InternalModule, Command: "ls_users", Rank: 4294967295},
	}, "ranks")
	ok(t, s.RemoveCommandRank(ctx(t), store.InternalModule, "ADD_acct"), "remove other case")
	is(t, s.RemoveCommandRank(ctx(t), store.InternalModule, "add_acct"), store.ErrNotFound, "remove again")
	is(t, s.RemoveCommandRank(ctx(t), "/OPT/MOD", "add_acct"), store.ErrNotFound, "module paths are case-sensitive")
	rs, err = s.CommandRanks(ctx(t))
	ok(t, err, "ranks")
	eq(t, rs, []store.CommandRank{
		{Module: "/opt/mod", Command: "add_acct", Rank: 7},
		{Module: store.InternalModule, Command: "ls_users", Rank: 4294967295},
	}, "ranks after remove")
}

func testModules(t *testing.T, s store.Store) {
	ms, err := s.Modules(ctx(t))
	ok(t, err, "modules")
	if len(ms) != 0 {
		t.Fatalf("fresh store has modules %v", ms)
	}
	ok(t, s.AddModule(ctx(t), "/opt/b"), "add")
	ok(t, s.AddModule(ctx(t), "/opt/a"), "add")
	ok(t, s.AddModule(ctx(t), "/OPT/A"), "paths are case-sensitive")
	is(t, s.AddModule(ctx(t), "/opt/a"), store.ErrExists, "duplicate")
	ms, err = s.Modules(ctx(t))
	ok(t, err, "modules")
	eq(t, ms, []string{"/opt/b", "/opt/a", "/OPT/A"}, "modules")
	ok(t, s.RemoveModule(ctx(t), "/opt/a"), "remove")
	is(t, s.RemoveModule(ctx(t), "/opt/a"), store.ErrNotFound, "remove again")
	ms, err = s.Modules(ctx(t))
	ok(t, err, "modules")
	eq(t, ms, []string{"/opt/b", "/OPT/A"}, "modules after remove")
}

func testCerts(t *testing.T, s store.Store) {
	_, err := s.Cert(ctx(t), "example.com")
	is(t, err, store.ErrNotFound, "missing cert")
	a := store.Cert{CommonName: "Example.com", CertPEM: []byte("cert-a\x00\xff"), KeyPEM: []byte("key-a")}
	b := store.Cert{CommonName: "other.org", CertPEM: []byte("cert-b"), KeyPEM: []byte("key-b")}
	ok(t, s.PutCert(ctx(t), a), "put a")
	ok(t, s.PutCert(ctx(t), b), "put b")
	got, err := s.Cert(ctx(t), "EXAMPLE.COM")
	ok(t, err, "get a")
	eq(t, got, a, "cert a (case-insensitive lookup)")

	a2 := store.Cert{CommonName: "example.COM", CertPEM: []byte("cert-a2"), KeyPEM: []byte("key-a2")}
	ok(t, s.PutCert(ctx(t), a2), "replace a")
	got, err = s.Cert(ctx(t), "example.com")
	ok(t, err, "get a2")
	eq(t, got.CertPEM, a2.CertPEM, "replaced cert")
	eq(t, got.KeyPEM, a2.KeyPEM, "replaced key")
	got, err = s.Cert(ctx(t), "other.org")
	ok(t, err, "get b")
	eq(t, got, b, "b untouched by replacing a")
	if rows := list(t, s, store.ViewCerts); len(rows) != 2 {
		t.Fatalf("%d certs after replace, want 2", len(rows))
	}

	ok(t, s.DeleteCert(ctx(t), "EXAMPLE.com"), "delete a")
	is(t, s.DeleteCert(ctx(t), "example.com"), store.ErrNotFound, "delete a again")
	_, err = s.Cert(ctx(t), "example.com")
	is(t, err, store.ErrNotFound, "deleted cert")
	_, err = s.Cert(ctx(t), "other.org")
	ok(t, err, "b still there")
}

// ---- concurrency ----

func testConcurrentWrites(t *testing.T, s store.Store) {
	owner := mustUser(t, s, 1, "owner", "")
	ch := mustChannel(t, s, "busy", owner.ID)
	const workers, each = 8, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	ids := make(chan uint8, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				sc, err := s.CreateSubChannel(ctx(t), ch.ID, fmt.Sprintf("sub-%d-%d", w, i), 50)
				if err != nil {
					errs <- err
					continue
				}
				ids <- sc.ID
				if err := s.LogDebug(ctx(t), fmt.Sprintf("worker %d step %d", w, i)); err != nil {
					errs <- err
				}
				if _, err := s.ListView(ctx(t), store.ViewDebug, nil, store.Page{Limit: 5}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	seen := map[uint8]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("sub-channel id %d handed out twice", id)
		}
		seen[id] = true
	}
	for i := 0; i < workers*each; i++ {
		if !seen[uint8(i)] {
			t.Errorf("sub-channel id %d not used; ids must be dense from 0", i)
		}
	}
	if rows := list(t, s, store.ViewDebug); len(rows) != workers*each {
		t.Errorf("%d debug rows, want %d", len(rows), workers*each)
	}
}

// testLogBatches checks that several log rows go in with one call, in order.
func testLogBatches(t *testing.T, s store.Store) {
	ok(t, s.LogDebug(ctx(t)), "empty debug batch")
	ok(t, s.LogActivity(ctx(t)), "empty activity batch")
	ok(t, s.LogDebug(ctx(t), "batch one", "batch two", "batch three"), "debug batch")
	ok(t, s.LogActivity(ctx(t),
		store.Activity{IP: "10.1.1.1", Entry: "Session Active"},
		store.Activity{IP: "10.1.1.1", Entry: "Session Ended"}), "activity batch")
	rows, err := s.ListView(ctx(t), store.ViewDebug, []store.Filter{{Column: "log_entry", Value: "batch"}}, store.Page{})
	ok(t, err, "list debug")
	if len(rows) != 3 || rows[0].Cells[1] != "batch one" || rows[2].Cells[1] != "batch three" {
		t.Fatalf("debug rows = %v", rows)
	}
	rows, err = s.ListView(ctx(t), store.ViewActLog, []store.Filter{{Column: "ip_address", Value: "10.1.1.1"}}, store.Page{})
	ok(t, err, "list activity")
	if len(rows) != 2 || rows[0].Cells[4] != "Session Active" || rows[1].Cells[4] != "Session Ended" {
		t.Fatalf("activity rows = %v", rows)
	}
}
