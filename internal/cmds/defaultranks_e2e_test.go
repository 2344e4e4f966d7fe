package cmds_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// freshAccount creates an account the way an administrator does (root's
// add_acct, which gives it the host's initial rank) and logs it in.
func (e *env) freshAccount(root *client.Client, name string) *sess {
	e.t.Helper()
	ans := client.PromptFunc(func(context.Context, wire.Frame) (string, error) { return testPassword, nil })
	res, err := root.RunInteractive(ctx10(e.t), "add_acct", "-name "+name+" -email "+name+"@example.org", ans)
	if err != nil {
		e.t.Fatalf("add_acct %s: %v", name, err)
	}
	if err := res.Err(); err != nil {
		e.t.Fatalf("add_acct %s: %v", name, err)
	}
	u, err := e.h.Store.UserByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	if u.Rank != store.DefaultInitialHostRank {
		e.t.Fatalf("%s has rank %d, want the initial rank %d", name, u.Rank, store.DefaultInitialHostRank)
	}
	e.users[name] = u
	return e.login(name, name)
}

// TestDefaultRanksLetFreshAccountsChat installs the first-start policy and
// checks, as two fresh accounts, that the everyday chat flow works and that
// the command table holds exactly the exempt commands plus the policy:
// every other (administration) command is absent and refused.
func TestDefaultRanksLetFreshAccountsChat(t *testing.T) {
	e := &env{t: t, users: map[string]store.User{}}
	e.h = hosttest.StartWith(t, hosttest.Options{ForceTLS: true, Setup: func(st store.Store) {
		if err := host.InstallDefaultRanks(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}})
	root := e.h.Root(t)
	alice := e.freshAccount(root, "alice")
	bob := e.freshAccount(root, "bob")

	alice.ok(t, "add_ch", "-ch_name team")
	alice.ok(t, "invite_to_ch", "-ch_name team -user bob")
	bob.ok(t, "accept_ch", "-ch_name team")
	alice.ok(t, "add_sub_ch", "-ch_name team -sub_name general")
	alice.ok(t, "open_sub_ch", "-ch_name team -sub_name general")
	bob.ok(t, "open_sub_ch", "-ch_name team -sub_name general")
	e.sync(alice, bob)
	alice.sendOK(t, "cast", wire.TypeText, wire.EncodeText("hello bob"))
	bob.sendOK(t, "cast", wire.TypeText, wire.EncodeText("hello alice"))
	got := e.sync(alice, bob)
	want := func(text string) []wire.Frame {
		return []wire.Frame{frame(wire.AsyncCast, wire.TypeText, wire.EncodeText(text))}
	}
	if c := only(got[bob], isCast); !sameFrames(c, want("hello bob")) {
		t.Errorf("bob received casts %s", describe(c))
	}
	if c := only(got[alice], isCast); !sameFrames(c, want("hello alice")) {
		t.Errorf("alice received casts %s", describe(c))
	}
	for _, cmd := range []string{"ls_chs", "ls_sub_chs -ch_name team", "ls_ch_members -ch_name team", "ls_open_chs", "ls_p2p", "host_info"} {
		name, args, _ := strings.Cut(cmd, " ")
		bob.ok(t, name, args)
	}

	// The permission matrix: every command root has is either exempt
	// (loaded for every account: what an account of a rank no command is
	// ranked for has), in the policy, or refused to the fresh account.
	e.users["outsider"] = e.h.CreateUser(t, "outsider", testPassword, 99)
	outsider := e.login("outsider", "outsider")
	exempt := map[string]bool{}
	for c := range outsider.c.Commands() {
		exempt[c] = true
	}
	for _, c := range []string{"auth", "my_info", "set_pw"} {
		if !exempt[c] {
			t.Errorf("%s is not exempt", c)
		}
	}
	policy := map[string]bool{}
	for _, c := range host.DefaultRankedCommands {
		policy[c] = true
	}
	rootCmds := root.Commands()
	var names []string
	for n := range rootCmds {
		names = append(names, n)
	}
	sort.Strings(names)
	have := alice.c.Commands()
	var admin []string
	for _, n := range names {
		_, got := have[n]
		switch {
		case exempt[n] || policy[n]:
			if !got {
				t.Errorf("fresh account lacks %s", n)
			}
		default:
			admin = append(admin, n)
			if got {
				t.Errorf("fresh account has the administration command %s", n)
			}
			if _, err := alice.c.Run(ctx10(t), n, ""); !errorsIsUnknown(err) {
				t.Errorf("%s: error %v, want unknown command", n, err)
			}
		}
	}
	for _, n := range []string{"add_acct", "rm_acct", "set_user_rank", "add_ranked_cmd", "add_mod", "ls_users", "ls_dbg", "ch_owner_override", "lock_acct"} {
		if exempt[n] || !slices.Contains(admin, n) {
			t.Errorf("%s is not in the administration set %v", n, admin)
		}
	}
	for n := range have {
		if _, ok := rootCmds[n]; !ok {
			t.Errorf("fresh account has %s, which root has not", n)
		}
	}
}

// TestDefaultRanksInstallKeepsExisting checks that installing twice, or
// over an administrator's own rank, changes nothing.
func TestDefaultRanksInstallKeepsExisting(t *testing.T) {
	h := hosttest.Start(t)
	ctx := context.Background()
	if err := h.Store.AddCommandRank(ctx, store.CommandRank{Module: store.InternalModule, Command: "cast", Rank: 7}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := host.InstallDefaultRanks(ctx, h.Store); err != nil {
			t.Fatal(err)
		}
	}
	ranks, err := h.Store.CommandRanks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ranks) != len(host.DefaultRankedCommands) {
		t.Fatalf("%d ranks, want %d", len(ranks), len(host.DefaultRankedCommands))
	}
	for _, r := range ranks {
		want := uint32(store.DefaultInitialHostRank)
		if r.Command == "cast" {
			want = 7
		}
		if r.Module != store.InternalModule || r.Rank != want {
			t.Errorf("rank %+v, want module %s rank %d", r, store.InternalModule, want)
		}
	}
}

func errorsIsUnknown(err error) bool { return err != nil && errors.Is(err, client.ErrUnknownCommand) }
