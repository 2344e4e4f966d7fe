package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// cmdKey identifies a command by module and the module's own name for it.
type cmdKey struct{ module, name string }

// loadedCmd is one command loaded into a session. It keeps only the
// module's name for the command (not the whole definition, which is sent
// once in NEW_CMD).
type loadedCmd struct {
	id         uint16
	clientName string
	name       string // the module's own name
	mod        module.Module
}

// cmdRef is a loaded command as sessions hold it. loadedCmd values are
// interned (package unique): every session that loaded the same command
// under the same id shares one copy, and as most sessions of a host load
// the same commands in the same order, a session's command table costs 8
// bytes per command. Equal refs are the same command.
type cmdRef = unique.Handle[loadedCmd]

// instance is one running (command, branch).
type instance struct {
	id32   uint32
	cmd    cmdRef
	inst   module.Instance
	idle   bool
	killed bool
	// detached: the command was unloaded by its own async (rm_acct of the
	// session's own account logs it out); it stays until its IDLE so its
	// normal reply reaches the client, and its id is not reused meanwhile.
	detached bool
	// started is when the current call's first frame arrived (zero
	// between calls), for the command latency histogram.
	started time.Time
}

type instOutput struct {
	in      *instance
	t       wire.TypeID
	payload []byte
	framed  bool // payload has room for the frame header in front (module.Framer)
}

type instAsync struct {
	in   *instance
	mode wire.TypeID
	id   wire.AsyncID
	data []byte
}

type instExited struct {
	in  *instance
	err error
}

// sink adapts a session to module.Sink for one instance.
type sink struct {
	s  *Session
	in *instance
}

func (k sink) Frame(t wire.TypeID, payload []byte) { k.output(instOutput{k.in, t, payload, false}) }

// FrameWithHeader implements module.Framer.
func (k sink) FrameWithHeader(t wire.TypeID, b []byte) { k.output(instOutput{k.in, t, b, true}) }

func (k sink) output(o instOutput) {
	k.s.outPending.Add(int64(len(o.payload)))
	if !k.s.post(o) {
		k.s.outPending.Add(-int64(len(o.payload)))
	}
}
func (k sink) Async(mode wire.TypeID, id wire.AsyncID, data []byte) {
	k.s.post(instAsync{k.in, mode, id, data})
}
func (k sink) Exited(err error) { k.s.post(instExited{k.in, err}) }

// inlineSink runs an inline command's output directly in the loop.
type inlineSink struct {
	s   *Session
	in  *instance
	ctx context.Context
}

func (k *inlineSink) Frame(t wire.TypeID, payload []byte) {
	k.s.sendFrame(t, uint16(k.in.id32), uint16(k.in.id32>>16), payload)
}
func (k *inlineSink) Async(mode wire.TypeID, id wire.AsyncID, data []byte) {
	k.s.instanceAsync(k.ctx, instAsync{k.in, mode, id, data})
}
func (k *inlineSink) Exited(error) {}

// inlineRun is what an inline call needs from the session: its instance
// and sink live only for the call, so the session keeps one of each and
// a cast allocates neither.
type inlineRun struct {
	in   instance
	sink inlineSink
	busy bool // a call is running (a nested one gets its own)
}

// runInline runs a call of the command ref in the loop if the command is
// inline, and reports whether it is.
func (s *Session) runInline(ctx context.Context, r module.InlineRunner, ref cmdRef, id32 uint32, f wire.Frame) bool {
	run := &s.inline
	if run.busy {
		run = new(inlineRun)
	}
	run.busy = true
	defer func() { *run = inlineRun{} }() // also when a panic leaves (guard recovers it)
	run.in = instance{id32: id32, cmd: ref}
	run.sink = inlineSink{s: s, in: &run.in, ctx: ctx}
	return r.RunInline(ctx, ref.Value().name, s.env(), &run.sink, f.Type, f.Payload)
}

// desiredCommands tells each what the session may load now from each
// module (host.md §2.3), one module at a time in the host's order: public
// commands while logged out; exempt commands plus the user commands the
// rank rule allows while logged in. Exempt commands are never rank
// filtered. A module whose listing fails is given no commands.
func (s *Session) desiredCommands(ctx context.Context, each func(m module.Module, defs []module.Def)) {
	ctx, cancel := s.ioContext(ctx)
	defer cancel()
	env := s.env()
	var ranks []store.CommandRank
	if s.st.user != nil {
		var err error
		if ranks, err = s.cfg.Host.Ranks(ctx); err != nil {
			s.log.Error("load command ranks", "err", err)
		}
	}
	for _, m := range s.cfg.Host.Modules() {
		if s.st.user == nil {
			defs, err := m.List(ctx, module.Public, env)
			s.listErr(m, err)
			each(m, defs)
			continue
		}
		exempt, err := m.List(ctx, module.Exempt, env)
		s.listErr(m, err)
		var out []module.Def
		seen := make(map[string]bool)
		for _, d := range exempt {
			seen[d.Name] = true
			out = append(out, d)
		}
		user, err := m.List(ctx, module.User, env)
		s.listErr(m, err)
		for _, d := range user {
			if !seen[d.Name] && rankAllows(ranks, m.ID(), d.Name, s.st.user.Rank) {
				seen[d.Name] = true
				out = append(out, d)
			}
		}
		each(m, out)
	}
}

func (s *Session) listErr(m module.Module, err error) {
	if err != nil {
		s.log.Error("list module commands", "module", m.ID(), "err", err)
		s.cfg.Host.Debug(fmt.Sprintf("module %s failed to list commands: %v", m.ID(), err))
		if errors.Is(err, store.ErrUnavailable) {
			s.sendAsync(wire.AsyncSysMsg, wire.TypeErr, wire.EncodeText("\nerr: the database is not answering, so commands could not be loaded; reconnect in a moment.\n"))
			return
		}
		s.sendAsync(wire.AsyncSysMsg, wire.TypeErr, wire.EncodeText("\nerr: A module failed to start so some commands may not have loaded. detailed error information was logged for admin review.\n"))
	}
}

// rankAllows applies the rank rule: a ranked command is allowed when its
// rank is numerically >= the user's; an unranked one only for rank 1.
func rankAllows(ranks []store.CommandRank, mod, name string, rank uint32) bool {
	for _, r := range ranks {
		if r.Module == mod && strings.EqualFold(r.Command, name) {
			return r.Rank >= rank
		}
	}
	return rank == 1
}

// reloadCommands rebuilds the command set: commands no longer allowed are
// unloaded (their instances killed, ASYNC_RM_CMD sent) and new ones loaded
// and announced with ASYNC_ADD_CMD. It works module by module, so the
// internal module's commands (auth among them) reach the client while an
// external module's process is still starting to list its own.
func (s *Session) reloadCommands(ctx context.Context) {
	keep := make(map[cmdKey]bool)
	// The name index lives only for the reload: reloads are rare, idle
	// sessions are many.
	names := make(map[string]bool, len(s.st.cmds))
	for _, ref := range s.st.cmds {
		if ref != (cmdRef{}) {
			names[ref.Value().clientName] = true
		}
	}
	s.desiredCommands(ctx, func(m module.Module, defs []module.Def) {
		want := make(map[cmdKey]bool, len(defs))
		for _, d := range defs {
			if validate.CommandName(d.Name) {
				want[cmdKey{m.ID(), d.Name}] = true
				keep[cmdKey{m.ID(), d.Name}] = true
			}
		}
		loaded := make(map[cmdKey]bool)
		for _, ref := range slices.Clone(s.st.cmds) {
			if ref == (cmdRef{}) {
				continue
			}
			c := ref.Value()
			if c.mod.ID() != m.ID() {
				continue
			}
			if k := (cmdKey{c.mod.ID(), c.name}); want[k] {
				loaded[k] = true
			} else {
				s.unload(ref)
				delete(names, c.clientName)
			}
		}
		for _, d := range defs {
			k := cmdKey{m.ID(), d.Name}
			if !want[k] || loaded[k] {
				continue
			}
			s.load(m, d, names)
			loaded[k] = true
		}
	})
	// Commands of modules the host no longer has.
	for _, ref := range slices.Clone(s.st.cmds) {
		if ref == (cmdRef{}) {
			continue
		}
		if c := ref.Value(); !keep[cmdKey{c.mod.ID(), c.name}] {
			s.unload(ref)
		}
	}
	s.publish()
}

// load assigns d the lowest free command id and a client name not in
// names (adding it), and announces it.
func (s *Session) load(m module.Module, d module.Def, names map[string]bool) {
	id := uint16(0)
	for n := wire.FirstCommandID; n <= 0xFFFF; n++ {
		if _, taken := s.st.cmd(uint16(n)); !taken && !s.detachedID(uint16(n)) {
			id = uint16(n)
			break
		}
	}
	if id == 0 {
		s.log.Warn("command id space exhausted", "command", d.Name)
		return
	}
	name := strings.ToLower(d.Name)
	if names[name] {
		for i := 1; ; i++ {
			if alt := name + "_" + strconv.Itoa(i); !names[alt] {
				name = alt
				break
			}
		}
	}
	names[name] = true
	s.st.setCmd(id, unique.Make(loadedCmd{id: id, clientName: name, name: d.Name, mod: m}))
	s.sendAsync(wire.AsyncAddCmd, wire.TypeNewCmd, d.NewCmd(id, name))
}

// detachedID reports whether a detached instance still runs on command id.
func (s *Session) detachedID(id uint16) bool {
	for id32, in := range s.st.instances {
		if in.detached && uint16(id32) == id {
			return true
		}
	}
	return false
}

func (s *Session) unload(ref cmdRef) {
	c := ref.Value()
	detached := false
	for id32, in := range s.st.instances {
		if in.cmd == ref {
			if in == s.st.applying && !in.idle {
				// The command ended the login itself: it finishes with its
				// normal reply instead of being cut off, and the client is
				// told of the removal after that reply (endDetached).
				in.detached, detached = true, true
				continue
			}
			if !in.idle {
				// End the call the client is waiting on before the id goes.
				cmd, branch := uint16(id32), uint16(id32>>16)
				s.sendFrame(wire.TypeErr, cmd, branch, wire.EncodeText("err: The command was removed from this session while it was running.\n"))
				s.sendFrame(wire.TypeIdle, cmd, branch, nil)
			}
			s.killInstance(in)
			delete(s.st.instances, id32)
		}
	}
	s.st.setCmd(c.id, cmdRef{})
	if !detached {
		s.sendAsync(wire.AsyncRmCmd, wire.TypeCmdID, wire.EncodeCmdID(c.id))
	}
}

// endDetached retires a detached instance once its call has ended: the
// instance goes and the client learns that its command was removed.
func (s *Session) endDetached(in *instance) {
	s.killInstance(in)
	if s.st.instances[in.id32] == in {
		delete(s.st.instances, in.id32)
	}
	in.detached = false
	s.sendAsync(wire.AsyncRmCmd, wire.TypeCmdID, wire.EncodeCmdID(uint16(in.id32)))
}

func (s *Session) killInstance(in *instance) {
	if !in.killed {
		in.killed = true
		in.inst.Kill()
	}
}

func (s *Session) env() module.Env {
	return module.Env{Session: s, Host: s.cfg.Host, Store: s.cfg.Store, Log: s.log, Input: s.queued, Panicked: s.onPanic}
}

// dispatch routes one client frame to its command instance (protocol.md §8.2).
// It reports true when the frame (GEN_FILE data) was queued on an instance
// that releases the frame's cost in the transit budget once it has consumed
// the payload; otherwise the caller releases it. The release function is
// made only for such frames: every other frame (a cast, say) allocates
// nothing for it.
func (s *Session) dispatch(ctx context.Context, f wire.Frame, cost int) bool {
	ref, ok := s.st.cmd(f.Cmd)
	if !ok {
		s.sendFrame(wire.TypeErr, f.Cmd, f.Branch, wire.EncodeText(fmt.Sprintf("err: No such command id: %d.", f.Cmd)))
		s.sendFrame(wire.TypeIdle, f.Cmd, f.Branch, nil)
		return false
	}
	id32 := f.ID32()
	in := s.st.instances[id32]
	if in != nil && in.idle {
		if cl, ok := in.inst.(module.Closer); ok && cl.Closed() {
			delete(s.st.instances, id32) // finished after its last call
			in = nil
		}
	}
	if in == nil {
		if f.Type.IsControl() {
			return false // nothing runs there; never start an instance for a control frame
		}
		c := ref.Value()
		if r, ok := c.mod.(module.InlineRunner); ok {
			if s.runInline(ctx, r, ref, id32, f) {
				return false
			}
		}
		if len(s.st.instances) >= s.lim.MaxInstances {
			s.sendFrame(wire.TypeErr, f.Cmd, f.Branch, wire.EncodeText(fmt.Sprintf(
				"err: Too many commands are running in this session (limit %d); wait for one to finish.\n", s.lim.MaxInstances)))
			s.sendFrame(wire.TypeIdle, f.Cmd, f.Branch, nil)
			return false
		}
		in = &instance{id32: id32, cmd: ref}
		sctx, cancel := s.ioContext(ctx)
		inst, err := c.mod.Start(sctx, c.name, s.env(), sink{s, in})
		cancel()
		if err != nil {
			s.log.Error("start command", "command", c.clientName, "err", err)
			s.cfg.Host.Debug(fmt.Sprintf("command %s failed to start: %v", c.clientName, err))
			s.sendFrame(wire.TypeErr, f.Cmd, f.Branch, wire.EncodeText("err: The command failed to start. error details were logged for admin review.\n"))
			s.sendFrame(wire.TypeIdle, f.Cmd, f.Branch, nil)
			return false
		}
		in.inst = inst
		s.st.instances[id32] = in
	}
	if !f.Type.IsControl() {
		in.idle = false
		if in.started.IsZero() {
			in.started = time.Now()
		}
	}
	if ri, ok := in.inst.(module.ReleasingInstance); ok && f.Type == wire.TypeGenFile {
		// Bulk data (GEN_FILE: an upload's chunks) keeps its bytes in the
		// session's input budget until the command has consumed it, so a
		// client faster than the command is slowed down by TCP.
		if ri.InputRelease(f.Type, f.Payload, sync.OnceFunc(func() { s.transit.release(cost) })) {
			return true
		}
	} else if in.inst.Input(f.Type, f.Payload) {
		return false
	}
	if cl, ok := in.inst.(module.Closer); ok && cl.Closed() {
		// The instance finished between calls: start a fresh one.
		delete(s.st.instances, id32)
		if !f.Type.IsControl() {
			return s.dispatch(ctx, f, cost)
		}
		return false
	}
	s.sendFrame(wire.TypeErr, f.Cmd, f.Branch, wire.EncodeText("err: The command's input queue is full; the frame was dropped.\n"))
	return false
}

func (s *Session) instanceOutput(e instOutput) {
	defer s.outPending.Add(-int64(len(e.payload)))
	in := e.in
	if in.killed && s.st.instances[in.id32] != in {
		return // output of an unloaded command's instance
	}
	cmd, branch := uint16(in.id32), uint16(in.id32>>16)
	if e.framed {
		s.sendFramed(e.t, cmd, branch, e.payload)
	} else {
		s.sendFrame(e.t, cmd, branch, e.payload)
	}
	if e.t == wire.TypeIdle {
		in.idle = true
		if !in.started.IsZero() {
			s.cfg.Metrics.ObserveCommand(in.cmd.Value().clientName, time.Since(in.started))
			in.started = time.Time{}
		}
		if in.detached {
			s.endDetached(in)
		}
	}
}

func (s *Session) instanceAsync(ctx context.Context, e instAsync) {
	if e.id == wire.AsyncKeepAlive {
		return
	}
	if err := s.checkOwnAsync(e.id, e.data); err != nil {
		s.cfg.Metrics.Inc(asyncsRefused)
		s.log.Warn("async refused", "command", e.in.cmd.Value().clientName, "err", err)
		s.cfg.Host.Debug(fmt.Sprintf("async from command %s refused: %v", e.in.cmd.Value().clientName, err))
		return
	}
	trusted := s.cfg.Host.Trusted(e.in.cmd.Value().mod)
	msg, err := s.cfg.Bus.Emit(s.cfg.ID, e.mode, e.id, e.data, trusted)
	if err != nil {
		s.cfg.Metrics.Inc(asyncsRefused)
		s.log.Warn("async refused", "command", e.in.cmd.Value().clientName, "err", err)
		s.cfg.Host.Debug(fmt.Sprintf("async from command %s refused: %v", e.in.cmd.Value().clientName, err))
		return
	}
	if e.mode != wire.TypePubIPC {
		s.st.applying = e.in
		s.handleAsync(ctx, msg)
		s.st.applying = nil
	}
}

func (s *Session) instanceExited(e instExited) {
	in := e.in
	if s.st.instances[in.id32] == in {
		delete(s.st.instances, in.id32)
	}
	if !in.idle && !in.killed {
		cmd, branch := uint16(in.id32), uint16(in.id32>>16)
		s.sendFrame(wire.TypeErr, cmd, branch, wire.EncodeText("err: The command has stopped unexpectedly or it has failed to send an IDLE frame before exiting.\n"))
		s.sendFrame(wire.TypeIdle, cmd, branch, nil)
	}
	if in.detached {
		s.endDetached(in)
	}
}

// checkOwnAsync applies the session-specific checks of commands.md §15.2 to
// an async from one of this session's commands: casts must be routed by the
// session's writable list and may not carry PING_PEERS; P2P and CLOSE_P2P
// must name this session as their source.
func (s *Session) checkOwnAsync(id wire.AsyncID, d []byte) error {
	switch id {
	case wire.AsyncCast, wire.AsyncLimitedCast:
		if len(d) <= wire.SubChannelListLen {
			return fmt.Errorf("%v: payload of %d bytes is too short", id, len(d))
		}
		var w [wire.SubChannelListLen]byte
		if s.st.writable.Append(w[:0]); string(d[:wire.SubChannelListLen]) != string(w[:]) {
			return fmt.Errorf("%v: sub-channel list is not the session's writable list", id)
		}
		if wire.TypeID(d[wire.SubChannelListLen]) == wire.TypePingPeers {
			return fmt.Errorf("%v: modules may not cast PING_PEERS", id)
		}
	case wire.AsyncP2P:
		if len(d) < 2*wire.SessionIDLen+1 || string(d[wire.SessionIDLen:2*wire.SessionIDLen]) != string(s.cfg.ID[:]) {
			return fmt.Errorf("%v: source session id is not this session's", id)
		}
	case wire.AsyncCloseP2P:
		if len(d) < wire.SessionIDLen || string(d[:wire.SessionIDLen]) != string(s.cfg.ID[:]) {
			return fmt.Errorf("%v: session id is not this session's", id)
		}
	}
	return nil
}
