package asynctest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// modID is the command_ranks identity of the test module.
const modID = "test:asynctest"

// testModule is an in-process module for tests:
//
//   - emit: takes a frame of any (non-control) type whose payload is
//     [1 IPC mode][2 async id LE][data] and emits it with c.Emit, so tests
//     drive any async id with exact bytes;
//   - emitrep: [4 count LE][1 mode][2 id LE][data], emits it count times;
//   - snap: prints the session's module.SessionInfo snapshot as JSON;
//   - ranked: a user command (rank rule applies) that prints "ranked";
//   - dyn: an exempt command listed only while Dyn is set, so that a
//     command-set reload (ENABLE_MOD, DISABLE_MOD) has a visible effect.
//
// emit, emitrep and snap are public and exempt, so every session has them
// whether logged in or not and no rank is needed.
type testModule struct {
	*module.InProcess
	Dyn  atomic.Bool
	cmds []*module.Command
}

func anyType() []wire.TypeID {
	var ts []wire.TypeID
	for t := wire.TypeID(1); t <= 29; t++ {
		if !t.IsControl() {
			ts = append(ts, t)
		}
	}
	return ts
}

func newTestModule() *testModule {
	m := &testModule{}
	always := func(cat module.Category, _ store.Settings) bool { return cat != module.User }
	m.cmds = []*module.Command{
		{
			Def:     module.Def{Name: "emit", Library: "asynctest", Summary: "emit an async", IO: "[bytes]/[none]"},
			In:      always,
			Accepts: anyType(),
			MaxArgs: -1,
			Run: func(_ context.Context, c *module.Call) error {
				p := c.Payload
				if len(p) < 3 {
					return module.Fail("emit needs [1 mode][2 id][data], got %d bytes", len(p))
				}
				c.Emit(wire.TypeID(p[0]), wire.AsyncID(binary.LittleEndian.Uint16(p[1:])), p[3:])
				return nil
			},
		},
		{
			Def:     module.Def{Name: "emitrep", Library: "asynctest", Summary: "emit an async n times", IO: "[bytes]/[none]"},
			In:      always,
			Accepts: anyType(),
			MaxArgs: -1,
			Run: func(_ context.Context, c *module.Call) error {
				p := c.Payload
				if len(p) < 7 {
					return module.Fail("emitrep needs [4 count][1 mode][2 id][data]")
				}
				n := binary.LittleEndian.Uint32(p)
				for range n {
					c.Emit(wire.TypeID(p[4]), wire.AsyncID(binary.LittleEndian.Uint16(p[5:])), p[7:])
				}
				return nil
			},
		},
		{
			Def:     module.Def{Name: "emitseq", Library: "asynctest", Summary: "emit a sequence of asyncs", IO: "[bytes]/[none]"},
			In:      always,
			Accepts: anyType(),
			MaxArgs: -1,
			Run: func(_ context.Context, c *module.Call) error {
				for p := c.Payload; len(p) > 0; {
					if len(p) < 7 || len(p) < 7+int(binary.LittleEndian.Uint32(p[3:])) {
						return module.Fail("emitseq needs entries of [1 mode][2 id][4 len][data]")
					}
					n := 7 + int(binary.LittleEndian.Uint32(p[3:]))
					c.Emit(wire.TypeID(p[0]), wire.AsyncID(binary.LittleEndian.Uint16(p[1:])), p[7:n:n])
					p = p[n:]
				}
				return nil
			},
		},
		{
			Def:     module.Def{Name: "snap", Library: "asynctest", Summary: "print the session snapshot", IO: "[none]/[text]"},
			In:      always,
			MaxArgs: -1,
			Run: func(_ context.Context, c *module.Call) error {
				b, err := json.Marshal(c.Session())
				if err != nil {
					return err
				}
				c.Text(string(b))
				return nil
			},
		},
		{
			Def:     module.Def{Name: "ranked", Library: "asynctest", Summary: "a ranked user command", IO: "[none]/[text]"},
			In:      func(cat module.Category, _ store.Settings) bool { return cat == module.User },
			MaxArgs: -1,
			Run: func(_ context.Context, c *module.Call) error {
				c.Text("ranked")
				return nil
			},
		},
		{
			Def:     module.Def{Name: "dyn", Library: "asynctest", Summary: "listed while Dyn is set", IO: "[none]/[text]"},
			In:      func(cat module.Category, _ store.Settings) bool { return cat == module.Exempt && m.Dyn.Load() },
			MaxArgs: -1,
			Run: func(ctx context.Context, c *module.Call) error {
				c.Text("dyn")
				return nil
			},
		},
	}
	m.InProcess = module.NewInProcess(modID, m.cmds)
	return m
}

// emitPayload builds the emit command's payload.
func emitPayload(mode wire.TypeID, id wire.AsyncID, data []byte) []byte {
	b := []byte{byte(mode)}
	b = binary.LittleEndian.AppendUint16(b, uint16(id))
	return append(b, data...)
}

// seqEntry is one entry of the emitseq command's payload.
func seqEntry(mode wire.TypeID, id wire.AsyncID, data []byte) []byte {
	b := []byte{byte(mode)}
	b = binary.LittleEndian.AppendUint16(b, uint16(id))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// defOf returns the definition of one of the module's commands.
func (m *testModule) defOf(name string) module.Def {
	for _, c := range m.cmds {
		if c.Def.Name == name {
			return c.Def
		}
	}
	panic(fmt.Sprintf("no command %q", name))
}
