package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mrci/mrci/internal/wire"
)

// Placeholders of the legacy mailer_send_command (host.md §4.11).
const (
	phTarget  = "%target_email%"
	phSubject = "%subject%"
	phBody    = "%message_body%"
)

// shells are programs that would interpret an argument as a command line.
var shells = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "csh": true, "tcsh": true,
	"fish": true, "busybox": true, "env": true, "cmd": true, "cmd.exe": true,
	"powershell": true, "powershell.exe": true, "pwsh": true,
}

// Program is the legacy transport: it runs the operator's mail program
// (mailer_executable) with the arguments of mailer_send_command. The
// argument template is split into argv elements BEFORE substitution, so
// the address and the subject each stay inside their own element whatever
// they contain; the %message_body% argument is dropped and the body is
// written to the program's standard input. No shell is ever involved.
type Program struct {
	exe  string
	args []string
}

// NewProgram checks the legacy settings. The executable is expanded for
// environment variables ($NAME) as the original does, must be an absolute
// path and must not be a shell; the template must contain %target_email%.
func NewProgram(executable, sendCommand string) (*Program, error) {
	exe := os.ExpandEnv(strings.TrimSpace(executable))
	switch {
	case exe == "":
		return nil, errors.New("mail: no mailer_executable configured")
	case !filepath.IsAbs(exe):
		return nil, fmt.Errorf("mail: mailer_executable %q is not an absolute path", exe)
	case shells[strings.ToLower(filepath.Base(exe))]:
		return nil, fmt.Errorf("mail: mailer_executable %q is a shell; name the mail program itself (the body is given on its standard input)", exe)
	}
	var args []string
	target := false
	for _, tok := range wire.ParseArgs(sendCommand, -1) {
		if indexFold(tok, phBody) >= 0 {
			continue
		}
		target = target || indexFold(tok, phTarget) >= 0
		args = append(args, tok)
	}
	if !target {
		return nil, fmt.Errorf("mail: mailer_send_command lacks %s", phTarget)
	}
	return &Program{exe: exe, args: args}, nil
}

// outputLimit bounds the program output kept for the error message.
const outputLimit = 2048

// Send runs the program once for m.
func (p *Program) Send(ctx context.Context, m Message) error {
	if strings.HasPrefix(m.To, "-") || strings.ContainsAny(m.To, "\r\n\x00") {
		return Permanent(fmt.Errorf("mail: refusing recipient address %q", m.To))
	}
	subject := HeaderSafe(m.Subject)
	args := make([]string, len(p.args))
	for i, a := range p.args {
		args[i] = replaceFold(replaceFold(a, phTarget, m.To), phSubject, subject)
	}
	cmd := exec.CommandContext(ctx, p.exe, args...)
	cmd.Stdin = strings.NewReader(m.Body)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mail: %s: %w (output: %q)", p.exe, err, out.String())
	}
	return nil
}

// Probe checks that the program exists and is executable.
func (p *Program) Probe(context.Context) error {
	fi, err := os.Stat(p.exe)
	switch {
	case err != nil:
		return fmt.Errorf("mail: %w", err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("mail: %s is not an executable file", p.exe)
	}
	return nil
}

// replaceFold replaces every case-insensitive occurrence of old (ASCII) in s.
func replaceFold(s, old, repl string) string {
	var b strings.Builder
	for {
		i := indexFold(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s = s[i+len(old):]
	}
}

type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := outputLimit - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
