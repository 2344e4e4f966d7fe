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
