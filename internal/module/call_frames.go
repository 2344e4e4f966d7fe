package module

import (
	"context"
	"errors"

	"github.com/mrci/mrci/internal/wire"
)

// NextFrame waits for the next frame the client sends to this call, of any
// type (prompt answers, GEN_FILE data, ...). It returns ErrTerminated when
// the call was ended by TERM_CMD or KILL_CMD.
func (c *Call) NextFrame(ctx context.Context) (wire.TypeID, []byte, error) {
	if c.inst == nil {
		return 0, nil, errors.New("module: an inline command cannot read frames")
	}
	f, ok := c.inst.next(ctx)
	if !ok {
		return 0, nil, ErrTerminated
	}
	return f.t, f.payload, nil
}
