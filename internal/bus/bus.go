// Package bus routes async commands between sessions. It holds the routing
// table of ids 1..44 (table.go) and indexes of the live sessions by id, by
// logged-in user, by open sub-channel and by channel membership, so that an
// async reaches only the sessions it concerns: a cast to 10 receivers costs
// O(10) whatever the number of sessions on the host.
package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// Member is a session as the bus sees it. Both delivery methods return at
// once; a receiver that is falling behind returns a Stall, and Publish then
// makes the sender wait (bounded) after the fan-out, outside every lock.
// Everything one sender delivers to a member reaches that member's client
// in the order it was delivered.
type Member interface {
	// SessionID identifies the session.
	SessionID() wire.SessionID
	// Deliver hands an async message to the session's own loop.
	Deliver(m *Message) Stall
	// DeliverFrame queues an already encoded frame for the session's client.
	DeliverFrame(frame []byte) Stall
}

// Stall asks a sender to slow down for a receiver that is behind: wait
// until C is closed (the receiver caught up) or For has passed. The zero
// Stall asks for nothing.
type Stall struct {
	C   <-chan struct{}
	For time.Duration
}

// wait waits until the receiver catches up or st.For has passed.
func (st Stall) wait() {
	t := time.NewTimer(st.For)
	defer t.Stop()
	select {
	case <-st.C:
	case <-t.C:
	}
}

// Message is one async command in flight. Data is owned by the message and
// never modified after Publish; receivers must not modify it either.
type Message struct {
	ID   wire.AsyncID
	Data []byte
	From wire.SessionID
	// Mode is the IPC type it was emitted with (PRIV_IPC, PUB_IPC or
	// PUB_IPC_WITH_FEEDBACK), or 0 for host-originated deliveries.
	Mode wire.TypeID
}

// Errors returned by Emit for asyncs the routing rules refuse.
var (
	ErrUnknownID  = errors.New("bus: undefined async id")
	ErrRestricted = errors.New("bus: restricted async id")
	ErrNoAudience = errors.New("bus: async id no session acts on with this IPC mode")
	ErrBadLength  = errors.New("bus: async payload has the wrong length")
	ErrBadMode    = errors.New("bus: not an IPC mode")
)

// set is a set of sessions that iterates as fast as a slice: casts walk
// it for every message, while joins and leaves are comparatively rare.
type set struct {
	list []*entry
	pos  map[*entry]int
}

func (s *set) add(e *entry) {
	if _, ok := s.pos[e]; ok {
		return
	}
	if s.pos == nil {
		s.pos = make(map[*entry]int)
	}
	s.pos[e] = len(s.list)
	s.list = append(s.list, e)
}

func (s *set) remove(e *entry) {
	i, ok := s.pos[e]
	if !ok {
		return
	}
	last := len(s.list) - 1
	s.list[i] = s.list[last]
	s.pos[s.list[i]] = i
	s.list[last] = nil
	s.list = s.list[:last]
	delete(s.pos, e)
}

// members returns the set's sessions (nil-safe); callers must not keep it.
func (s *set) members() []*entry {
	if s == nil {
		return nil
	}
	return s.list
}

type entry struct {
	id       wire.SessionID
	m        Member
	user     wire.UserID
	open     wire.SubChannelList
	channels []uint64
}

// Bus is the in-process router. The zero value is not usable; use New.
type Bus struct {
	mu        sync.RWMutex
	sessions  map[wire.SessionID]*entry
	byUser    map[wire.UserID]*set
	bySub     map[wire.SubChannel]*set
	byChannel map[uint64]*set // sessions whose channel list holds the id
	openCh    map[uint64]*set // sessions with a sub-channel of the id open

	// hooks is copied on write so that Publish reads it without a lock.
	hooks atomic.Pointer[hookTable]
	// remote is the cluster transport (remote.go); nil on a single host.
	remote Remote

	delivered atomic.Uint64
	stalled   atomic.Uint64
}

type hookTable [wire.MaxAsyncID + 1][]func(*Message)

// New returns an empty bus.
func New() *Bus {
	return &Bus{
		sessions:  make(map[wire.SessionID]*entry),
		byUser:    make(map[wire.UserID]*set),
		bySub:     make(map[wire.SubChannel]*set),
		byChannel: make(map[uint64]*set),
		openCh:    make(map[uint64]*set),
	}
}

// Hook registers fn to run for every published async of the given id, in
// the publishing goroutine before fan-out and outside the bus's lock (a
// hook may do I/O: only its publisher waits for it, other deliveries go
// on). The host uses hooks for host-wide effects such as reloading cached
// command ranks.
func (b *Bus) Hook(id wire.AsyncID, fn func(*Message)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var next hookTable
	if cur := b.hooks.Load(); cur != nil {
		next = *cur
	}
	next[id] = append(next[id][:len(next[id]):len(next[id])], fn)
	b.hooks.Store(&next)
}

// Delivered returns how many deliveries the bus has made in total.
func (b *Bus) Delivered() uint64 { return b.delivered.Load() }

// Stalled returns how many times a publisher waited for a receiver that
// was behind.
func (b *Bus) Stalled() uint64 { return b.stalled.Load() }

// Len returns the number of joined sessions.
func (b *Bus) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.sessions)
}

// Join adds a session. Joining twice is a no-op.
func (b *Bus) Join(m Member) {
	var in *interest
	if b.remote != nil {
		in = new(interest)
	}
	b.mu.Lock()
	if _, ok := b.sessions[m.SessionID()]; !ok {
		b.sessions[m.SessionID()] = &entry{id: m.SessionID(), m: m}
		if in != nil {
			in.add(Key{Kind: KeySession, Session: m.SessionID()}, 1)
		}
	}
	b.mu.Unlock()
	if in != nil {
		b.flushInterest(*in)
	}
}

// Leave removes a session from the bus and every index.
func (b *Bus) Leave(id wire.SessionID) {
	var in *interest
	if b.remote != nil {
		in = new(interest)
	}
	b.mu.Lock()
	e, ok := b.sessions[id]
	if ok {
		b.setUserLocked(e, wire.UserID{}, in)
		b.setOpenLocked(e, wire.SubChannelList{}, in)
		b.setChannelsLocked(e, nil, in)
		delete(b.sessions, id)
		if in != nil {
			in.add(Key{Kind: KeySession, Session: id}, -1)
		}
	}
	b.mu.Unlock()
	if in != nil {
		b.flushInterest(*in)
	}
}

// SetUser records the user a session is logged in as (zero: nobody).
func (b *Bus) SetUser(id wire.SessionID, user wire.UserID) {
	b.update(id, func(e *entry, in *interest) { b.setUserLocked(e, user, in) })
}

// SetOpen records a session's open sub-channel list.
func (b *Bus) SetOpen(id wire.SessionID, open wire.SubChannelList) {
	b.update(id, func(e *entry, in *interest) { b.setOpenLocked(e, open, in) })
}

// SetChannels records the channels a session's user belongs to.
func (b *Bus) SetChannels(id wire.SessionID, channels []uint64) {
	b.update(id, func(e *entry, in *interest) { b.setChannelsLocked(e, channels, in) })
}

// update runs fn on a joined session's entry under the lock, and hands the
// interest changes it recorded to the remote (if any) after unlocking.
func (b *Bus) update(id wire.SessionID, fn func(*entry, *interest)) {
	var in *interest
	if b.remote != nil {
		in = new(interest)
	}
	b.mu.Lock()
	if e, ok := b.sessions[id]; ok {
		fn(e, in)
	}
	b.mu.Unlock()
	if in != nil {
		b.flushInterest(*in)
	}
}

func add[K comparable](idx map[K]*set, k K, e *entry) {
	s := idx[k]
	if s == nil {
		s = &set{}
		idx[k] = s
	}
	s.add(e)
}

func remove[K comparable](idx map[K]*set, k K, e *entry) {
	if s := idx[k]; s != nil {
		s.remove(e)
		if len(s.list) == 0 {
			delete(idx, k)
		}
	}
}

// The set*Locked functions update the indexes of one session; with a
// non-nil in they also record the session's interest changes (every key
// it stops needing, then every key it starts needing).

func (b *Bus) setUserLocked(e *entry, user wire.UserID, in *interest) {
	if user == e.user {
		return
	}
	if !e.user.IsZero() {
		remove(b.byUser, e.user, e)
		if in != nil {
			in.add(Key{Kind: KeyUser, User: e.user}, -1)
		}
	}
	e.user = user
	if !user.IsZero() {
		add(b.byUser, user, e)
		if in != nil {
			in.add(Key{Kind: KeyUser, User: user}, 1)
		}
	}
}

func (b *Bus) setOpenLocked(e *entry, open wire.SubChannelList, in *interest) {
	for _, s := range e.open.Entries() {
		remove(b.bySub, s, e)
		remove(b.openCh, s.Channel, e)
		if in != nil {
			in.add(Key{Kind: KeySub, Sub: s}, -1)
			in.add(Key{Kind: KeyChannel, Sub: wire.SubChannel{Channel: s.Channel}}, -1)
		}
	}
	e.open = open
	for _, s := range open.Entries() {
		add(b.bySub, s, e)
		add(b.openCh, s.Channel, e)
		if in != nil {
			in.add(Key{Kind: KeySub, Sub: s}, 1)
			in.add(Key{Kind: KeyChannel, Sub: wire.SubChannel{Channel: s.Channel}}, 1)
		}
	}
}

func (b *Bus) setChannelsLocked(e *entry, channels []uint64, in *interest) {
	for _, c := range e.channels {
		remove(b.byChannel, c, e)
		if in != nil {
			in.add(Key{Kind: KeyChannel, Sub: wire.SubChannel{Channel: c}}, -1)
		}
	}
	e.channels = append([]uint64(nil), channels...)
	for _, c := range e.channels {
		add(b.byChannel, c, e)
		if in != nil {
			in.add(Key{Kind: KeyChannel, Sub: wire.SubChannel{Channel: c}}, 1)
		}
	}
}

// Emit routes an async command emitted by a module of session from with an
// IPC mode, enforcing the seed's data-flow rules: undefined and 'none' ids
// are refused, restricted ids are refused, privileged ids are refused unless
// trusted (the host's own module), a private id acts only when sent with
// PRIV_IPC and a public id only with PUB_IPC / PUB_IPC_WITH_FEEDBACK.
// Payload lengths are checked as commands.md §15.2 says. A refused async
// returns an error saying why (callers log it to the debug log).
//
// Emit delivers to the other sessions only. It returns the message, and
// the emitting session acts on it itself, in order with its command's
// output, when mode is PRIV_IPC or PUB_IPC_WITH_FEEDBACK. Emit takes
// ownership of data: the caller must not modify it afterwards.
func (b *Bus) Emit(from wire.SessionID, mode wire.TypeID, id wire.AsyncID, data []byte, trusted bool) (*Message, error) {
	if !mode.IsIPC() {
		return nil, fmt.Errorf("%w: %v", ErrBadMode, mode)
	}
	r, ok := Lookup(id)
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownID, id)
	}
	switch {
	case r.Restricted:
		return nil, fmt.Errorf("%w: %v", ErrRestricted, id)
	case r.Privileged && !trusted:
		return nil, fmt.Errorf("%w: %v is reserved for the host's own commands", ErrRestricted, id)
	case r.Audience == None,
		r.Audience == Private && mode != wire.TypePrivIPC,
		r.Audience == Public && mode == wire.TypePrivIPC:
		return nil, fmt.Errorf("%w: %v with %v", ErrNoAudience, id, mode)
	case r.ExactLen > 0 && len(data) != r.ExactLen,
		r.MinLen > 0 && len(data) < r.MinLen:
		return nil, fmt.Errorf("%w: %v with %d bytes", ErrBadLength, id, len(data))
	}
	msg := &Message{ID: id, Data: data, From: from, Mode: mode}
	if mode != wire.TypePrivIPC {
		b.Publish(msg, false)
	}
	return msg, nil
}

// Publish delivers a host-originated or already checked message to the
// sessions its route targets; the emitting session (msg.From) is included
// only when self is true. Private ids go to msg.From only. The message's
// hooks run first, outside the lock. When receivers are behind, Publish
// returns after the fan-out once they caught up or a few milliseconds
// passed (the sender's stall); it never waits holding a lock.
func (b *Bus) Publish(msg *Message, self bool) {
	if hs := b.hooks.Load(); hs != nil {
		for _, h := range hs[msg.ID] {
			h(msg)
		}
	}
	var p fanout
	b.mu.RLock()
	b.route(&p, msg, self, Scope{})
	b.mu.RUnlock()
	b.delivered.Add(p.n)
	if b.remote != nil && !p.local && Forwarded(Routes[msg.ID]) {
		b.remote.Forward(msg)
	}
	if p.stall.C != nil {
		b.stalled.Add(1)
		p.stall.wait()
	}
}

// fanout collects what one Publish did: the deliveries made and the
// longest stall a receiver asked for (the receiver furthest behind; the
// sender waits for that one only, so one publish waits at most a few ms
// however many receivers are behind).
type fanout struct {
	n     uint64
	stall Stall
	local bool // a session-targeted message found its session on this node
}

func (p *fanout) note(st Stall) {
	p.n++
	if st.C != nil && (p.stall.C == nil || st.For > p.stall.For) {
		p.stall = st
	}
}

func (b *Bus) route(p *fanout, msg *Message, self bool, sc Scope) {
	r := Routes[msg.ID]
	if r.Audience == Private || r.Target == ToSelf {
		if e, ok := b.sessions[msg.From]; ok {
			p.note(e.m.Deliver(msg))
		}
		return
	}
	d := msg.Data
	switch r.Target {
	case ToAll:
		for _, e := range b.sessions {
			deliverUnlessSelf(p, e, msg, self)
		}
	case ToUser:
		var u wire.UserID
		copy(u[:], d)
		for _, e := range b.byUser[u].members() {
			deliverUnlessSelf(p, e, msg, self)
		}
	case ToSession:
		var sid wire.SessionID
		copy(sid[:], d)
		if e, ok := b.sessions[sid]; ok {
			p.local = true
			deliverUnlessSelf(p, e, msg, self)
		}
	case ToSubChannel:
		sc, _ := wire.ParseSubChannel(d)
		for _, e := range b.bySub[sc].members() {
			deliverUnlessSelf(p, e, msg, self)
		}
	case ToSubChannels:
		if msg.ID == wire.AsyncCast {
			b.cast(p, msg, self, sc.Entry)
			return
		}
		b.forEachInList(d, msg, self, sc.Entry, func(e *entry) { p.note(e.m.Deliver(msg)) })
	case ToChannel:
		b.toChannel(p, msg, self, sc.Part)
	}
}

func deliverUnlessSelf(p *fanout, e *entry, msg *Message, self bool) {
	if !self && e.id == msg.From {
		return
	}
	p.note(e.m.Deliver(msg))
}

// forEachInList calls fn once for every session (other than the sender
// unless self) that has an entry of the 54-byte list at the start of data
// open; with only > 0, only for those reached through entry only-1 (see
// Scope.Entry).
func (b *Bus) forEachInList(data []byte, msg *Message, self bool, only int, fn func(*entry)) {
	list, err := wire.ParseSubChannelList(data)
	if err != nil {
		return
	}
	entries := list.Entries()
	for i, sc := range entries {
		if only > 0 && i != only-1 {
			continue
		}
		for _, e := range b.bySub[sc].members() {
			if !self && e.id == msg.From {
				continue
			}
			if i > 0 && openAny(&e.open, entries[:i]) {
				continue // already reached through an earlier entry
			}
			fn(e)
		}
	}
}

// openAny reports whether any of scs is in the open list.
func openAny(open *wire.SubChannelList, scs []wire.SubChannel) bool {
	for _, sc := range scs {
		if open.Contains(sc) {
			return true
		}
	}
	return false
}

// cast encodes the cast frame once and queues the same bytes for every
// receiver: [type][cmd 4][branch 0][len][payload] (seed/async.md ASYNC_CAST).
func (b *Bus) cast(p *fanout, msg *Message, self bool, only int) {
	payload := msg.Data[wire.SubChannelListLen+1:]
	if len(payload) > wire.MaxPayload {
		return
	}
	frame := wire.AppendFrameHeader(make([]byte, 0, wire.FrameHeaderLen+len(payload)),
		wire.TypeID(msg.Data[wire.SubChannelListLen]), uint16(wire.AsyncCast), 0, len(payload))
	frame = append(frame, payload...)
	b.forEachInList(msg.Data, msg, self, only, func(e *entry) { p.note(e.m.DeliverFrame(frame)) })
}

// toChannel delivers a channel event to the member sessions of the channel,
// the sessions with one of its sub-channels open, and the sessions of the
// user the event names (bytes 8..40 of member events), once each; part
// narrows that to one side (Scope.Part).
func (b *Bus) toChannel(p *fanout, msg *Message, self bool, part Part) {
	ch := binary.LittleEndian.Uint64(msg.Data)
	seen := make(map[*entry]struct{})
	visit := func(s *set, deliver bool) {
		for _, e := range s.members() {
			if _, dup := seen[e]; dup {
				continue
			}
			seen[e] = struct{}{}
			if deliver {
				deliverUnlessSelf(p, e, msg, self)
			}
		}
	}
	visit(b.byChannel[ch], part != PartNamed)
	visit(b.openCh[ch], part != PartNamed)
	if u, ok := NamedUser(msg); ok && part != PartChannel {
		visit(b.byUser[u], true)
	}
}

// NamedUser returns the user a channel member event names (bytes 8..40 of
// NEW_CH_MEMBER, INVITED_TO_CH, INVITE_ACCEPTED, RM_CH_MEMBER and
// MEM_LEVEL_CHANGED), whose sessions receive it besides the channel's.
func NamedUser(msg *Message) (wire.UserID, bool) {
	var u wire.UserID
	switch msg.ID {
	case wire.AsyncNewChMember, wire.AsyncInvitedToCh, wire.AsyncInviteAccepted,
		wire.AsyncRmChMember, wire.AsyncMemLevelChanged:
		if len(msg.Data) >= 8+wire.UserIDLen {
			copy(u[:], msg.Data[8:])
			return u, true
		}
	}
	return u, false
}

// SendTo delivers a host-originated async to one session, if it is joined.
// It reports whether the session was found. It never waits: the answers
// it carries (PEER_INFO to a ping, CLOSE_P2P at logout) are sent from the
// loops of receivers.
//
// In a cluster a session that is not on this node is reached through the
// other nodes; SendTo then reports false (whether it exists is not known).
func (b *Bus) SendTo(to wire.SessionID, msg *Message) bool {
	if b.SendLocal(to, msg) {
		return true
	}
	if b.remote != nil {
		b.remote.SendTo(to, msg)
	}
	return false
}

// SessionsOf returns the ids of the sessions logged in as a user.
func (b *Bus) SessionsOf(user wire.UserID) []wire.SessionID {
	b.mu.RLock()
	defer b.mu.RUnlock()
	members := b.byUser[user].members()
	out := make([]wire.SessionID, 0, len(members))
	for _, e := range members {
		out = append(out, e.id)
	}
	return out
}
