package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/mrciwire"
)

// switchRE finds the -switches of an IO signature such as
// "[-ch_name (text) {-sub_name (text)}]/[text]".
var switchRE = regexp.MustCompile(`(?:^|[\[\s{(|])(-[A-Za-z][A-Za-z0-9_]*)`)

// switches lists the -switches of a command's IO signature in order.
func switches(io string) []string {
	in, _, _ := strings.Cut(io, "]/")
	var out []string
	seen := map[string]bool{}
	for _, m := range switchRE.FindAllStringSubmatch(in, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// completer completes the line being typed from the session's commands,
// their switches and the channel and sub-channel names mrcic knows.
type completer struct {
	c     func() *client.Client // the current connection (changes on reconnect)
	names *names
	shell []shellCommand
	show  func(string) // prints candidates above the prompt
}

// complete is the x/term AutoCompleteCallback: Tab completes the word
// before the cursor.
func (k *completer) complete(line string, pos int, key rune) (string, int, bool) {
	if key != '\t' {
		return "", 0, false
	}
	before, after := line[:pos], line[pos:]
	start := strings.LastIndexAny(before, " \t") + 1
	word := before[start:]
	cands := k.candidates(before[:start], word)
	var match []string
	for _, c := range cands {
		if strings.HasPrefix(c, word) {
			match = append(match, c)
		}
	}
	switch len(match) {
	case 0:
		return "", 0, false
	case 1:
		done := match[0] + " "
		return before[:start] + done + after, start + len(done), true
	}
	sort.Strings(match)
	prefix := match[0]
	for _, m := range match[1:] {
		for !strings.HasPrefix(m, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if len(prefix) > len(word) {
		return before[:start] + prefix + after, start + len(prefix), true
	}
	k.show(strings.Join(match, "  ") + "\n")
	return "", 0, false
}

// candidates returns the words that may follow head (the line before the
// word being completed).
func (k *completer) candidates(head, word string) []string {
	fields := strings.Fields(head)
	c := k.c()
	if strings.HasPrefix(strings.TrimSpace(head), "/cmd") {
		fields = fields[1:]
	}
	if len(fields) == 0 {
		var out []string
		if c != nil {
			for n := range c.Commands() {
				out = append(out, n)
			}
		}
		for _, s := range k.shell {
			out = append(out, "/"+s.name)
		}
		return append(out, "help")
	}
	cmd := strings.ToLower(fields[0])
	prev := fields[len(fields)-1]
	switch {
	case cmd == "/join" && len(fields) == 1, cmd == "/part" && len(fields) == 1:
		return k.names.channelNames()
	case cmd == "/join" && len(fields) == 2, cmd == "/part" && len(fields) == 2:
		return k.names.subNames(fields[1])
	case cmd == "help" && len(fields) == 1:
		if c == nil {
			return nil
		}
		var out []string
		for n := range c.Commands() {
			out = append(out, n)
		}
		return out
	case prev == "-ch_name":
		return k.names.channelNames()
	case prev == "-sub_name":
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] == "-ch_name" {
				return k.names.subNames(fields[i+1])
			}
		}
		return k.names.allSubNames()
	case strings.HasPrefix(word, "-") || word == "":
		if c == nil {
			return nil
		}
		info, ok := c.CommandInfo(cmd)
		if !ok {
			return nil
		}
		return switches(info.IO)
	}
	return nil
}

// channelNames lists the known channel names.
func (n *names) channelNames() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, s := range n.channels {
		seen[s] = true
		out = append(out, s)
	}
	for s := range n.known {
		if !seen[s] {
			out = append(out, s)
		}
	}
	return out
}

// subNames lists the known sub-channel names of the channel named ch.
func (n *names) subNames(ch string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch = strings.TrimPrefix(ch, "#")
	seen := map[string]bool{}
	var out []string
	for sc, s := range n.subs {
		if n.channels[sc.Channel] == ch && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for s := range n.known[ch] {
		if !seen[s] {
			out = append(out, s)
		}
	}
	return out
}

func (n *names) allSubNames() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, s := range n.subs {
		out = append(out, s)
	}
	return out
}

// helpText is `help`: the session's commands with their summaries, or one
// command's IO signature and long description as the host announced them.
func helpText(c *client.Client, shell []shellCommand, name string) string {
	var sb strings.Builder
	if name != "" {
		if s, ok := findShell(shell, strings.TrimPrefix(name, "/")); ok && strings.HasPrefix(name, "/") {
			fmt.Fprintf(&sb, "/%s %s\n  %s\n", s.name, s.usage, s.summary)
			return sb.String()
		}
		info, ok := c.CommandInfo(name)
		if !ok {
			return unavailable(c, name) + "\n"
		}
		fmt.Fprintf(&sb, "%s — %s\n", info.Name, strings.TrimSpace(info.Summary))
		fmt.Fprintf(&sb, "usage:   %s %s\n", info.Name, strings.TrimSpace(info.IO))
		if sw := switches(info.IO); len(sw) > 0 {
			fmt.Fprintf(&sb, "options: %s\n", strings.Join(sw, " "))
		}
		if info.Library != "" {
			fmt.Fprintf(&sb, "from:    %s\n", info.Library)
		}
		if long := strings.TrimSpace(info.Long); long != "" {
			fmt.Fprintf(&sb, "\n%s\n", long)
		}
		return sb.String()
	}
	cmds := c.Commands()
	list := make([]string, 0, len(cmds))
	for n := range cmds {
		list = append(list, n)
	}
	sort.Strings(list)
	fmt.Fprintf(&sb, "%d commands of this session (help CMD for details):\n", len(list))
	for _, n := range list {
		info, _ := c.CommandInfo(n)
		fmt.Fprintf(&sb, "  %-22s %s\n", n, strings.TrimSpace(info.Summary))
	}
	sb.WriteString("mrcic's own commands:\n")
	for _, s := range shell {
		fmt.Fprintf(&sb, "  %-22s %s\n", "/"+s.name+" "+s.usage, s.summary)
	}
	return sb.String()
}

// learnChannels fills the completion names with the account's channels
// (ls_chs, every page) and the sub-channels of each (ls_sub_chs). It runs
// in the background at the start of a session; errors are ignored (the
// names then come from events only).
func (n *names) learnChannels(ctx context.Context, c *client.Client) {
	yes := client.TextPrompts(client.PromptFunc(func(context.Context, mrciwire.Frame) (string, error) { return "y", nil }),
		func(f mrciwire.Frame) bool { return isYesNo(mrciwire.DecodeText(f.Payload)) })
	column := func(cmd, args, col string) []string {
		if _, ok := c.CommandID(cmd); !ok {
			return nil
		}
		res, err := c.RunInteractive(ctx, cmd, args, yes)
		if err != nil || res.Err() != nil {
			return nil
		}
		return tableColumn(res.Text(), col)
	}
	for _, ch := range column("ls_chs", "", "channel_name") {
		for _, sub := range column("ls_sub_chs", "-ch_name "+client.QuoteArg(ch), "sub_channel_name") {
			n.know(ch, sub)
		}
		n.know(ch, "")
	}
}

// tableColumn returns the values of the column named col of the host's
// text tables (a header row, a row of dashes, rows of whitespace-separated
// values without spaces of their own), on every page.
func tableColumn(text, col string) []string {
	var out []string
	idx := -1
	for _, line := range strings.Split(text, "\n") {
		if i := strings.LastIndex(line, "? "); i >= 0 {
			line = line[i+2:] // a page question before the next header
		}
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case slices.Contains(fields, col):
			idx = slices.Index(fields, col)
		case strings.HasPrefix(fields[0], "---"):
		case idx >= 0 && idx < len(fields):
			out = append(out, fields[idx])
		}
	}
	return out
}
