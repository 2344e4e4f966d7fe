package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// ErrNotDeletable is returned by DeleteView for views without a delete mode
// (every view except ViewActLog, ViewDebug and ViewBans).
var ErrNotDeletable = errors.New("store: view does not allow delete")

// ErrUnknownView is returned by ListView and DeleteView for a View that is
// not one of the declared constants.
var ErrUnknownView = errors.New("store: unknown view")

// Default values of the host_settings row (host.md §5). The listen address
// deliberately defaults to the loopback address instead of the original's
// 0.0.0.0.
const (
	DefaultListenAddress      = "127.0.0.1"
	DefaultListenPort         = 35516
	DefaultAutoBanThreshold   = 30
	DefaultAutoLockThreshold  = 20
	DefaultMaxSessions        = 100
	DefaultInitialHostRank    = 2
	DefaultMailerExecutable   = "/bin/sh"
	DefaultMailerSendCommand  = `-c "echo %message_body% | mutt -s %subject% %target_email%"`
	DefaultVerifyEmailSubject = "Email Verification"
	DefaultTempPwEmailSubject = "Password Reset"
	DefaultMaxSubChannels     = 50
	// DefaultVerifyEmailTemplate is the body of verification mails.
	DefaultVerifyEmailTemplate = "Please confirm your email address for account: %user_name%\n" +
		"Your confirmation code is as follows:\n" +
		"\n" +
		"%confirmation_code%\n" +
		"\n" +
		"Date requested: %date%."
	// DefaultTempPwEmailTemplate is the body of password-reset mails.
	DefaultTempPwEmailTemplate = "A password reset was requested for account: %user_name%\n" +
		"Your recovery password is as follows:\n" +
		"\n" +
		"%temp_pw%\n" +
		"\n" +
		"PLEASE IGNORE THIS EMAIL IF YOU MADE NO SUCH REQUEST.\n" +
		"\n" +
		"Date requested: %date%."
)

// MaxSubChannelIDs is the size of the sub-channel id space of one channel
// (ids 0..255).
const MaxSubChannelIDs = 256

// TimeLayout is the layout of time_stamp cells in every view (UTC).
const TimeLayout = "2006-01-02 15:04:05"

// DefaultSettings returns the settings a fresh database starts with; the
// backends also use it to fill NULL columns of an existing row.
func DefaultSettings() Settings {
	return Settings{
		ListenAddress:            DefaultListenAddress,
		ListenPort:               DefaultListenPort,
		AutoBanThreshold:         DefaultAutoBanThreshold,
		AutoLockThreshold:        DefaultAutoLockThreshold,
		MaxSessions:              DefaultMaxSessions,
		AllowPublicRegistrations: false,
		InitialHostRank:          DefaultInitialHostRank,
		MailerExecutable:         DefaultMailerExecutable,
		MailerSendCommand:        DefaultMailerSendCommand,
		VerifyEmailSubject:       DefaultVerifyEmailSubject,
		TempPwEmailSubject:       DefaultTempPwEmailSubject,
		VerifyEmailTemplate:      DefaultVerifyEmailTemplate,
		TempPwEmailTemplate:      DefaultTempPwEmailTemplate,
		EnableEmailVerify:        true,
		EnablePwReset:            true,
		ActiveUpdates:            true,
		MaxSubChannels:           DefaultMaxSubChannels,
	}
}

// ValidView reports whether v is one of the declared views.
func ValidView(v View) bool { return ViewColumns(v) != nil }

// Deletable reports whether DeleteView is allowed for v.
func Deletable(v View) bool {
	return v == ViewActLog || v == ViewDebug || v == ViewBans
}

// CommandKey returns the stored (lower-cased) form of a command name.
func CommandKey(command string) string { return strings.ToLower(command) }

// SubChannelLimit clamps a caller's per-channel sub-channel maximum to the id
// space: a max of 0 or less, or above MaxSubChannelIDs, means
// MaxSubChannelIDs.
func SubChannelLimit(max int) int {
	if max <= 0 || max > MaxSubChannelIDs {
		return MaxSubChannelIDs
	}
	return max
}

// SmallestFreeSubID returns the smallest sub-channel id not in used (which
// must be sorted ascending), or false when all MaxSubChannelIDs are taken.
func SmallestFreeSubID(used []uint8) (uint8, bool) {
	next := 0
	for _, id := range used {
		if int(id) > next {
			break
		}
		if int(id) == next {
			next++
		}
	}
	if next >= MaxSubChannelIDs {
		return 0, false
	}
	return uint8(next), true
}

// TruncTime returns t in UTC truncated to whole seconds, the precision of
// every stored time_stamp.
func TruncTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// Errorf wraps err with the "store: <op>" context every backend uses.
func Errorf(op string, err error) error { return fmt.Errorf("store: %s: %w", op, err) }

// RootHex formats the root id for storage in a text column ("" for zero).
func RootHex(id wire.UserID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

// ParseRootHex decodes a root id stored by RootHex; bad text gives zero.
func ParseRootHex(s string) wire.UserID {
	var id wire.UserID
	b, err := hex.DecodeString(s)
	if err == nil && len(b) == len(id) {
		copy(id[:], b)
	}
	return id
}
