package importer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/importer"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/pkg/client"
)

// importedHost starts a real host whose store received the import of src
// before it started (as `mrci import-original` then `mrci serve` do).
func importedHost(t *testing.T, src string) *hosttest.Host {
	t.Helper()
	return hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		if _, err := importer.Run(context.Background(), st, importer.Options{Source: src}); err != nil {
			t.Fatalf("import: %v", err)
		}
	}})
}

// TestImportedAccountsWorkOverRealSessions: after the import every account
// of the original logs in over a real session with its original password,
// its hash is upgraded to argon2id at that login, and ranks, display
// names, invitations, sub-channel levels and command ranks behave as in
// the original.
func TestImportedAccountsWorkOverRealSessions(t *testing.T) {
	h := importedHost(t, copyFixture(t))
	ctx := hosttest.Ctx(t, 60*time.Second)
	sessions := map[string]*client.Client{}
	for _, c := range []struct {
		name, pw, display string
		rank              uint32
	}{
		{"root", rootPassword, "", 1},
		{"dave", davePassword, "Dave_D", 2},
		{"erin", erinPassword, "", 3},
	} {
		before, err := h.Store.UserByName(ctx, c.name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(before.PasswordHash, "$keccak512$") {
			t.Fatalf("%s: hash before login %q", c.name, before.PasswordHash)
		}
		cl := h.Dial(t)
		if err := cl.Login(ctx, c.name, c.pw); err != nil {
			t.Fatalf("%s cannot log in with the original password: %v", c.name, err)
		}
		info, ok := cl.MyInfo()
		if !ok || info.Peer.UserName != c.name || info.Peer.DisplayName != c.display || info.Rank != c.rank || info.Peer.UserID != before.ID {
			t.Errorf("%s: MY_INFO %+v", c.name, info)
		}
		after, err := h.Store.UserByName(ctx, c.name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(after.PasswordHash, "$argon2id$") {
			t.Errorf("%s: hash after login %q, want argon2id", c.name, after.PasswordHash)
		}
		sessions[c.name] = cl
	}
	// The upgraded hash still accepts the password (a second login).
	h.Login(t, "dave", davePassword)
	if err := h.Dial(t).Login(ctx, "erin", "Wrong#Pass2019"); err == nil {
		t.Error("erin logged in with a wrong password")
	}

	// Command rank ls_chs = 3: erin (3) and dave (2) have it, rank 4 not.
	for _, name := range []string{"dave", "erin"} {
		if _, ok := sessions[name].CommandID("ls_chs"); !ok {
			t.Errorf("%s lacks ls_chs (ranked 3 in the original)", name)
		}
	}
	h.CreateUser(t, "frank", "Frank#Pass2019", 4)
	frank := h.Login(t, "frank", "Frank#Pass2019")
	if _, ok := frank.CommandID("ls_chs"); ok {
		t.Error("a rank-4 account has ls_chs")
	}

	// As in the original, rank-2 accounts run only exempt and ranked
	// commands: root ranks the channel commands dave needs.
	root := sessions["root"]
	dave := sessions["dave"]
	for _, cmd := range []string{"accept_ch", "open_sub_ch"} {
		if res, err := root.Run(ctx, "add_ranked_cmd", "-mod :internal_mod -command "+cmd+" -rank 2"); err != nil || res.Err() != nil {
			t.Fatalf("add_ranked_cmd %s: %v %v", cmd, err, res.Err())
		}
		if _, err := dave.WaitCommand(ctx, cmd); err != nil {
			t.Fatalf("dave never got %s: %v", cmd, err)
		}
	}

	// dave's pending invitation to sample_ch: listed, then accepted.
	res, err := dave.Run(ctx, "ls_chs", "")
	if err != nil || !strings.Contains(res.Text(), "sample_ch") {
		t.Fatalf("dave's ls_chs: %v %q", err, res.Text())
	}
	if res, err := dave.Run(ctx, "open_sub_ch", "-ch_name sample_ch -sub_name news"); err != nil || res.Err() == nil {
		t.Errorf("dave opening news before accepting the invitation: %v %v, want a refusal", err, res.Err())
	}
	res, err = dave.Run(ctx, "accept_ch", "-ch_name sample_ch")
	if err != nil || res.Err() != nil {
		t.Fatalf("accept_ch: %v %v", err, res.Err())
	}
	m, err := h.Store.Member(ctx, 1, mustUser(t, h, "dave").ID)
	if err != nil || m.Pending || m.Level != 4 {
		t.Fatalf("dave's membership after accepting: %+v %v", m, err)
	}
	// news has lowest level 3: a regular member (4) may not open it.
	res, err = dave.Run(ctx, "open_sub_ch", "-ch_name sample_ch -sub_name news")
	if err != nil || res.Err() == nil {
		t.Errorf("a level-4 member opening news (lowest level 3): %v %v, want a refusal", err, res.Err())
	}
	t.Logf("refusal: %v", res.Err())
	// root, with the owner override, may.
	if res, err := root.Run(ctx, "ch_owner_override", "-state 1"); err != nil || res.Err() != nil {
		t.Fatalf("ch_owner_override: %v %v", err, res.Err())
	}
	if res, err := root.Run(ctx, "open_sub_ch", "-ch_name sample_ch -sub_name news"); err != nil || res.Err() != nil {
		t.Fatalf("root opening news: %v %v", err, res.Err())
	}
}

func mustUser(t *testing.T, h *hosttest.Host, name string) store.User {
	t.Helper()
	u, err := h.Store.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestImportedBansRefuseConnections: the host refuses connections from an
// address the original banned (a variant bans the loopback address the
// test connects from; the fixture's own ban is 192.0.2.7).
func TestImportedBansRefuseConnections(t *testing.T) {
	src := copyFixture(t)
	mutate(t, src, `INSERT INTO ban_list (ip_address) VALUES ('127.0.0.1')`)
	h := importedHost(t, src)
	bans, err := h.Store.Bans(context.Background())
	if err != nil || len(bans) != 2 || bans[0] != "192.0.2.7" {
		t.Fatalf("bans %v %v", bans, err)
	}
	ctx := hosttest.Ctx(t, 20*time.Second)
	c, err := client.Dial(ctx, h.Addr, client.Options{PinnedCert: string(h.Cert.CertPEM), AppName: "banned"})
	if err == nil {
		c.Close()
		t.Fatal("a connection from a banned address was accepted")
	}
}
