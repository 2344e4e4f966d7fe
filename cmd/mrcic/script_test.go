package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
)

// pagingHost is a host with more accounts than ls_users shows on a page.
func pagingHost(t *testing.T) (*hosttest.Host, string) {
	t.Helper()
	h := hosttest.Start(t)
	for i := range 55 {
		h.CreateUser(t, fmt.Sprintf("user%02d", i), "User-Pass-1234", 2)
	}
	return h, writeFile(t, "pw", hosttest.RootPassword+"\n")
}

// TestScriptPagingAnswered: -c with a paging listing never hangs; the
// question is answered by --answer, --yes or standard input.
func TestScriptPagingAnswered(t *testing.T) {
	h, pw := pagingHost(t)
	base := []string{"--addr", h.Addr, "--user", "root", "--password-file", pw}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"answer", "", []string{"--answer", "y"}},
		{"yes", "", []string{"--yes"}},
		{"stdin", "y\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runMrcic(t, tc.stdin, append(append(base, tc.args...), "-c", "ls_users")...)
			if r.code != 0 || !strings.Contains(r.stdout, "user00") || !strings.Contains(r.stdout, "user54") ||
				!strings.Contains(r.stdout, "next page (y/n)? ") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestScriptPagingUnanswered: no answer left ends the command with exit 1
// and a message naming the question; later -c commands still run.
func TestScriptPagingUnanswered(t *testing.T) {
	h, pw := pagingHost(t)
	r := runMrcic(t, "", "--addr", h.Addr, "--user", "root", "--password-file", pw, "-c", "ls_users", "-c", "my_info")
	if r.code != 1 || !strings.Contains(r.stderr, `ls_users: the command asks "next page (y/n)?" and no answer is left`) ||
		strings.Contains(r.stdout, "user54") || !strings.Contains(r.stdout, "User Name:      root") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestScriptJSON parses --json output back.
func TestScriptJSON(t *testing.T) {
	h, pw := pagingHost(t)
	r := runMrcic(t, "", "--addr", h.Addr, "--user", "root", "--password-file", pw, "--json", "--answer", "n",
		"-c", "ls_users", "-c", "set_user_rank -user nobody -rank 3")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the second command fails)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var frames []jsonFrame
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var j jsonFrame
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		frames = append(frames, j)
	}
	var text strings.Builder
	var exits []string
	errs := 0
	for _, j := range frames {
		switch {
		case j.Type == "TEXT" && j.Command == "ls_users":
			text.WriteString(j.Text)
		case j.Type == "ERR" && j.Command == "set_user_rank" && strings.Contains(j.Text, "no such user"):
			errs++
		case j.Type == "EXIT":
			exits = append(exits, fmt.Sprintf("%s=%d", j.Command, *j.Exit))
		}
	}
	if !strings.Contains(text.String(), "user00") || strings.Contains(text.String(), "user54") || errs != 1 ||
		strings.Join(exits, " ") != "ls_users=0 set_user_rank=1" {
		t.Fatalf("frames %+v", frames)
	}
}

// TestScriptUnavailableCommand: a command the account was not given is
// reported as not available, with the rank.
func TestScriptUnavailableCommand(t *testing.T) {
	h := hosttest.Start(t)
	h.CreateUser(t, "carol", "Carol-Pass-1234", 2)
	pw := writeFile(t, "pw", "Carol-Pass-1234\n")
	r := runMrcic(t, "", "--addr", h.Addr, "--user", "carol", "--password-file", pw, "-c", "add_acct -name x -email x@y.z")
	if r.code != 1 || !strings.Contains(r.stderr, "add_acct: not available to this account (your rank is 2") {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}

// TestPipedInteractive: without -c and with piped input, the lines run one
// after another, async events are printed readably, and the end of input
// waits for the running command.
func TestPipedInteractive(t *testing.T) {
	h := hosttest.Start(t)
	h.RankAll(t, 2, "add_ch", "ls_chs", "add_sub_ch", "open_sub_ch", "cast")
	h.CreateUser(t, "dave", "Dave-Pass-1234", 2)
	pw := writeFile(t, "pw", "Dave-Pass-1234\n")
	r := runMrcic(t, "add_ch -ch_name team\nadd_sub_ch -ch_name team -sub_name general\n/join team general\nhello\n/cmd ls_chs\n",
		"--addr", h.Addr, "--user", "dave", "--password-file", pw, "--history", "")
	for _, want := range []string{"* channel #team created, owner dave", "* sub-channel #team/general created",
		"* joined #team/general", "channel_name", "team"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q", want)
		}
	}
	if r.code != 0 || t.Failed() {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
