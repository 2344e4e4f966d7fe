package modsdk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// Defaults of a Module.
const (
	// DefaultKeepAlive is the interval of ASYNC_KEEP_ALIVE during a call,
	// as the host's internal commands do.
	DefaultKeepAlive = 30 * time.Second
	// killWait is how long a call may take to return after KILL_CMD
	// before the process sends IDLE and exits anyway (the host force-kills
	// after 3 s).
	killWait = 2 * time.Second
	// listWait bounds the wait for HOST_VER in listing mode.
	listWait = 5 * time.Second
)

// Errors of the SDK.
var (
	// ErrUsage is returned by Run when the command line is not one the
	// host uses (someone started the module by hand).
	ErrUsage = errors.New("modsdk: not started by an MRCI host (want -pipe_name ... and one of -public_cmds, -exempt_cmds, -user_cmds, -run_cmd NAME)")
	// ErrUnknownCommand is returned by Run for a -run_cmd name the module
	// does not have.
	ErrUnknownCommand = errors.New("modsdk: unknown command")
	// ErrTerminated is returned by Prompt, Recv and WaitResumed when the
	// call was ended by TERM_CMD or KILL_CMD.
	ErrTerminated = errors.New("modsdk: call terminated")
	// ErrUnsupportedHost is returned in listing mode when the host reports
	// a wire major version other than 2.
	ErrUnsupportedHost = errors.New("modsdk: unsupported host version")
)

// Command is one command of a module.
type Command struct {
	// Name is the command's name (1..64 characters, no spaces; the host
	// lower-cases it). If another loaded command already uses it, clients
	// see it with a suffix (_1, _2, ...).
	Name string
	// Summary, IO and Long are the help texts of its NEW_CMD announcement:
	// a one-line summary, the IO signature ("[-flag (text)]/[text]") and a
	// long description.
	Summary, IO, Long string
	// GenFile advertises the GEN_FILE mini-protocol (genfile byte 1).
	GenFile bool
	// Public, Exempt and User choose the listings (host.md §2.3): Public
	// commands are loaded for sessions nobody is logged in to, Exempt ones
	// for every logged-in user, User ones for logged-in users the rank
	// rule allows (rank 1, or a rank assigned with add_ranked_cmd).
	Public, Exempt, User bool
	// Accepts lists the frame types that start a call; nil means TEXT only.
	// Other frames arriving while no call runs are answered with IDLE.
	Accepts []TypeID
	// MaxArgs is the token limit of the argument parser; 0 means none.
	MaxArgs int
	// Run handles one call. Returning an error sends it as an ERR frame
	// ("err: <message>\n") before the IDLE; errors caused by TERM_CMD or
	// KILL_CMD (ErrTerminated, ctx errors) are not reported.
	Run func(ctx context.Context, c *Call) error
}

// Module is a module program: its commands and a few settings. Declare
// it, Add commands and call Main.
type Module struct {
	// Library is the library name shown in the NEW_CMD announcements
	// (at most 64 characters), e.g. "notebook 1.0".
	Library string
	// KeepAlive is the ASYNC_KEEP_ALIVE interval while a call runs
	// (0: DefaultKeepAlive; negative: never).
	KeepAlive time.Duration

	cmds []*Command
}

// Add adds commands to the module.
func (m *Module) Add(cmds ...*Command) { m.cmds = append(m.cmds, cmds...) }

// Commands returns the module's commands.
func (m *Module) Commands() []*Command { return m.cmds }

// Mode is what the host started the process for.
type Mode int

// The modes of a module process.
const (
	ListPublic Mode = iota + 1
	ListExempt
	ListUser
	RunCommand
)

// Options is the parsed host command line (modules.md §3.1).
type Options struct {
	Pipe        string // -pipe_name: the unix socket to connect to
	SessionData string // -mem_ses: the session data file
	HostData    string // -mem_host: the host data file
	Mode        Mode
	Command     string // -run_cmd: the command to run
}

// ParseOptions parses the host's command line (without the program
// name). Option names are matched case-sensitively; each value is the
// next argument.
func ParseOptions(args []string) (Options, error) {
	var o Options
	for i := 0; i < len(args); i++ {
		next := func() string {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				return args[i]
			}
			return ""
		}
		switch args[i] {
		case "-pipe_name":
			o.Pipe = next()
		case "-mem_ses":
			o.SessionData = next()
		case "-mem_host":
			o.HostData = next()
		case "-run_cmd":
			o.Mode, o.Command = RunCommand, next()
		case "-public_cmds":
			o.Mode = ListPublic
		case "-exempt_cmds":
			o.Mode = ListExempt
		case "-user_cmds":
			o.Mode = ListUser
		}
	}
	if o.Pipe == "" || o.Mode == 0 || (o.Mode == RunCommand && o.Command == "") {
		return o, ErrUsage
	}
	return o, nil
}

// Main runs the module with the process's command line and exits: status
// 0 after a normal end, 2 for a command line the host would not use, 1
// for other errors (printed on standard error, which the host forwards).
func (m *Module) Main() {
	err := m.Run(context.Background(), os.Args[1:])
	switch {
	case err == nil:
		os.Exit(0)
	case errors.Is(err, ErrUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Run runs the module with the given command line (without the program
// name) until the host is done with it or ctx ends.
func (m *Module) Run(ctx context.Context, args []string) error {
	o, err := ParseOptions(args)
	if err != nil {
		return err
	}
	var cmd *Command
	if o.Mode == RunCommand {
		for _, c := range m.cmds {
			if strings.EqualFold(c.Name, o.Command) {
				cmd = c
				break
			}
		}
		if cmd == nil {
			return fmt.Errorf("%w: %q", ErrUnknownCommand, o.Command)
		}
	}
	conn, err := net.Dial("unix", o.Pipe)
	if err != nil {
		return fmt.Errorf("modsdk: connect to the host: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	p := &pipe{conn: conn, w: bufio.NewWriterSize(conn, 64<<10)}
	data := &sessionData{sesPath: o.SessionData, hostPath: o.HostData}
	defer data.close()
	if o.Mode == RunCommand {
		return m.serve(ctx, p, cmd, data)
	}
	return m.list(p, o.Mode)
}

// pipe writes IPC frames; safe for concurrent use.
type pipe struct {
	conn net.Conn
	mu   sync.Mutex
	w    *bufio.Writer
}

// send writes one IPC frame.
func (p *pipe) send(t TypeID, payload []byte) error {
	if len(payload) > wire.MaxPayload {
		return fmt.Errorf("modsdk: %w: %d bytes", wire.ErrPayloadTooLarge, len(payload))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(payload)
	p.w.Write([]byte{byte(t), byte(n), byte(n >> 8), byte(n >> 16)})
	p.w.Write(payload)
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("modsdk: write to the host: %w", err)
	}
	return nil
}

func (p *pipe) emit(mode TypeID, id AsyncID, data []byte) error {
	if !mode.IsIPC() {
		return fmt.Errorf("modsdk: %v is not an IPC mode", mode)
	}
	return p.send(mode, wire.AsyncPayload{ID: id, Data: data}.Marshal())
}

// inCategory reports whether c is announced in a listing mode.
func (c *Command) inCategory(mode Mode) bool {
	switch mode {
	case ListPublic:
		return c.Public
	case ListExempt:
		return c.Exempt
	case ListUser:
		return c.User
	}
	return false
}

// list answers a listing (modules.md §5.2).
func (m *Module) list(p *pipe, mode Mode) error {
	for i, c := range m.cmds {
		if !c.inCategory(mode) {
			continue
		}
		nc := wire.NewCmd{ID: uint16(i), Name: c.Name, Library: m.Library, Summary: c.Summary, IO: c.IO, Long: c.Long}
		if c.GenFile {
			nc.GenFile = 1
		}
		if err := p.send(wire.TypeNewCmd, nc.Marshal()); err != nil {
			return err
		}
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(listWait))
	r := wire.NewIPCReader(p.conn, 1<<16)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("modsdk: waiting for HOST_VER: %w", err)
		}
		switch f.Type {
		case wire.TypeHostVer:
			if len(f.Payload) < 2 || f.Payload[0] != 2 || f.Payload[1] != 0 {
				msg := fmt.Sprintf("err: %s: %x\n", ErrUnsupportedHost.Error(), f.Payload)
				_ = p.send(wire.TypeErr, wire.EncodeText(msg))
				return ErrUnsupportedHost
			}
			return p.send(wire.TypeIdle, nil)
		case wire.TypeKillCmd:
			return nil
		}
	}
}
