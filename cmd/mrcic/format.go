package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	w "github.com/mrci/mrci/pkg/mrciwire"
)

// level names of channel levels 1-5.
var levelNames = [...]string{1: "owner", 2: "admin", 3: "officer", 4: "member", 5: "public"}

func levelName(l uint8) string {
	if int(l) < len(levelNames) && levelNames[l] != "" {
		return levelNames[l]
	}
	return fmt.Sprintf("level %d", l)
}

// names remembers what the events told the client about ids, so that later
// events that carry only ids can be shown with names. It is safe for
// concurrent use.
type names struct {
	mu       sync.Mutex
	channels map[uint64]string
	subs     map[w.SubChannel]string
	users    map[w.UserID]string
	sessions map[w.SessionID]string
	known    map[string]map[string]bool // channel name → sub-channel names joined
	me       *w.MyInfo                  // the last MY_INFO
}

func newNames() *names {
	return &names{channels: map[uint64]string{}, subs: map[w.SubChannel]string{},
		users: map[w.UserID]string{}, sessions: map[w.SessionID]string{}, known: map[string]map[string]bool{}}
}

func (n *names) channel(id uint64) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.channels[id]; ok {
		return "#" + s
	}
	return fmt.Sprintf("channel %d", id)
}

func (n *names) sub(sc w.SubChannel) string {
	ch := n.channel(sc.Channel)
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.subs[sc]; ok {
		return ch + "/" + s
	}
	return fmt.Sprintf("%s/%d", ch, sc.Sub)
}

func (n *names) user(id w.UserID) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.users[id]; ok {
		return s
	}
	return "user " + id.String()[:8]
}

func (n *names) peer(id w.SessionID) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.sessions[id]; ok {
		return s
	}
	return "session " + id.String()[:8]
}

func (n *names) learnMember(m w.ChMemberInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m.ChannelName != "" {
		n.channels[m.ChannelID] = m.ChannelName
	}
	if m.UserName != "" {
		n.users[m.UserID] = m.UserName
	}
}

func (n *names) learnPeer(p w.PeerInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.UserName != "" {
		n.users[p.UserID] = p.UserName
		n.sessions[p.SessionID] = p.UserName
	}
}

// SetChannel records a channel's name (from ls_chs or /join).
func (n *names) setChannel(id uint64, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.channels[id] = name
}

// know records a channel and sub-channel name pair for completion.
func (n *names) know(ch, sub string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.known[ch] == nil {
		n.known[ch] = map[string]bool{}
	}
	if sub != "" {
		n.known[ch][sub] = true
	}
}

// SetSub records a sub-channel's name.
func (n *names) setSub(sc w.SubChannel, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.subs[sc] = name
}

// asyncLine is one async frame rendered for people.
type asyncLine struct {
	text string
	kind lineKind
}

// lineKind chooses the colour of an event line.
type lineKind int

const (
	kindInfo   lineKind = iota // channel and peer events
	kindChat                   // casts and p2p messages
	kindError                  // ERR notices
	kindHidden                 // not shown (set-up and bookkeeping frames)
)

// formatAsync renders an async frame as one or more lines without a final
// newline. Frames the user need not see (ready, command table,
// keep-alive) are kindHidden.
func (n *names) formatAsync(f w.Frame) asyncLine {
	id := w.AsyncID(f.Cmd)
	p := f.Payload
	switch id {
	case w.AsyncRdy, w.AsyncAddCmd, w.AsyncRmCmd, w.AsyncKeepAlive:
		return asyncLine{kind: kindHidden}
	case w.AsyncSysMsg:
		switch f.Type {
		case w.TypeText, w.TypeBigText:
			return asyncLine{text: "* " + strings.TrimSpace(w.DecodeText(p))}
		case w.TypeErr:
			return asyncLine{text: "! " + strings.TrimSpace(w.DecodeText(p)), kind: kindError}
		case w.TypeMyInfo:
			mi, err := w.ParseMyInfo(p)
			if err != nil {
				break
			}
			return n.myInfo(mi)
		}
	case w.AsyncCast, w.AsyncLimitedCast, w.AsyncToPeer:
		return n.formatData(f, "")
	case w.AsyncP2P:
		return n.formatP2P(f)
	case w.AsyncUserDeleted:
		return asyncLine{text: "* the account you were logged in as was deleted"}
	case w.AsyncNewChMember, w.AsyncInvitedToCh, w.AsyncInviteAccepted:
		m, err := w.ParseChMemberInfo(p)
		if err != nil {
			break
		}
		n.learnMember(m)
		who, ch := m.UserName, "#"+m.ChannelName
		switch {
		case id == w.AsyncInvitedToCh:
			return asyncLine{text: fmt.Sprintf("* %s was invited to %s", who, ch)}
		case id == w.AsyncInviteAccepted:
			return asyncLine{text: fmt.Sprintf("* %s joined %s", who, ch)}
		case m.Level == 1 && m.ChannelName != "":
			return asyncLine{text: fmt.Sprintf("* channel %s created, owner %s", ch, who)}
		default:
			return asyncLine{text: fmt.Sprintf("* %s is a new %s of %s", who, levelName(m.Level), ch)}
		}
	case w.AsyncDelCh:
		if len(p) >= 8 {
			return asyncLine{text: fmt.Sprintf("* %s was deleted", n.channel(binary.LittleEndian.Uint64(p)))}
		}
	case w.AsyncRenameCh:
		if len(p) >= 8 {
			ch := binary.LittleEndian.Uint64(p)
			old := n.channel(ch)
			name := cstr16(p[8:])
			n.setChannel(ch, name)
			return asyncLine{text: fmt.Sprintf("* %s renamed to #%s", old, name)}
		}
	case w.AsyncRmChMember, w.AsyncMemLevelChanged:
		if len(p) >= 40 {
			ch := binary.LittleEndian.Uint64(p)
			var u w.UserID
			copy(u[:], p[8:40])
			if id == w.AsyncRmChMember {
				return asyncLine{text: fmt.Sprintf("* %s left %s", n.user(u), n.channel(ch))}
			}
			if len(p) >= 41 {
				return asyncLine{text: fmt.Sprintf("* %s is now %s of %s", n.user(u), levelName(p[40]), n.channel(ch))}
			}
		}
	case w.AsyncNewSubCh, w.AsyncRmSubCh, w.AsyncRenameSubCh, w.AsyncSubChLevelChg, w.AsyncAddRdonly, w.AsyncRmRdonly:
		if len(p) >= 9 {
			return n.formatSub(id, p)
		}
	case w.AsyncUserRenamed, w.AsyncDispRenamed, w.AsyncUserRankChanged:
		return asyncLine{kind: kindHidden} // followed by MY_INFO
	}
	return asyncLine{text: fmt.Sprintf("* %s: %s, %d bytes %s", id, f.Type, len(p), hexPreview(p))}
}

// myInfo renders a MY_INFO: who you are after a login, what changed after
// that.
func (n *names) myInfo(mi w.MyInfo) asyncLine {
	n.mu.Lock()
	prev := n.me
	n.me = &mi
	n.mu.Unlock()
	if mi.Peer.UserID == (w.UserID{}) {
		return asyncLine{text: "* you are not logged in"}
	}
	n.learnPeer(mi.Peer)
	if prev == nil || prev.Peer.UserID != mi.Peer.UserID {
		return asyncLine{text: fmt.Sprintf("* you are %s, rank %d", userLabel(mi), mi.Rank)}
	}
	var changes []string
	if prev.Peer.UserName != mi.Peer.UserName {
		changes = append(changes, fmt.Sprintf("user name %s → %s", prev.Peer.UserName, mi.Peer.UserName))
	}
	if prev.Peer.DisplayName != mi.Peer.DisplayName {
		changes = append(changes, fmt.Sprintf("display name %q → %q", prev.Peer.DisplayName, mi.Peer.DisplayName))
	}
	if prev.Rank != mi.Rank {
		changes = append(changes, fmt.Sprintf("rank %d → %d", prev.Rank, mi.Rank))
	}
	if prev.Email != mi.Email {
		changes = append(changes, fmt.Sprintf("email %s → %s", prev.Email, mi.Email))
	}
	if prev.EmailVerified != mi.EmailVerified {
		changes = append(changes, fmt.Sprintf("email verified: %v", mi.EmailVerified))
	}
	if len(changes) == 0 {
		return asyncLine{kind: kindHidden}
	}
	return asyncLine{text: "* your account changed: " + strings.Join(changes, ", ")}
}

// formatSub renders the sub-channel events: [8 ch][1 sub][details].
func (n *names) formatSub(id w.AsyncID, p []byte) asyncLine {
	sc := w.SubChannel{Channel: binary.LittleEndian.Uint64(p), Sub: p[8]}
	rest := p[9:]
	switch id {
	case w.AsyncNewSubCh:
		name := ""
		if len(rest) >= 2 {
			name = cstr16(rest[2:])
			n.setSub(sc, name)
		}
		return asyncLine{text: fmt.Sprintf("* sub-channel %s created", n.sub(sc))}
	case w.AsyncRmSubCh:
		return asyncLine{text: fmt.Sprintf("* sub-channel %s removed", n.sub(sc))}
	case w.AsyncRenameSubCh:
		old := n.sub(sc)
		name := cstr16(rest)
		n.setSub(sc, name)
		return asyncLine{text: fmt.Sprintf("* sub-channel %s renamed to %s", old, name)}
	case w.AsyncSubChLevelChg:
		if len(rest) > 0 {
			return asyncLine{text: fmt.Sprintf("* sub-channel %s is now open to %s and better", n.sub(sc), levelName(rest[0]))}
		}
		return asyncLine{text: fmt.Sprintf("* sub-channel %s changed its level", n.sub(sc))}
	case w.AsyncAddRdonly, w.AsyncRmRdonly:
		what := "read-only"
		if id == w.AsyncRmRdonly {
			what = "writable again"
		}
		if len(rest) > 0 {
			return asyncLine{text: fmt.Sprintf("* sub-channel %s is %s for %s", n.sub(sc), what, levelName(rest[0]))}
		}
		return asyncLine{text: fmt.Sprintf("* sub-channel %s is %s", n.sub(sc), what)}
	}
	return asyncLine{kind: kindHidden}
}

// formatData renders a cast, limited cast or peer frame by its type.
func (n *names) formatData(f w.Frame, from string) asyncLine {
	p := f.Payload
	prefix := "<cast> "
	if from != "" {
		prefix = "<" + from + "> "
	}
	switch f.Type {
	case w.TypeText, w.TypeBigText:
		return asyncLine{text: prefix + strings.TrimRight(w.DecodeText(p), "\r\n"), kind: kindChat}
	case w.TypeErr:
		return asyncLine{text: prefix + strings.TrimRight(w.DecodeText(p), "\r\n"), kind: kindError}
	case w.TypePeerInfo:
		pi, err := w.ParsePeerInfo(p)
		if err == nil {
			n.learnPeer(pi)
			return asyncLine{text: fmt.Sprintf("* %s is here (%s, session %s)", peerLabel(pi), pi.AppName, pi.SessionID.String()[:8])}
		}
	case w.TypePeerStat:
		ps, err := w.ParsePeerStat(p)
		if err == nil {
			if ps.Disconnected {
				return asyncLine{text: fmt.Sprintf("* %s left", n.peer(ps.SessionID))}
			}
			var open []string
			for _, sc := range ps.Open {
				if sc.Channel != 0 {
					open = append(open, n.sub(sc))
				}
			}
			if len(open) == 0 {
				return asyncLine{text: fmt.Sprintf("* %s left the sub-channels", n.peer(ps.SessionID))}
			}
			return asyncLine{text: fmt.Sprintf("* %s joined (%s)", n.peer(ps.SessionID), strings.Join(open, ", "))}
		}
	case w.TypePingPeers:
		return asyncLine{kind: kindHidden}
	}
	return asyncLine{text: fmt.Sprintf("%s%s, %d bytes %s", prefix, f.Type, len(p), hexPreview(p)), kind: kindChat}
}

// formatP2P renders ASYNC_P2P: requests, opens, closes and data from peers.
func (n *names) formatP2P(f w.Frame) asyncLine {
	p := f.Payload
	switch f.Type {
	case w.TypeP2PRequest:
		pi, err := w.ParsePeerInfo(p)
		if err == nil {
			n.learnPeer(pi)
			return asyncLine{text: fmt.Sprintf("* %s asks for a p2p link (session %s; accept with: p2p_open -id %s)", peerLabel(pi), pi.SessionID, pi.SessionID)}
		}
	case w.TypeP2POpen, w.TypeP2PClose:
		if len(p) >= 28 {
			var sid w.SessionID
			copy(sid[:], p[:28])
			if f.Type == w.TypeP2POpen {
				return asyncLine{text: fmt.Sprintf("* p2p link with %s is open", n.peer(sid))}
			}
			return asyncLine{text: fmt.Sprintf("* p2p link with %s closed", n.peer(sid))}
		}
	default:
		if len(p) >= 28 {
			var sid w.SessionID
			copy(sid[:], p[:28])
			return n.formatData(w.Frame{Type: f.Type, Payload: p[28:]}, "p2p "+n.peer(sid))
		}
	}
	return asyncLine{text: fmt.Sprintf("* ASYNC_P2P: %s, %d bytes %s", f.Type, len(p), hexPreview(p))}
}

// hexPreview shows up to 16 bytes in hex.
func hexPreview(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if len(p) > 16 {
		return hex.EncodeToString(p[:16]) + "…"
	}
	return hex.EncodeToString(p)
}

// cstr16 reads a null-terminated UTF-16LE string.
func cstr16(b []byte) string {
	for i := 0; i+1 < len(b); i += 2 {
		if b[i] == 0 && b[i+1] == 0 {
			return w.DecodeText(b[:i])
		}
	}
	return w.DecodeText(b[:len(b)&^1])
}

func peerLabel(p w.PeerInfo) string {
	if p.DisplayName == "" || p.DisplayName == p.UserName {
		return p.UserName
	}
	return p.UserName + " (" + p.DisplayName + ")"
}

// userLabel is "name" or "name (display name)".
func userLabel(mi w.MyInfo) string { return peerLabel(mi.Peer) }
