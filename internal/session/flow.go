package session

import (
	"context"
	"errors"
)

// errSessionEnded is returned by WaitRoom once the session is over.
var errSessionEnded = errors.New("session ended")

// WaitRoom implements module.Flow for an instance's sink: it returns once
// the frames the session has queued for the client, plus the command
// output posted to the loop but not queued yet, are at most limit bytes.
// A client that stops reading keeps it waiting until the writer's timeout
// ends the session (the usual slow-consumer rule); the host never buffers
// more than limit plus one frame on behalf of such a producer.
func (k sink) WaitRoom(ctx context.Context, limit int) error {
	s := k.s
	for {
		queued, wait := s.out.room()
		if queued+int(s.outPending.Load()) <= limit {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return errSessionEnded
		}
	}
}
