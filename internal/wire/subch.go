package wire

import "encoding/binary"

// Sizes of the open sub-channel list (seed/async.md §5.3).
const (
	SubChannelLen      = 9
	MaxOpenSubChannels = 6
	SubChannelListLen  = SubChannelLen * MaxOpenSubChannels
)

// SubChannel addresses one sub-channel: a channel id (never 0 for a valid
// entry) and a sub id.
type SubChannel struct {
	Channel uint64
	Sub     uint8
}

// Valid reports whether the entry names a sub-channel (channel id not 0).
func (s SubChannel) Valid() bool { return s.Channel != 0 }

// SubChannelList is the fixed 6-slot open sub-channel list. Empty slots are
// zero and may be anywhere in the list.
type SubChannelList [MaxOpenSubChannels]SubChannel

// Contains reports whether s is one of the list's valid entries.
func (l *SubChannelList) Contains(s SubChannel) bool {
	if !s.Valid() {
		return false
	}
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// Add puts s into the first empty slot. It reports false if s is invalid,
// already present or the list is full.
func (l *SubChannelList) Add(s SubChannel) bool {
	if !s.Valid() || l.Contains(s) {
		return false
	}
	for i := range l {
		if !l[i].Valid() {
			l[i] = s
			return true
		}
	}
	return false
}

// Remove clears s from the list and reports whether it was present.
func (l *SubChannelList) Remove(s SubChannel) bool {
	for i := range l {
		if s.Valid() && l[i] == s {
			l[i] = SubChannel{}
			return true
		}
	}
	return false
}

// RemoveChannel clears every entry of a channel and returns how many it cleared.
func (l *SubChannelList) RemoveChannel(ch uint64) int {
	n := 0
	for i := range l {
		if ch != 0 && l[i].Channel == ch {
			l[i] = SubChannel{}
			n++
		}
	}
	return n
}

// Len returns the number of valid entries.
func (l *SubChannelList) Len() int {
	n := 0
	for _, e := range l {
		if e.Valid() {
			n++
		}
	}
	return n
}

// Entries returns the valid entries in slot order.
func (l *SubChannelList) Entries() []SubChannel {
	out := make([]SubChannel, 0, MaxOpenSubChannels)
	for _, e := range l {
		if e.Valid() {
			out = append(out, e)
		}
	}
	return out
}

// Overlaps reports whether the two lists share a valid entry.
func (l *SubChannelList) Overlaps(o *SubChannelList) bool {
	for _, e := range l {
		if o.Contains(e) {
			return true
		}
	}
	return false
}

// Append appends the 54-byte encoding of the list to dst.
func (l *SubChannelList) Append(dst []byte) []byte {
	for _, e := range l {
		if !e.Valid() {
			e = SubChannel{}
		}
		dst = binary.LittleEndian.AppendUint64(dst, e.Channel)
		dst = append(dst, e.Sub)
	}
	return dst
}

// Marshal returns the 54-byte encoding of the list.
func (l *SubChannelList) Marshal() []byte { return l.Append(make([]byte, 0, SubChannelListLen)) }

// ParseSubChannelList decodes the first 54 bytes of b. Slots with channel id
// 0 are empty whatever their sub id byte says.
func ParseSubChannelList(b []byte) (SubChannelList, error) {
	var l SubChannelList
	if len(b) < SubChannelListLen {
		return l, errShort("sub-channel list", len(b), SubChannelListLen)
	}
	for i := range l {
		e := SubChannel{Channel: binary.LittleEndian.Uint64(b[i*SubChannelLen:]), Sub: b[i*SubChannelLen+8]}
		if e.Valid() {
			l[i] = e
		}
	}
	return l, nil
}

// AppendSubChannel appends the 9-byte encoding of one entry.
func AppendSubChannel(dst []byte, s SubChannel) []byte {
	return append(binary.LittleEndian.AppendUint64(dst, s.Channel), s.Sub)
}

// ParseSubChannel decodes a 9-byte entry from the start of b.
func ParseSubChannel(b []byte) (SubChannel, error) {
	if len(b) < SubChannelLen {
		return SubChannel{}, errShort("sub-channel", len(b), SubChannelLen)
	}
	return SubChannel{Channel: binary.LittleEndian.Uint64(b), Sub: b[8]}, nil
}
