package store

import (
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// OriginalImport is everything one import from the original host's
// database writes (issue 15). Store.ImportOriginal writes it in one
// transaction: every row or none. The importer (package importer) decides
// what goes in; the backends only insert, so a conflict with an existing
// row fails the whole import instead of overwriting anything.
type OriginalImport struct {
	// ReplaceUser, when not zero, is deleted before the users are inserted:
	// the fresh root account that the original's root replaces.
	ReplaceUser wire.UserID
	// Users keep their ids, password hashes (legacy format, see package
	// password) and creation times.
	Users []User
	// Channels keep their ids; later channels get ids above the largest.
	Channels    []Channel
	SubChannels []SubChannel
	// Members are inserted as given (UserName and DisplayName are ignored).
	Members       []Member
	ReadOnlyFlags []ReadOnlyFlag
	CommandRanks  []CommandRank
	Bans          []ImportedBan
	Certs         []Cert
	Modules       []string
	// Settings, when not nil, replaces the settings row.
	Settings *Settings
	// The logs (only with --with-logs), with their original times.
	AuthLog  []ImportedAuthAttempt
	Activity []ImportedActivity
	Debug    []ImportedDebug
	// Marks record, per source database and log, the last row imported, so
	// a later import of the same source adds only newer log rows.
	Marks []ImportMark
}

// Empty reports whether the import would write nothing.
func (b *OriginalImport) Empty() bool {
	return b.ReplaceUser.IsZero() && len(b.Users) == 0 && len(b.Channels) == 0 &&
		len(b.SubChannels) == 0 && len(b.Members) == 0 && len(b.ReadOnlyFlags) == 0 &&
		len(b.CommandRanks) == 0 && len(b.Bans) == 0 && len(b.Certs) == 0 &&
		len(b.Modules) == 0 && b.Settings == nil && len(b.AuthLog) == 0 &&
		len(b.Activity) == 0 && len(b.Debug) == 0 && len(b.Marks) == 0
}

// ImportedBan is a banned address with the time it was banned.
type ImportedBan struct {
	IP   string
	Time time.Time
}

// ImportedAuthAttempt is an authentication log row with its time.
type ImportedAuthAttempt struct {
	AuthAttempt
	Time time.Time
}

// ImportedActivity is an activity log row with its time.
type ImportedActivity struct {
	Activity
	Time time.Time
}

// ImportedDebug is a debug log row with its time.
type ImportedDebug struct {
	Entry string
	Time  time.Time
}

// ImportMark is the rowid of the last row of one log of one source database
// that was imported.
type ImportMark struct {
	Source    string // identity of the source database (its root account id)
	Log       string // source table name: auth_log, ip_history, host_debug_messages
	LastRowID int64
}
