package client_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// accountLoadFails is a store that fails one account lookup after
// letting pass the number in skip (once armed), as a database that stops
// answering between the auth command's last check of the account and the
// session loading it.
type accountLoadFails struct {
	store.Store
	armed atomic.Bool
	skip  atomic.Int32
}

func (s *accountLoadFails) UserByID(ctx context.Context, id wire.UserID) (store.User, error) {
	if s.armed.Load() && s.skip.Add(-1) < 0 {
		s.armed.Store(false)
		return store.User{}, errors.New("injected: the account cannot be read")
	}
	return s.Store.UserByID(ctx, id)
}

// TestLoginFailsWhenTheHostCannotLoadTheAccount: the host accepts the
// password but cannot load the account, and says so on ASYNC_SYS_MSG
// instead of sending MY_INFO. Login must return that error at once,
// not wait for a MY_INFO that never comes.
func TestLoginFailsWhenTheHostCannotLoadTheAccount(t *testing.T) {
	var st *accountLoadFails
	h := hosttest.StartWith(t, hosttest.Options{WrapStore: func(s store.Store) store.Store {
		st = &accountLoadFails{Store: s}
		return st
	}})
	c := h.Dial(t)
	st.skip.Store(2) // the auth command's lookups (its last check, the audit record) pass; the session's load fails
	st.armed.Store(true)
	ctx := hosttest.Ctx(t, 60e9)
	err := c.Login(ctx, "root", hosttest.RootPassword)
	if !errors.Is(err, client.ErrLoginFailed) || !strings.Contains(err.Error(), "could not be loaded") {
		t.Fatalf("Login = %v, want ErrLoginFailed saying the account could not be loaded", err)
	}
	if _, ok := c.MyInfo(); ok {
		t.Fatal("MyInfo after a failed login")
	}
	if err := c.Login(ctx, "root", hosttest.RootPassword); err != nil {
		t.Fatalf("Login once the account can be read: %v", err)
	}
}
