package wire

import "encoding/hex"

// SessionIDLen is the size of a session id on the wire.
const SessionIDLen = 28

// UserIDLen is the size of a user id on the wire.
const UserIDLen = 32

// SessionID identifies one client connection; it changes on every reconnect.
type SessionID [SessionIDLen]byte

// UserID identifies one account; it never changes, even across renames.
type UserID [UserIDLen]byte

// String returns the lower-case hex form used by the text commands.
func (id SessionID) String() string { return hex.EncodeToString(id[:]) }

// String returns the lower-case hex form used by the text commands.
func (id UserID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether the id is all zero (nobody logged in).
func (id UserID) IsZero() bool { return id == UserID{} }

// IsZero reports whether the id is all zero.
func (id SessionID) IsZero() bool { return id == SessionID{} }
