package main

import (
	"fmt"
	"io"

	"golang.org/x/term"
)

// readSecret reads one line from the terminal fd without echo, outside the
// interactive console (scripting mode). The terminal is in raw mode while
// it reads, so Ctrl-C is a key: it ends the read at once with
// errInterrupted (term.ReadPassword would leave it to SIGINT, which cannot
// interrupt the read). Backspace edits; Enter ends the line; Ctrl-D on an
// empty line is io.EOF.
func readSecret(fd int, in io.Reader, out io.Writer, prompt string) (string, error) {
	old, err := term.MakeRaw(fd)
	if err != nil {
		return "", err
	}
	defer func() { _ = term.Restore(fd, old) }()
	fmt.Fprint(out, prompt)
	defer fmt.Fprint(out, "\r\n")
	var line []byte
	var b [1]byte
	for {
		n, err := in.Read(b[:])
		if err != nil {
			return "", err
		}
		if n == 0 {
			continue
		}
		switch c := b[0]; c {
		case 3: // Ctrl-C
			fmt.Fprint(out, "^C")
			return "", errInterrupted
		case 4: // Ctrl-D
			if len(line) == 0 {
				return "", io.EOF
			}
		case '\r', '\n':
			return string(line), nil
		case 127, 8: // backspace
			if len(line) > 0 {
				// drop a whole UTF-8 sequence
				i := len(line) - 1
				for i > 0 && line[i]&0xC0 == 0x80 {
					i--
				}
				line = line[:i]
			}
		case 21: // Ctrl-U
			line = line[:0]
		default:
			if c >= 32 || c == '\t' {
				line = append(line, c)
			}
		}
	}
}
