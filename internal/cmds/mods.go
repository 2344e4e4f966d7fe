package cmds

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

const msgInvalidModPath = `invalid module path (1-512 chars, none of | * " ? < >)`

func moduleCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("add_mod", "register a module executable.", "[-mod_path (path)]/[text]",
				"Registers the executable -mod_path as a module: every session loads the commands it offers "+
					"(public, rank-exempt and ranked ones as for the host's own commands). Environment variables "+
					"and ~ are expanded; the absolute path with symbolic links resolved is stored."),
			In: userOnly, MaxArgs: 2, Run: runAddMod,
		},
		{
			Def: def("rm_mod", "unregister a module executable.", "[-mod_path (path)]/[text]",
				"Unregisters the module -mod_path: its commands are removed from every session and their running "+
					"instances are ended. Command ranks assigned to it remain."),
			In: userOnly, MaxArgs: 2, Run: runRmMod,
		},
		{
			Def: def("ls_mods", "list the registered modules.", "[{search_terms}]/[text]",
				"Lists the registered module executables 50 per page (the host's own commands are not listed). "+
					"Filter with -module_executable followed by text the path must contain. A module whose executable "+
					"is missing on the node that runs the command is marked (missing on node ...): its commands are not "+
					"offered there until the file is installed."),
			In: userOnly, MaxArgs: -1, Run: viewerWith(store.ViewMods, false, markMissingModules),
		},
	}
}

// moduleHost is a host that knows which registered modules' executables
// are missing on it (a node of a cluster has its own file system).
type moduleHost interface {
	// ModuleMissing returns why the module's executable cannot run on this
	// node, or "" when it can.
	ModuleMissing(path string) string
}

// markMissingModules adds to the entries of ls_mods whose executable is
// missing on this node: "(missing on node <id>: <why>)".
func markMissingModules(c *module.Call, rows []store.Row) {
	h, ok := c.Host().(moduleHost)
	if !ok {
		return
	}
	where := "this host"
	if n, ok := c.Host().(nodeHost); ok && n.NodeID() != "" {
		where = "node " + n.NodeID()
	}
	for i, r := range rows {
		if len(r.Cells) == 0 {
			continue
		}
		if why := h.ModuleMissing(r.Cells[0]); why != "" {
			cells := slices.Clone(r.Cells)
			cells[0] += " (missing on " + where + ": " + why + ")"
			rows[i].Cells = cells
		}
	}
}

// validModulePath applies the documented path rule (modules.md §10,
// §13.13): 1-512 characters, no control characters and none of |*"?<>;
// ':' is allowed, as on Unix it is an ordinary file name character.
func validModulePath(p string) bool {
	n := wire.TextLen(p)
	return n >= 1 && n <= 512 && !strings.ContainsAny(p, `|*"?<>`) &&
		strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) < 0
}

// registeredModule returns the stored path matching p (as typed, or in its
// expanded, link-resolved form), or "".
func registeredModule(ctx context.Context, st store.Store, p string) (string, error) {
	mods, err := st.Modules(ctx)
	if err != nil {
		return "", err
	}
	clean, _ := module.CleanPath(p)
	for _, m := range mods {
		if m == p || (clean != "" && m == clean) {
			return m, nil
		}
	}
	return "", nil
}

func runAddMod(ctx context.Context, c *module.Call) error {
	p := c.Param("-mod_path")
	switch {
	case p == "":
		return module.Fail("-mod_path missing")
	case !validModulePath(p):
		return module.Fail(msgInvalidModPath)
	}
	st := c.Store()
	if m, err := registeredModule(ctx, st, p); err != nil {
		return err
	} else if m != "" {
		return module.Fail("module already exists")
	}
	canon, err := module.CanonicalPath(p)
	if err != nil {
		return module.Fail("'%s' does not exist or is not executable", p)
	}
	err = st.AddModule(ctx, canon)
	switch {
	case errors.Is(err, store.ErrExists):
		return module.Fail("module already exists")
	case err != nil:
		return err
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncEnableMod, wire.EncodeText(canon))
	return audit(ctx, c, "module added: %s", canon)
}

func runRmMod(ctx context.Context, c *module.Call) error {
	p := c.Param("-mod_path")
	switch {
	case p == "":
		return module.Fail("-mod_path missing")
	case !validModulePath(p):
		return module.Fail(msgInvalidModPath)
	}
	st := c.Store()
	m, err := registeredModule(ctx, st, p)
	if err != nil {
		return err
	}
	if m == "" {
		return module.Fail("no such module")
	}
	if err := st.RemoveModule(ctx, m); err != nil {
		return notFound(err, "no such module")
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncDisableMod, wire.EncodeText(m))
	return audit(ctx, c, "module removed: %s", m)
}
