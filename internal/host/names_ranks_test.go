package host_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
)

// TestLookAlikeNamesAreRefused reproduces defect 7 of issue 8: names that
// render like an existing one (Cyrillic letters, zero-width space, a
// right-to-left override, full-width letters) are refused as user names
// and display names.
func TestLookAlikeNamesAreRefused(t *testing.T) {
	h := hosttest.Start(t)
	root := h.Root(t)
	const pw = "Abc-Pass-123"
	cases := []struct{ name, want string }{
		{"rооt", "user name too similar to an existing user name"},                          // Cyrillic o
		{"RООТ", "user name too similar to an existing user name"},                          // Cyrillic capitals
		{"root\u200b", "invalid user name (invisible or bidirectional control characters)"}, // zero-width space
		{"\u202etoor", "invalid user name (invisible or bidirectional control characters)"}, // renders as "root"
		{"ｒｏｏｔ", "user name already exists"},                                                // full-width: normalised to root
		{"r☃t", "invalid user name (letters, digits and punctuation only, no spaces or symbols)"},
	}
	for i, c := range cases {
		res := run(t, root, "add_acct", fmt.Sprintf("-name %s -email u%d@example.com", c.name, i), pw)
		wantErr(t, res, c.want)
		if _, err := h.Store.UserByName(context.Background(), c.name); err == nil {
			t.Fatalf("account %q created", c.name)
		}
	}
	// Full-width letters of a free name are stored in their normal form.
	wantOK(t, run(t, root, "add_acct", "-name ｂｏｂ -email bob@example.com", pw))
	if user(t, h, "bob").Name != "bob" {
		t.Fatal("full-width name not normalised")
	}
	bob := h.Login(t, "bob", pw)
	wantErr(t, run(t, bob, "set_user_name", "-new_name Rооt"), "user name too similar to an existing user name")
	wantErr(t, run(t, bob, "set_user_name", "-new_name bob\u200d"), "invalid user name (invisible or bidirectional control characters)")
	wantOK(t, run(t, bob, "set_user_name", "-new_name b0b")) // looks like its own old name: fine
	if user(t, h, "b0b").Name != "b0b" {
		t.Fatal("rename to a look-alike of the own name refused")
	}
	wantErr(t, run(t, bob, "set_disp_name", "-new_name rооt"), "display name too similar to another user's name")
	wantErr(t, run(t, bob, "set_disp_name", "-new_name \u202etoor"), "display name contains invisible or bidirectional control characters")
	wantErr(t, run(t, bob, "set_disp_name", "-new_name \"Bob\u200bby\""), "display name contains invisible or bidirectional control characters")
	wantOK(t, run(t, bob, "set_disp_name", `-new_name "Bob  the   Builder"`))
	if d := user(t, h, "b0b").DisplayName; d != "Bob the Builder" {
		t.Fatalf("display name = %q, want spaces collapsed", d)
	}
	// A look-alike of another user's name (rank admin adds it).
	wantErr(t, run(t, root, "add_acct", "-name BOB -email b2@example.com", pw), "user name too similar to an existing user name")
}

// TestCreatedAccountsNeverOutrankTheirCreator reproduces defect 6 of issue
// 8: an account created by a user gets max(initial_host_rank, creator's
// rank); rank assignments obey the same rule.
func TestCreatedAccountsNeverOutrankTheirCreator(t *testing.T) {
	const pw = "Abc-Pass-123"
	for _, initial := range []uint32{2, 5} {
		h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
			s, _ := st.Settings(context.Background())
			s.InitialHostRank, s.AllowPublicRegistrations = initial, true
			_ = st.SaveSettings(context.Background(), s)
		}})
		h.RankAll(t, 100, "add_acct", "set_user_rank")
		for _, creator := range []uint32{1, 2, 3, 10} {
			name := fmt.Sprintf("maker%d", creator)
			h.CreateUser(t, name, pw, creator)
			c := h.Login(t, name, pw)
			made := fmt.Sprintf("made%d", creator)
			wantOK(t, run(t, c, "add_acct", fmt.Sprintf("-name %s -email %s@example.com", made, made), pw))
			if got, want := user(t, h, made).Rank, max(initial, creator); got != want {
				t.Errorf("initial %d, creator rank %d: created rank %d, want %d", initial, creator, got, want)
			}
		}
		// Public registration: the initial rank.
		anon := h.Dial(t)
		wantOK(t, run(t, anon, "add_acct", "-name public1 -email public1@example.com", pw))
		if got := user(t, h, "public1").Rank; got != initial {
			t.Errorf("public registration: rank %d, want %d", got, initial)
		}
		// set_user_rank: never better than the caller's own rank.
		h.CreateUser(t, fmt.Sprintf("low%d", initial), pw, 50)
		m10 := h.Login(t, "maker10", pw)
		wantErr(t, run(t, m10, "set_user_rank", fmt.Sprintf("-user low%d -rank 2", initial)), "cannot assign a rank higher than your own")
		wantOK(t, run(t, m10, "set_user_rank", fmt.Sprintf("-user low%d -rank 10", initial)))
		wantErr(t, run(t, m10, "set_user_rank", fmt.Sprintf("-user low%d -rank 11", initial)), "target out-ranks or equals you")
	}
}
