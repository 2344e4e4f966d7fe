package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/mrci/mrci/internal/store"
)

// DefaultRankedCommands are the internal commands the default command-rank
// policy opens to ordinary accounts (docs/ranks.md): everything a member
// needs to chat, that is channels (their own rules, channel levels 1-4,
// still decide what a member may do inside a channel), sub-channels, casts,
// peer-to-peer messages, peer pings and the listings of the caller's own
// things. Administration (accounts, ranks, modules, host settings, logs,
// ch_owner_override) is not in the list and stays rank 1.
var DefaultRankedCommands = []string{
	"host_info",
	// channels
	"add_ch", "rm_ch", "rename_ch", "find_ch", "ls_chs",
	"invite_to_ch", "accept_ch", "decline_ch", "remove_ch_member",
	"ls_ch_members", "set_member_level",
	// sub-channels
	"add_sub_ch", "rm_sub_ch", "rename_sub_ch", "ls_sub_chs",
	"set_sub_ch_level", "set_active_flag", "add_rdonly_flag", "rm_rdonly_flag",
	"ls_rdonly_flags", "open_sub_ch", "close_sub_ch", "ls_open_chs",
	// casts and peers
	"cast", "ping_peers",
	"p2p_request", "p2p_open", "p2p_close", "to_peer", "ls_p2p",
}

// IsFirstStart reports whether the store has never been started by a host:
// root does not exist yet. Call it before EnsureRoot.
func IsFirstStart(ctx context.Context, st store.Store) (bool, error) {
	s, err := st.Settings(ctx)
	if err != nil {
		return false, fmt.Errorf("host: settings: %w", err)
	}
	if !s.RootUserID.IsZero() {
		return false, nil
	}
	_, err = st.UserByName(ctx, "root")
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, store.ErrNotFound):
		return true, nil
	default:
		return false, fmt.Errorf("host: find root: %w", err)
	}
}

// InstallDefaultRanks gives every command of DefaultRankedCommands the
// host's initial rank (store.Settings.InitialHostRank, 2 by default) in
// command_ranks for the internal module, so that accounts created with
// that rank, and better ranks, can run them. A command that already has a
// rank keeps it. The host installs the policy once, at first start (see
// `mrci serve --no-default-ranks`); administrators change it afterwards with
// add_ranked_cmd / rm_ranked_cmd.
func InstallDefaultRanks(ctx context.Context, st store.Store) error {
	s, err := st.Settings(ctx)
	if err != nil {
		return fmt.Errorf("host: settings: %w", err)
	}
	rank := s.InitialHostRank
	if rank < 1 {
		rank = store.DefaultInitialHostRank
	}
	for _, name := range DefaultRankedCommands {
		err := st.AddCommandRank(ctx, store.CommandRank{Module: store.InternalModule, Command: name, Rank: rank})
		if err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("host: default rank for %s: %w", name, err)
		}
	}
	return nil
}
