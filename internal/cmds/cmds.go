// Package cmds implements the host's internal commands (commands.md) as an
// in-process module. Each command is a module.Command: a definition for its
// NEW_CMD announcement, the listings it belongs to, the frame types it
// takes, its token limit and a Run function. Commands change other sessions
// only by emitting async commands, exactly as external modules do.
package cmds

import (
	"errors"
	"fmt"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Library is the library name internal commands announce, as the original
// does: application name, wire version and word size.
var Library = fmt.Sprintf("MRCI v%s %dBit", wire.Version, 32<<(^uint(0)>>63))

// New returns the internal module with every implemented internal command.
func New() *module.InProcess {
	var all []*module.Command
	all = append(all, accountCommands()...)
	all = append(all, userAdminCommands()...)
	all = append(all, hostCommands()...)
	all = append(all, channelCommands()...)
	all = append(all, moduleCommands()...)
	all = append(all, rankCommands()...)
	all = append(all, logCommands()...)
	all = append(all, emailCommands()...)
	all = append(all, administrationCommands()...)
	all = append(all, fsCommands()...)
	for _, c := range all {
		c.Def.Library = Library
	}
	return module.NewInProcess(store.InternalModule, all)
}

// In-listing predicates (host.md §2.3).
func userOnly(cat module.Category, _ store.Settings) bool { return cat == module.User }

func exemptOnly(cat module.Category, _ store.Settings) bool { return cat == module.Exempt }

func def(name, summary, io, long string) module.Def {
	return module.Def{Name: name, Summary: summary, IO: io, Long: long}
}

// notFound maps store.ErrNotFound to a client error, wrapping others.
func notFound(err error, msg string) error {
	if errors.Is(err, store.ErrNotFound) {
		return module.Fail("%s", msg)
	}
	return err
}
