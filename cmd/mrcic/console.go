package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

var (
	// errInterrupted is the result of a read the user cancelled with Ctrl-C.
	errInterrupted = errors.New("interrupted")
	// errAborted is the result of a read that mrcic cancelled itself (to
	// start a read of another kind, say a hidden one).
	errAborted = errors.New("read aborted")
)

// readResult is the outcome of one read of the console.
type readResult struct {
	seq  uint64 // which request it answers
	line string
	err  error // nil, errInterrupted, errAborted or io.EOF
}

// console is the terminal mrcic talks to in interactive mode. Reads are
// asynchronous: request starts one (cancelling the outstanding one) and its
// result arrives on results, so the interactive loop can wait for input,
// command output and async frames at once. print writes above the prompt
// and never tears the line being typed.
type console interface {
	request(seq uint64, prompt string, hidden bool)
	results() <-chan readResult
	print(s string)
	color() bool
	close()
}

// ttyConsole is a console on a terminal in raw mode, with x/term's line
// editor: history, bracketed paste, Tab completion.
//
// request never blocks: it stores the wanted read (the latest wins), aborts
// the read in progress, and wakes the reader goroutine, which runs the
// wanted read and posts its result. So the interactive loop can ask for a
// new prompt any number of times between two results without waiting.
type ttyConsole struct {
	t       *term.Terminal
	in      *ttyInput
	restore func()
	colour  bool

	res  chan readResult
	wake chan struct{} // capacity 1

	mu      sync.Mutex
	next    *readReq // the read to run next
	reading bool     // the reader goroutine is in a read
	done    chan struct{}
}

type readReq struct {
	seq    uint64
	prompt string
	hidden bool
}

// newTTYConsole puts fd into raw mode and starts the line editor.
func newTTYConsole(fd int, stdin io.Reader, stdout io.Writer, hist term.History, complete func(line string, pos int, key rune) (string, int, bool)) (*ttyConsole, error) {
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	in := newTTYInput(stdin)
	c := &ttyConsole{in: in, res: make(chan readResult, 1), wake: make(chan struct{}, 1), done: make(chan struct{}),
		colour: os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"}
	c.restore = func() { _ = term.Restore(fd, old) }
	c.t = term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, stdout}, "")
	if w, h, err := term.GetSize(fd); err == nil {
		_ = c.t.SetSize(w, h)
	}
	if hist != nil {
		c.t.History = hist
	}
	c.t.AutoCompleteCallback = complete
	c.t.SetBracketedPasteMode(true)
	go c.reader()
	return c, nil
}

// reader runs the wanted reads one at a time.
func (c *ttyConsole) reader() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.mu.Lock()
		r := c.next
		c.next = nil
		c.reading = r != nil
		c.mu.Unlock()
		if r == nil {
			continue
		}
		var line string
		var err error
		c.t.SetPrompt(r.prompt)
		_, _ = c.t.Write(nil) // redraw with the new prompt if one is shown
		if r.hidden {
			line, err = c.t.ReadPassword(r.prompt)
		} else {
			line, err = c.t.ReadLine()
		}
		if errors.Is(err, term.ErrPasteIndicator) {
			err = nil
		}
		c.mu.Lock()
		c.reading = false
		more := c.next != nil
		c.mu.Unlock()
		select {
		case c.res <- readResult{seq: r.seq, line: line, err: err}:
		case <-c.done:
			return
		}
		if more {
			c.poke()
		}
	}
}

func (c *ttyConsole) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *ttyConsole) request(seq uint64, prompt string, hidden bool) {
	c.mu.Lock()
	c.next = &readReq{seq, prompt, hidden}
	busy := c.reading
	c.mu.Unlock()
	if busy {
		c.in.abort()
	}
	c.poke()
}

func (c *ttyConsole) results() <-chan readResult { return c.res }

func (c *ttyConsole) print(s string) {
	if s == "" {
		return
	}
	_, _ = c.t.Write([]byte(s))
}

func (c *ttyConsole) color() bool { return c.colour }

func (c *ttyConsole) close() {
	select {
	case <-c.done:
		return
	default:
	}
	close(c.done)
	c.in.abort()
	c.t.SetBracketedPasteMode(false)
	c.restore()
}

// ttyInput feeds the line editor from the terminal. A reader goroutine
// reads stdin in chunks; Ctrl-C (0x03) is replaced by the editor's
// end-of-line and kill-line keys (clearing what was typed) followed by
// errInterrupted, so x/term never sees it (it would report io.EOF).
type ttyInput struct {
	items chan inputItem
	ctl   chan error // errAborted requests, delivered before more input
	rest  []byte
	err   error // to return once rest is empty
}

type inputItem struct {
	data []byte
	err  error // after data
}

// clearLine is Ctrl-E (end of line) then Ctrl-U (delete to line start).
var clearLine = []byte{5, 21}

func newTTYInput(r io.Reader) *ttyInput {
	in := &ttyInput{items: make(chan inputItem, 64), ctl: make(chan error, 1)}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			data := buf[:n]
			for len(data) > 0 {
				i := bytes.IndexByte(data, 3)
				if i < 0 {
					in.items <- inputItem{data: bytes.Clone(data)}
					break
				}
				in.items <- inputItem{data: append(bytes.Clone(data[:i]), clearLine...), err: errInterrupted}
				data = data[i+1:]
			}
			if err != nil {
				in.items <- inputItem{err: io.EOF}
				close(in.items)
				return
			}
		}
	}()
	return in
}

// abort makes the read in progress (or the next one) end with errAborted.
func (in *ttyInput) abort() {
	select {
	case in.ctl <- errAborted:
	default:
	}
}

func (in *ttyInput) Read(p []byte) (int, error) {
	if len(in.rest) > 0 {
		n := copy(p, in.rest)
		in.rest = in.rest[n:]
		return n, nil
	}
	if in.err != nil {
		err := in.err
		in.err = nil
		return 0, err
	}
	select {
	case err := <-in.ctl:
		return 0, err
	default:
	}
	select {
	case err := <-in.ctl:
		return 0, err
	case it, ok := <-in.items:
		if !ok {
			return 0, io.EOF
		}
		n := copy(p, it.data)
		in.rest = it.data[n:]
		in.err = it.err
		if n == 0 && in.err != nil {
			err := in.err
			in.err = nil
			return 0, err
		}
		return n, nil
	}
}

// plainConsole is the console when stdin is not a terminal: lines are read
// as they come, prompts are not shown and nothing is hidden (there is no
// echo to hide).
type plainConsole struct {
	mu   sync.Mutex
	out  io.Writer
	res  chan readResult
	want chan uint64
	done chan struct{}
}

func newPlainConsole(lines *bufio.Reader, out io.Writer) *plainConsole {
	c := &plainConsole{out: out, res: make(chan readResult, 1), want: make(chan uint64, 1), done: make(chan struct{})}
	go func() {
		var seq uint64
		for {
			select {
			case seq = <-c.want:
			case <-c.done:
				return
			}
			s, err := lines.ReadString('\n')
			if err != nil && (err != io.EOF || s == "") {
				err = io.EOF
			} else {
				err = nil
			}
			select {
			case c.res <- readResult{seq: seq, line: strings.TrimRight(s, "\r\n"), err: err}:
			case <-c.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

// request asks for the next line. A line already being read answers the
// new request instead (lines from a pipe cannot be taken back).
func (c *plainConsole) request(seq uint64, _ string, _ bool) {
	for {
		select {
		case c.want <- seq:
			return
		default:
		}
		select {
		case <-c.want: // replace a request the reader has not taken yet
		default:
			return
		}
	}
}

func (c *plainConsole) results() <-chan readResult { return c.res }

func (c *plainConsole) print(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.out, s)
}

func (c *plainConsole) color() bool { return false }

func (c *plainConsole) close() {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
}
