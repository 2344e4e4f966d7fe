package host

import (
	"context"

	"github.com/mrci/mrci/internal/store"
)

// auditStore wraps the host's store to report authentication attempts in
// the process log and the metrics as the commands record them in the
// authentication log.
type auditStore struct {
	store.Store
	h *Host
}

// AddAuthAttempt records the attempt, then counts and logs it.
func (a *auditStore) AddAuthAttempt(ctx context.Context, at store.AuthAttempt) error {
	err := a.Store.AddAuthAttempt(ctx, at)
	if a.h == nil {
		return err
	}
	user := at.UserID.String()
	if u, uerr := a.Store.UserByID(ctx, at.UserID); uerr == nil {
		user = u.Name
	}
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
