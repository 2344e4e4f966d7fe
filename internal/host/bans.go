package host

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/ipban"
	"github.com/mrci/mrci/internal/session"
)

// loadBans reads the ban list from the store and returns the list it
// replaced.
func (h *Host) loadBans(ctx context.Context) (*ipban.List, error) {
	texts, err := h.cfg.Store.Bans(ctx)
	if err != nil {
		return nil, fmt.Errorf("host: bans: %w", err)
	}
	l, bad := ipban.NewList(texts)
	for _, b := range bad {
		h.log.Warn("ignoring a stored ban that is not an address or range", "ban", b)
	}
	h.mu.Lock()
	old := h.bans
	h.bans = l
	h.mu.Unlock()
	return old, nil
}

// ReloadBans reloads the ban list from the store (ASYNC_UPDATE_BANS). When
// the administration setting ban_ends_sessions is on (the default), the
// sessions connected from an address the new list bans and the old one did
// not are ended with a notice.
func (h *Host) ReloadBans() {
	h.reloadBans()
	h.broadcast(cluster.EventBans)
}

// reloadBans is ReloadBans on this node only (the other nodes' change).
func (h *Host) reloadBans() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	old, err := h.loadBans(ctx)
	if err != nil {
		h.log.Error("reload bans", "err", err)
		return
	}
	a, err := h.cfg.Store.AdminSettings(ctx)
	if err != nil {
		h.log.Error("reload bans: admin settings", "err", err)
		return
	}
	if !a.BanEndsSessions {
		return
	}
	var victims []*session.Session
	h.mu.Lock()
	for _, s := range h.sessions {
		// Loopback sessions are the operator's own: never cut (add_ban
		// refuses loopback; a loopback row put in the table by other means
		// still refuses new connections).
		ip, err := netip.ParseAddr(s.Snapshot().IP)
		if err == nil && !ip.IsLoopback() && h.bans.Banned(ip) && !old.Banned(ip) {
			victims = append(victims, s)
		}
	}
	h.mu.Unlock()
	for _, s := range victims {
		info := s.Snapshot()
		h.log.Info("ending session from a banned address", "ip", info.IP, "session", info.SessionID.String()[:12])
		s.EndWithNotice(NoticeBanned)
	}
}

// Banned reports whether the ban list in force covers a.
func (h *Host) Banned(a netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bans.Banned(a)
}
