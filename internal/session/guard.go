package session

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/mrci/mrci/internal/wire"
)

// ioContext bounds one store or module call made by the loop: a slow
// database or a stuck module delays the session by at most
// Limits.IOTimeout per call instead of stalling it for good. (Inline
// commands do no I/O by contract and run without it.)
func (s *Session) ioContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.lim.IOTimeout)
}

// panicked counts a panic recovered in one of the session's commands
// (module.Env.Panicked; the module has logged it and answered ERR).
func (s *Session) panicked(where string) { s.cfg.Metrics.Panicked(where) }

// guard runs one step of the loop (an event or an async message) and
// recovers a panic in it: the stack is logged, the panic counted, and a
// client frame that caused it is answered with ERR and IDLE. The session
// and every other session go on.
func (s *Session) guard(where string, ev event, step func()) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		s.log.Error("session panicked", "where", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		s.cfg.Metrics.Panicked(where)
		if cf, ok := ev.(clientFrame); ok {
			s.sendFrame(wire.TypeErr, cf.f.Cmd, cf.f.Branch, wire.EncodeText("err: internal error; details were logged for admin review\n"))
			s.sendFrame(wire.TypeIdle, cf.f.Cmd, cf.f.Branch, nil)
		}
	}()
	step()
}
