package host

import (
	"context"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// auditStore wraps the host's store to report authentication attempts in
// the process log and the metrics as the commands record them in the
// authentication log.
type auditStore struct {
	store.Store
	h *Host
}

// FailAuth records a wrong password answer, then counts and logs it.
func (a *auditStore) FailAuth(ctx context.Context, c store.AuthClaim) (store.AuthResult, error) {
	r, err := a.Store.FailAuth(ctx, c)
	a.authAttempt(ctx, c.User, c.IP, false)
	return r, err
}

// PassAuth records a right password answer, then counts and logs it.
func (a *auditStore) PassAuth(ctx context.Context, c store.AuthClaim) error {
	err := a.Store.PassAuth(ctx, c)
	a.authAttempt(ctx, c.User, c.IP, err == nil)
	return err
}

func (a *auditStore) authAttempt(ctx context.Context, id wire.UserID, ip string, accepted bool) {
	if a.h == nil {
		return
	}
	user := a.userName(ctx, id)
	a.h.metrics.AuthAttempt(accepted)
	if accepted {
		a.h.log.Info("password accepted", "user", user, "ip", ip)
	} else {
		a.h.log.Info("failed login", "user", user, "ip", ip)
	}
}

func (a *auditStore) userName(ctx context.Context, id wire.UserID) string {
	if u, err := a.Store.UserByID(ctx, id); err == nil {
		return u.Name
	}
	return id.String()
}

// AddAuthAttempt records the attempt (account recovery and the older
// password paths), then counts and logs it.
func (a *auditStore) AddAuthAttempt(ctx context.Context, at store.AuthAttempt) error {
	err := a.Store.AddAuthAttempt(ctx, at)
	if a.h == nil {
		return err
	}
	user := a.userName(ctx, at.UserID)
	switch {
	case at.AuthAttempt:
		a.h.metrics.AuthAttempt(at.Accepted)
		if at.Accepted {
			a.h.log.Info("password accepted", "user", user, "ip", at.IP)
		} else {
			a.h.log.Info("failed login", "user", user, "ip", at.IP)
		}
	case at.RecoverAttempt && !at.Accepted:
		a.h.log.Info("failed account recovery", "user", user, "ip", at.IP)
	}
	return err
}
