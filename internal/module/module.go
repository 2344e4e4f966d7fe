// Package module is the command abstraction shared by the host's internal
// commands and external module programs. A Module lists command
// definitions per category and starts command instances; an Instance
// receives the client's frames for one (command id, branch id) and answers
// through a Sink with output frames and async commands.
package module

import (
	"context"
	"log/slog"
	"sync"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Category is one of the three command listings of host.md §2.3.
type Category int

// The listing categories.
const (
	Public Category = iota // loaded for sessions with nobody logged in
	Exempt                 // loaded for every logged-in user
	User                   // loaded for logged-in users the rank rule allows
)

// String names the category as the module command line does.
func (c Category) String() string {
	switch c {
	case Public:
		return "public"
	case Exempt:
		return "exempt"
	}
	return "user"
}

// Def describes one command a module offers (the content of its NEW_CMD).
type Def struct {
	Name    string // the module's own name for the command, lower-case
	GenFile uint8
	Library string
	Summary string
	IO      string
	Long    string
}

// NewCmd returns the announcement frame payload for the command under the
// given session id and client-visible name.
func (d *Def) NewCmd(id uint16, clientName string) []byte {
	c := wire.NewCmd{ID: id, GenFile: d.GenFile, Name: clientName, Library: d.Library,
		Summary: d.Summary, IO: d.IO, Long: d.Long}
	return c.Marshal()
}

// Module is a source of commands. Its dynamic type must be comparable
// (sessions intern the commands they load, module included): implement it
// on a pointer, as InProcess and External do.
type Module interface {
	// ID is the module's identity in command_ranks: store.InternalModule for
	// the host's own commands, the executable path for external modules.
	ID() string
	// List returns the module's commands of one category for a session.
	List(ctx context.Context, cat Category, env Env) ([]Def, error)
	// Start begins one command instance. Output goes to sink until the
	// instance reports Exited.
	Start(ctx context.Context, name string, env Env, sink Sink) (Instance, error)
}

// Instance is one running (command id, branch id) of a module command.
type Instance interface {
	// Input delivers one client frame. It never blocks; it reports false
	// when the instance's input queue is full and the frame was dropped.
	Input(t wire.TypeID, payload []byte) bool
	// Kill asks the instance to finish and exit (KILL_CMD semantics); the
	// instance reports Exited when it is gone.
	Kill()
}

// Closer is implemented by instances that can finish on their own between
// calls (in-process instances do after every call). When Input refuses a
// frame and Closed reports true, the session starts a new instance.
type Closer interface {
	Closed() bool
}

// ReleasingInstance is implemented by instances that keep input payloads
// queued after Input returns. InputRelease is Input, except that release is
// called exactly once when the instance no longer holds the payload (it
// has been consumed or discarded); when InputRelease reports false the
// frame was refused and release is not called. The session uses it to
// bound the bytes of client input it has read but not yet seen consumed,
// so a client streaming a file faster than the command writes it is slowed
// down by TCP instead of filling the host's memory.
type ReleasingInstance interface {
	InputRelease(t wire.TypeID, payload []byte, release func()) bool
}

// Flow is implemented by sinks that let a producer of bulk output (a file
// download) wait for the client to take what was sent: WaitRoom returns
// once at most limit bytes of the session's output are queued and not yet
// written, or with an error when ctx ends or the session has ended.
type Flow interface {
	WaitRoom(ctx context.Context, limit int) error
}

// Framer is implemented by sinks that take a payload with room for the
// frame header in front of it, so a large payload (a download chunk) is
// queued for the socket without another copy. b[:wire.FrameHeaderLen] is
// overwritten by the sink; the rest is the payload. The sink takes
// ownership of b; a buffer from PayloadBuf goes back to the pool once it
// has been written.
type Framer interface {
	FrameWithHeader(t wire.TypeID, b []byte)
}

// payloadPools hold payload buffers for large frames (download chunks,
// upload data), so a transfer does not allocate and clear a fresh buffer
// per frame: one pool per size class, PayloadBufMin << i bytes, so a
// buffer is never more than twice the payload it holds.
var payloadPools [payloadClasses]sync.Pool

const payloadClasses = 5

// PayloadBufMin and PayloadBufSize are the smallest and the largest
// capacity of pooled payload buffers.
const (
	PayloadBufMin  = 64 << 10
	PayloadBufSize = PayloadBufMin << (payloadClasses - 1) // 1 MiB
)

// payloadClass returns the size class of a payload of n <= PayloadBufSize
// bytes.
func payloadClass(n int) int {
	c := 0
	for PayloadBufMin<<c < n {
		c++
	}
	return c
}

// PayloadBuf returns a buffer of n bytes (n <= PayloadBufSize) from the
// pool of its size class. Whoever ends up owning it may give it back with
// RecyclePayload; a buffer that is never given back is simply collected.
func PayloadBuf(n int) []byte {
	c := payloadClass(n)
	if b, ok := payloadPools[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, PayloadBufMin<<c)
}

// RecyclePayload gives a payload back to the pool once nothing refers to
// it any more. Only buffers of a pool's exact capacity are kept.
func RecyclePayload(b []byte) {
	if cap(b) < PayloadBufMin || cap(b) > PayloadBufSize {
		return
	}
	c := payloadClass(cap(b))
	if PayloadBufMin<<c != cap(b) {
		return
	}
	b = b[:cap(b)]
	payloadPools[c].Put(&b)
}

// Sink receives what an instance produces. Calls from one instance are
// delivered in order; they may block while the session is busy.
type Sink interface {
	// Frame sends an output frame to the client on the instance's ids.
	Frame(t wire.TypeID, payload []byte)
	// Async emits an async command with an IPC mode (PRIV_IPC, PUB_IPC or
	// PUB_IPC_WITH_FEEDBACK). The sink takes ownership of data; the
	// instance must not modify it afterwards.
	Async(mode wire.TypeID, id wire.AsyncID, data []byte)
	// Exited reports that the instance has ended; err is nil for a normal exit.
	Exited(err error)
}

// Env is what a module may know about the session and host it serves.
type Env struct {
	Session SessionView
	Host    HostView
	Store   store.Store
	Log     *slog.Logger
	// Input bounds the bytes of client input queued in the session's
	// instances (nil: unbounded, for tests that drive a module directly).
	Input *InputBudget
	// Panicked, if set, is told about every panic recovered in a command
	// of this environment ("command" or "inline"), after it was logged
	// and answered with ERR; the session counts them.
	Panicked func(where string)
}

// SessionView gives a consistent snapshot of the session's state.
type SessionView interface {
	Snapshot() *SessionInfo
}

// SessionControl changes session state that no async command covers. The
// host's own commands reach it by asserting Env.Session to it; changes are
// applied by the session's loop in order with the command's output.
type SessionControl interface {
	// SetOwnerOverride sets or clears the channel owner override flag.
	SetOwnerOverride(on bool)
}

// SessionInfo is an immutable snapshot of one session's state (the data the
// original shares with module processes through shared memory).
type SessionInfo struct {
	SessionID     wire.SessionID
	IP            string
	AppName       string
	LoggedIn      bool
	UserID        wire.UserID
	UserName      string
	DisplayName   string
	Email         string
	EmailVerified bool
	Rank          uint32
	Registered    string // account creation time, "YYYY-MM-DD HH:MM:SS" UTC
	OwnerOverride bool
	Active        bool
	Open          wire.SubChannelList
	Writable      wire.SubChannelList
	Channels      []uint64
	P2PAccepted   []wire.SessionID
	P2PPendingIn  []wire.SessionID
	P2PPendingOut []wire.SessionID
	Dir           string
}

// PeerInfo returns the session's public PEER_INFO record.
func (s *SessionInfo) PeerInfo() wire.PeerInfo {
	return wire.PeerInfo{SessionID: s.SessionID, UserID: s.UserID, UserName: s.UserName,
		AppName: s.AppName, DisplayName: s.DisplayName}
}

// HostView is what commands may know about and ask of the host.
type HostView interface {
	// Settings returns the current host settings.
	Settings(ctx context.Context) (store.Settings, error)
	// SessionCount returns the number of live sessions.
	SessionCount() int
	// PasswordHash hashes a new password with the host's parameters.
	PasswordHash(pw string) (string, error)
	// VerifyPassword checks a password against a stored hash.
	VerifyPassword(pw, hash string) (bool, error)
	// ProductVersion is this implementation's own version.
	ProductVersion() string
}
