package importer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mrci/mrci/internal/importer"
	"github.com/mrci/mrci/internal/store"
)

// racingStore is a real store where another writer creates an account
// named erin between the importer's planning and its write, as a host
// started too early would.
type racingStore struct {
	store.Store
}

func (r racingStore) ImportOriginal(ctx context.Context, b store.OriginalImport) error {
	u := store.User{Name: "ERIN", PasswordHash: "$argon2id$x", Rank: 2}
	u.ID[0] = 0xEE
	if err := r.Store.CreateUser(ctx, u); err != nil {
		return err
	}
	return r.Store.ImportOriginal(ctx, b)
}

// TestNothingHalfDone: when the write fails, no row of the import is
// written (the transaction covers everything).
func TestNothingHalfDone(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		before := takeSnapshot(t, st)
		_, err := importer.Run(ctx, racingStore{st}, importer.Options{Source: copyFixture(t), WithLogs: true})
		if !errors.Is(err, store.ErrNameTaken) {
			t.Fatalf("import with a conflicting writer: %v, want ErrNameTaken", err)
		}
		after := takeSnapshot(t, st)
		// Only the racing writer's account is new.
		if len(after.Users) != len(before.Users)+1 || after.Users[len(after.Users)-1].Name != "ERIN" {
			t.Fatalf("users after the failed import: %+v", after.Users)
		}
		after.Users = after.Users[:len(after.Users)-1]
		if !reflect.DeepEqual(after, before) {
			t.Fatalf("the failed import left rows behind:\n%+v\n%+v", before, after)
		}
	})
}

// TestAccountFlagsImported: locked, forced changes and e-mail verification
// are carried over as the original stored them.
func TestAccountFlagsImported(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := copyFixture(t)
		mutate(t, src,
			`UPDATE users SET locked = 1, email_verified = 1 WHERE user_name = 'erin'`,
			`UPDATE users SET new_name_req = 1, new_password_req = 1, host_rank = 7 WHERE user_name = 'dave'`,
			`UPDATE users SET new_password_req = 1 WHERE user_name = 'root'`,
		)
		run(t, st, importer.Options{Source: src})
		erin, err := st.UserByName(ctx, "erin")
		if err != nil || !erin.Locked || !erin.EmailVerified || erin.NewNameReq || erin.NewPasswordReq {
			t.Errorf("erin %+v %v", erin, err)
		}
		dave, err := st.UserByName(ctx, "dave")
		if err != nil || dave.Locked || !dave.NewNameReq || !dave.NewPasswordReq || dave.Rank != 7 {
			t.Errorf("dave %+v %v", dave, err)
		}
		root, err := st.UserByName(ctx, "root")
		if err != nil || !root.NewPasswordReq {
			t.Errorf("root %+v %v", root, err)
		}
	})
}

// TestSourceOpenedReadOnly: the import leaves a read-only source directory
// exactly as it was (no journal, WAL or lock files, same bytes).
func TestSourceOpenedReadOnly(t *testing.T) {
	src := copyFixture(t)
	dir := filepath.Dir(src)
	if err := os.Chmod(src, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	sum := digest(t, src)
	backends(t, func(t *testing.T, st store.Store) {
		run(t, st, importer.Options{Source: src, WithLogs: true})
	})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "data.db" {
		t.Errorf("source directory holds %v, want only data.db", entries)
	}
	if digest(t, src) != sum {
		t.Error("the source file changed")
	}
}

// TestRootNotImportable: when the original's root cannot be imported (here
// its hash is missing), our fresh root and our settings stay, and the other
// accounts are still imported.
func TestRootNotImportable(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := copyFixture(t)
		mutate(t, src, `UPDATE users SET hash = NULL WHERE user_name = 'root'`)
		before, err := st.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rep := run(t, st, importer.Options{Source: src})
		wantCounts(t, rep, map[string]counts{"users": {3, 2, 0, 1}})
		if r := skipReason(rep, "users", "root"); r == "" {
			t.Error("root's skip is not reported")
		}
		after, err := st.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("settings changed without the original's root:\n%+v\n%+v", before, after)
		}
		root, err := st.UserByID(ctx, before.RootUserID)
		if err != nil || root.Name != "root" {
			t.Fatalf("our root is gone: %+v %v", root, err)
		}
		if _, err := st.UserByName(ctx, "dave"); err != nil {
			t.Errorf("dave: %v", err)
		}

		// Once the original's root is repaired, importing again hands root
		// over: our root is still fresh.
		fixed := copyFixture(t)
		rep = run(t, st, importer.Options{Source: fixed})
		wantCounts(t, rep, map[string]counts{"users": {3, 1, 2, 0}})
		s, _ := st.Settings(ctx)
		if root, err := st.UserByName(ctx, "root"); err != nil || root.ID != s.RootUserID || root.ID == before.RootUserID || s.ListenPort != 36521 {
			t.Fatalf("root after the second import %+v %v, settings %+v", root, err, s)
		}
	})
}
