package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
)

// EnsureRoot creates the root account (rank 1) on first start (host.md §3).
// With a non-empty initial password (MRCI_ROOT_PASSWORD) root gets it and no
// forced change; otherwise a random password is generated, root must change
// it at first login, and it is kept in the settings' default_password until
// then so `mrci -about` can show it. It returns the generated password, or
// "" when root already existed or the password was given.
//
// Nodes of a cluster that start together on a new database race to create
// root: the one whose insert wins creates it, the others adopt it.
func EnsureRoot(ctx context.Context, st store.Store, p password.Params, initial string) (string, error) {
	return ensureRoot(ctx, st, p, initial, false)
}

func ensureRoot(ctx context.Context, st store.Store, p password.Params, initial string, retried bool) (string, error) {
	s, err := st.Settings(ctx)
	if err != nil {
		return "", fmt.Errorf("host: settings: %w", err)
	}
	if !s.RootUserID.IsZero() {
		return "", nil
	}
	if u, err := st.UserByName(ctx, "root"); err == nil {
		// A database from before root was recorded by id: adopt the account.
		s.RootUserID = u.ID
		return "", st.SaveSettings(ctx, s)
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("host: find root: %w", err)
	}
	generated := ""
	pw := initial
	if pw == "" {
		var err error
		if pw, err = password.Generate(); err != nil {
			return "", err
		}
		generated = pw
	}
	hash, err := password.Hash(pw, p)
	if err != nil {
		return "", err
	}
	u := store.User{Name: "root", PasswordHash: hash, Rank: 1, NewPasswordReq: generated != ""}
	if _, err := rand.Read(u.ID[:]); err != nil {
		return "", err
	}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrNameTaken) && !retried {
			// Another node created root meanwhile: adopt it.
			return ensureRoot(ctx, st, p, initial, true)
		}
		return "", fmt.Errorf("host: create root: %w", err)
	}
	s.DefaultPassword = generated
	s.RootUserID = u.ID
	if err := st.SaveSettings(ctx, s); err != nil {
		return "", fmt.Errorf("host: settings: %w", err)
	}
	return generated, nil
}
