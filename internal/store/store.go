// Package store is the host's persistence layer: accounts, logs, settings,
// bans, certificates, modules, command ranks and channels. Store is the
// interface every backend implements; the SQLite backend (package
// store/sqlite) is the embedded default and the PostgreSQL backend (package
// store/postgres) serves clusters. Both pass the conformance suite in
// package store/storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// Errors returned by every backend. Callers test them with errors.Is.
var (
	// ErrNotFound means the addressed row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrNameTaken means a unique name (user, channel, sub-channel) is in use.
	ErrNameTaken = errors.New("store: name already in use")
	// ErrEmailTaken means the e-mail address belongs to another account.
	ErrEmailTaken = errors.New("store: email already in use")
	// ErrExists means an identical row (ban, rank, module, flag, member) exists.
	ErrExists = errors.New("store: already exists")
	// ErrLimit means a per-channel limit (sub-channels) was reached.
	ErrLimit = errors.New("store: limit reached")
	// ErrUnavailable means the database did not answer (unreachable,
	// connection lost, or no answer within the call's deadline); the call
	// may succeed when retried later. Only network backends return it.
	ErrUnavailable = errors.New("store: database unavailable")
)

// InternalModule is the module name under which the host's own commands are
// ranked in command_ranks (the original defines, but never uses, this alias).
const InternalModule = ":internal_mod"

// User is one account row.
type User struct {
	ID             wire.UserID
	Name           string
	Email          string // empty when the account has none (root at first start)
	DisplayName    string
	PasswordHash   string // encoded by package password
	Rank           uint32
	Locked         bool
	NewPasswordReq bool
	NewNameReq     bool
	EmailVerified  bool
	Created        time.Time // UTC
}

// UserUpdate changes the non-nil fields of one account.
type UserUpdate struct {
	Name           *string
	Email          *string // "" stores NULL
	DisplayName    *string
	PasswordHash   *string
	Rank           *uint32
	Locked         *bool
	NewPasswordReq *bool
	NewNameReq     *bool
	EmailVerified  *bool
}

// AuthAttempt is one row of the authentication log.
type AuthAttempt struct {
	IP               string
	UserID           wire.UserID
	AuthAttempt      bool
	RecoverAttempt   bool
	CountToThreshold bool
	Accepted         bool
}

// Activity is one row of the activity (IP history) log.
type Activity struct {
	IP        string
	SessionID wire.SessionID
	ClientApp string
	Entry     string // "Session Active" or "Session Ended"
}

// Settings is the single host_settings row.
type Settings struct {
	ListenAddress            string // default "127.0.0.1"
	ListenPort               uint16 // default 35516
	AutoBanThreshold         uint32 // default 30
	AutoLockThreshold        uint32 // default 20
	MaxSessions              uint32 // default 100
	AllowPublicRegistrations bool   // default false
	InitialHostRank          uint32 // default 2
	MailerExecutable         string // default "/bin/sh"
	MailerSendCommand        string
	VerifyEmailSubject       string
	TempPwEmailSubject       string
	VerifyEmailTemplate      string
	TempPwEmailTemplate      string
	EnableEmailVerify        bool   // column eable_email_verify, default true
	EnablePwReset            bool   // default true
	ActiveUpdates            bool   // global active-update flag, default true
	MaxSubChannels           uint32 // default 50
	// DefaultPassword is root's generated initial password while root still
	// uses it; it is cleared when root's password changes.
	DefaultPassword string
	// RootUserID is the id of the protected root account (host.md §2.6:
	// root is protected by id, so renaming it keeps the protection and
	// nobody else can take the name to gain it). Zero until root exists.
	RootUserID wire.UserID
}

// CommandRank assigns a host rank to one command of one module.
type CommandRank struct {
	Module  string // module identity: InternalModule or the module's path
	Command string // lower-case command name
	Rank    uint32
}

// Cert is a certificate and private key for one common name.
type Cert struct {
	CommonName string
	CertPEM    []byte
	KeyPEM     []byte
}

// Channel is one channel row.
type Channel struct {
	ID   uint64
	Name string
}

// Member is one channel membership (or pending invitation).
type Member struct {
	ChannelID   uint64
	UserID      wire.UserID
	UserName    string // filled by reads, ignored by writes
	DisplayName string // filled by reads, ignored by writes
	Pending     bool
	Level       uint8 // 1 owner .. 4 regular
}

// SubChannel is one sub-channel row.
type SubChannel struct {
	ChannelID     uint64
	ID            uint8
	Name          string
	LowestLevel   uint8 // 1..5, default 4
	ActiveUpdates bool
}

// ReadOnlyFlag marks a sub-channel id read-only for one member level.
type ReadOnlyFlag struct {
	ChannelID uint64
	SubID     uint8
	Level     uint8
}

// View names one table viewer (commands.md §3).
type View string

// The table viewers. Each has fixed displayed columns (ViewColumns).
const (
	ViewUsers       View = "ls_users"
	ViewAuthLog     View = "ls_auth_log"
	ViewActLog      View = "ls_act_log"
	ViewDebug       View = "ls_dbg"
	ViewBans        View = "ls_bans"
	ViewCerts       View = "ls_certs"
	ViewMods        View = "ls_mods"
	ViewRankedCmds  View = "ls_ranked_cmds"
	ViewChannels    View = "find_ch"
	ViewMyChannels  View = "ls_chs"
	ViewSubChannels View = "ls_sub_chs"
	ViewMembers     View = "ls_ch_members"
	ViewReadOnly    View = "ls_rdonly_flags"
)

// Filter restricts a view to rows whose column contains Value
// (case-insensitive substring match), or equals it when Exact is set.
type Filter struct {
	Column string
	Value  string
	Exact  bool
}

// Page selects rows after the row with key After (0 = from the start).
type Page struct {
	After int64
	Limit int
}

// Row is one row of a view: a stable paging key and its display cells,
// in the order of ViewColumns(view).
type Row struct {
	Key   int64
	Cells []string
}

// Store is the persistence interface of the host. Implementations are safe
// for concurrent use. Names and e-mail addresses compare case-insensitively.
type Store interface {
	// Close releases the backend's resources.
	Close() error

	// Settings returns the host settings row (defaults filled in).
	Settings(ctx context.Context) (Settings, error)
	// SaveSettings replaces the host settings row.
	SaveSettings(ctx context.Context, s Settings) error

	// CreateUser inserts an account; ErrNameTaken / ErrEmailTaken on conflicts.
	CreateUser(ctx context.Context, u User) error
	// UserByID returns one account or ErrNotFound.
	UserByID(ctx context.Context, id wire.UserID) (User, error)
	// UserByName returns one account by case-insensitive name or ErrNotFound.
	UserByName(ctx context.Context, name string) (User, error)
	// UserByEmail returns one account by case-insensitive address or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser changes the given fields; ErrNotFound, ErrNameTaken, ErrEmailTaken.
	UpdateUser(ctx context.Context, id wire.UserID, u UserUpdate) error
	// DeleteUser removes an account (memberships cascade) or returns ErrNotFound.
	DeleteUser(ctx context.Context, id wire.UserID) error

	// AddAuthAttempt appends one row to the authentication log.
	AddAuthAttempt(ctx context.Context, a AuthAttempt) error
	// CountFailedAuth counts counted, failed password attempts of a user;
	// a non-empty ip limits the count to that address.
	CountFailedAuth(ctx context.Context, user wire.UserID, ip string) (int, error)
	// ResetFailedAuth stops counting the user's earlier failed attempts;
	// a non-empty ip limits the reset to that address.
	ResetFailedAuth(ctx context.Context, user wire.UserID, ip string) error

	// LogActivity appends rows to the activity log, in one transaction.
	LogActivity(ctx context.Context, a ...Activity) error
	// LogDebug appends messages to the debug log, in one transaction.
	LogDebug(ctx context.Context, msgs ...string) error

	// Bans returns every banned address (canonical text form).
	Bans(ctx context.Context) ([]string, error)
	// AddBan bans an address; banning a banned address is not an error.
	AddBan(ctx context.Context, ip string) error
	// RemoveBan lifts a ban; lifting an absent ban is not an error.
	RemoveBan(ctx context.Context, ip string) error

	// CommandRanks returns every rank assignment.
	CommandRanks(ctx context.Context) ([]CommandRank, error)
	// AddCommandRank inserts a rank or returns ErrExists for a ranked pair.
	AddCommandRank(ctx context.Context, r CommandRank) error
	// RemoveCommandRank deletes a rank or returns ErrNotFound.
	RemoveCommandRank(ctx context.Context, module, command string) error

	// Modules returns the registered external module paths.
	Modules(ctx context.Context) ([]string, error)
	// AddModule registers a module path or returns ErrExists.
	AddModule(ctx context.Context, path string) error
	// RemoveModule unregisters a module path or returns ErrNotFound.
	RemoveModule(ctx context.Context, path string) error

	// Cert returns the certificate for a common name or ErrNotFound.
	Cert(ctx context.Context, commonName string) (Cert, error)
	// PutCert inserts or replaces the certificate of one common name.
	PutCert(ctx context.Context, c Cert) error
	// DeleteCert removes a certificate or returns ErrNotFound.
	DeleteCert(ctx context.Context, commonName string) error

	// CreateChannel inserts a channel with owner as its level-1 member, in one
	// transaction, and returns the new id; ErrNameTaken if the name is used.
	// Channel ids are never reused.
	CreateChannel(ctx context.Context, name string, owner wire.UserID) (Channel, error)
	// ChannelByName returns a channel by case-insensitive name or ErrNotFound.
	ChannelByName(ctx context.Context, name string) (Channel, error)
	// ChannelByID returns a channel or ErrNotFound.
	ChannelByID(ctx context.Context, id uint64) (Channel, error)
	// RenameChannel renames a channel; ErrNotFound, ErrNameTaken.
	RenameChannel(ctx context.Context, id uint64, name string) error
	// DeleteChannel removes a channel; members, sub-channels and read-only
	// flags cascade. ErrNotFound if absent.
	DeleteChannel(ctx context.Context, id uint64) error
	// OwnsChannels reports whether the user owns at least one channel.
	OwnsChannels(ctx context.Context, user wire.UserID) (bool, error)

	// Member returns one membership row (pending or not) or ErrNotFound.
	Member(ctx context.Context, channel uint64, user wire.UserID) (Member, error)
	// Members returns every membership row of a channel.
	Members(ctx context.Context, channel uint64) ([]Member, error)
	// MembershipsOf returns every membership row of a user (pending included).
	MembershipsOf(ctx context.Context, user wire.UserID) ([]Member, error)
	// AddMember inserts a membership row or returns ErrExists.
	AddMember(ctx context.Context, m Member) error
	// UpdateMember sets a member's pending flag and level or returns ErrNotFound.
	UpdateMember(ctx context.Context, m Member) error
	// RemoveMember deletes a membership row or returns ErrNotFound.
	RemoveMember(ctx context.Context, channel uint64, user wire.UserID) error
	// TransferOwnership makes newOwner level 1 and the current owner level 2
	// in one transaction, returning the previous owner's id.
	TransferOwnership(ctx context.Context, channel uint64, newOwner wire.UserID) (wire.UserID, error)

	// CreateSubChannel inserts a sub-channel with the smallest free id,
	// lowest level 4 and active updates off; ErrNameTaken if the name is used
	// in that channel, ErrLimit when the channel already has max of them.
	CreateSubChannel(ctx context.Context, channel uint64, name string, max int) (SubChannel, error)
	// SubChannelByName returns a sub-channel by case-insensitive name or ErrNotFound.
	SubChannelByName(ctx context.Context, channel uint64, name string) (SubChannel, error)
	// SubChannelByID returns a sub-channel or ErrNotFound.
	SubChannelByID(ctx context.Context, channel uint64, id uint8) (SubChannel, error)
	// SubChannels returns every sub-channel of a channel, by id.
	SubChannels(ctx context.Context, channel uint64) ([]SubChannel, error)
	// UpdateSubChannel stores name, lowest level and active flag of an
	// existing sub-channel; ErrNotFound, ErrNameTaken.
	UpdateSubChannel(ctx context.Context, s SubChannel) error
	// DeleteSubChannel removes a sub-channel (its read-only flags stay) or
	// returns ErrNotFound.
	DeleteSubChannel(ctx context.Context, channel uint64, id uint8) error

	// ReadOnlyFlags returns every read-only flag of a channel.
	ReadOnlyFlags(ctx context.Context, channel uint64) ([]ReadOnlyFlag, error)
	// AddReadOnlyFlag inserts a flag or returns ErrExists.
	AddReadOnlyFlag(ctx context.Context, f ReadOnlyFlag) error
	// RemoveReadOnlyFlag deletes a flag or returns ErrNotFound.
	RemoveReadOnlyFlag(ctx context.Context, f ReadOnlyFlag) error

	// ListView returns one page of a table viewer, filtered and ordered by key.
	ListView(ctx context.Context, v View, filters []Filter, p Page) ([]Row, error)
	// DeleteView deletes the rows of a view's main table that match the
	// filters (only ViewActLog, ViewDebug and ViewBans allow it) and returns
	// how many were deleted.
	DeleteView(ctx context.Context, v View, filters []Filter) (int64, error)

	// E-mail verification and password recovery (issue 11; email.go).

	// EmailSettings returns the mail settings (defaults for missing keys).
	EmailSettings(ctx context.Context) (EmailSettings, error)
	// SaveEmailSettings stores every mail setting.
	SaveEmailSettings(ctx context.Context, s EmailSettings) error
	// PutEmailCode inserts or replaces the verification code of an account
	// (its attempts start again from c.Attempts).
	PutEmailCode(ctx context.Context, c EmailCode) error
	// EmailCode returns an account's verification code or ErrNotFound.
	EmailCode(ctx context.Context, user wire.UserID) (EmailCode, error)
	// AddEmailCodeAttempt counts one wrong answer for the code with the
	// given hash and returns the new count; ErrNotFound if that code is
	// no longer stored.
	AddEmailCodeAttempt(ctx context.Context, user wire.UserID, hash string) (int, error)
	// DeleteEmailCode removes an account's code, only if its hash is hash
	// (any code when hash is empty); ErrNotFound if nothing was removed.
	DeleteEmailCode(ctx context.Context, user wire.UserID, hash string) error
	// PutRecovery inserts or replaces an account's temporary password
	// (hash and issue time: a new request refreshes the expiry).
	PutRecovery(ctx context.Context, r Recovery) error
	// Recovery returns an account's temporary password or ErrNotFound.
	Recovery(ctx context.Context, user wire.UserID) (Recovery, error)
	// DeleteRecovery removes an account's temporary password, only if its
	// hash is hash (any when empty); ErrNotFound if nothing was removed.
	// A successful delete is what makes a temporary password single-use.
	DeleteRecovery(ctx context.Context, user wire.UserID, hash string) error
	// CountFailedRecover counts the user's counted, failed recovery attempts.
	CountFailedRecover(ctx context.Context, user wire.UserID) (int, error)
	// ResetFailedRecover stops counting the user's failed recovery attempts.
	ResetFailedRecover(ctx context.Context, user wire.UserID) error
	// ---- import from the original host (issue 15) ----

	// UserList returns every account in creation order.
	UserList(ctx context.Context) ([]User, error)
	// ImportOriginal writes a whole import in one transaction: every row or,
	// on any error (ErrNameTaken, ErrEmailTaken, ErrExists, ...), none.
	ImportOriginal(ctx context.Context, b OriginalImport) error
	// ImportMarks returns the log marks recorded for a source database
	// (log table name → last imported rowid).
	ImportMarks(ctx context.Context, source string) (map[string]int64, error)
	// ---- account hardening (issue 8, migration 2: accounts.go) ----

	// AccountLimits returns the account_limits row (defaults filled in).
	AccountLimits(ctx context.Context) (AccountLimits, error)
	// SaveAccountLimits replaces the account_limits row.
	SaveAccountLimits(ctx context.Context, l AccountLimits) error
	// BeginAuth decides, in one transaction with the account's lock state
	// and counters, whether a password answer may be verified (policy:
	// AuthClaim.Decide), and if so counts it as a pending claim (account,
	// address and, for PerIP claims, account-at-address counters). An
	// account whose confirmed failures already exceed LockAbove is locked
	// here. The cost does not depend on the size of the authentication log.
	BeginAuth(ctx context.Context, c AuthClaim) (AuthTicket, error)
	// FailAuth records that the claimed answer was wrong: the pending claim
	// becomes a failure on every counter, a counted failure is logged, and
	// the account is locked when its failures exceed LockAbove.
	FailAuth(ctx context.Context, c AuthClaim) (AuthResult, error)
	// PassAuth records that the claimed answer was right, in one
	// transaction: the pending claim is removed from every counter; then
	// ErrLocked if the account was locked meanwhile; otherwise the account's
	// failures are forgotten (PerIP: those from this address) and an
	// accepted row is logged. Other pending claims stay counted.
	PassAuth(ctx context.Context, c AuthClaim) error
	// ResetAuthFailures forgets every counted failure of an account (the
	// log's count_to_threshold flags included), as unlocking does.
	ResetAuthFailures(ctx context.Context, user wire.UserID) error
	// UserByNameKey returns the account whose user name has the given
	// validate.NameKey, or ErrNotFound.
	UserByNameKey(ctx context.Context, key string) (User, error)
	// CountOwnedChannels returns how many channels the user owns.
	CountOwnedChannels(ctx context.Context, user wire.UserID) (int, error)
	// CountPendingInvites returns how many invitations of a channel are
	// pending.
	CountPendingInvites(ctx context.Context, channel uint64) (int, error)
	// TakeQuota counts one use of a per-account quota (kind names it) in a
	// fixed window of the given length starting at the first use; false
	// (and nothing counted) when max uses were made in the current window.
	TakeQuota(ctx context.Context, user wire.UserID, kind string, max uint32, window time.Duration, now time.Time) (bool, error)
	// Admission (issue 8: connection admission; admission.go).

	// AdmissionSettings returns the admission settings (defaults when none
	// were saved).
	AdmissionSettings(ctx context.Context) (AdmissionSettings, error)
	// SaveAdmissionSettings validates and stores the admission settings.
	SaveAdmissionSettings(ctx context.Context, a AdmissionSettings) error
	// ---- host administration (issue 9; admin.go) ----

	// AdminSettings returns the administration settings row (defaults
	// when it is missing).
	AdminSettings(ctx context.Context) (AdminSettings, error)
	// SaveAdminSettings replaces the administration settings row.
	SaveAdminSettings(ctx context.Context, s AdminSettings) error
	// PruneLogs deletes the activity, auth and debug log rows stamped
	// before the given time, in one transaction, and returns how many
	// rows were deleted.
	PruneLogs(ctx context.Context, before time.Time) (int64, error)
	// Files (the fs_* commands, docs/files.md).

	// FilesSettings returns the file-system command settings (defaults when
	// the row is missing).
	FilesSettings(ctx context.Context) (FilesSettings, error)
	// SaveFilesSettings replaces the file-system command settings.
	SaveFilesSettings(ctx context.Context, f FilesSettings) error
}

// ViewColumns returns the displayed columns of a view, in order.
func ViewColumns(v View) []string {
	switch v {
	case ViewUsers:
		return []string{"time_stamp", "user_name", "host_rank", "user_id"}
	case ViewAuthLog:
		return []string{"time_stamp", "ip_address", "user_name", "auth_attempt", "recover_attempt", "count_to_threshold", "accepted"}
	case ViewActLog:
		return []string{"time_stamp", "ip_address", "client_app", "session_id", "log_entry"}
	case ViewDebug:
		return []string{"time_stamp", "log_entry"}
	case ViewBans:
		return []string{"time_stamp", "ip_address"}
	case ViewCerts:
		return []string{"common_name"}
	case ViewMods:
		return []string{"module_executable"}
	case ViewRankedCmds:
		return []string{"module_executable", "command_name", "host_rank"}
	case ViewChannels:
		return []string{"channel_id", "channel_name"}
	case ViewMyChannels:
		return []string{"channel_id", "channel_name", "pending_invite", "access_level"}
	case ViewSubChannels:
		return []string{"sub_channel_id", "sub_channel_name", "lowest_access_level", "active_updates"}
	case ViewMembers:
		return []string{"channel_id", "user_name", "display_name", "pending_invite", "access_level"}
	case ViewReadOnly:
		return []string{"channel_name", "channel_id", "sub_channel_id", "access_level"}
	}
	return nil
}

// HiddenFilterColumns lists, per view, the columns that are not displayed
// but may be used in Exact filters (the channel viewers restrict rows by
// them). user_id values are given in lower-case hex.
func HiddenFilterColumns(v View) []string {
	switch v {
	case ViewMyChannels:
		return []string{"user_id"}
	case ViewSubChannels, ViewMembers, ViewReadOnly:
		return []string{"channel_id"}
	}
	return nil
}
