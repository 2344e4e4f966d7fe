package validate

import (
	"errors"
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/secure/precis"
)

// Errors of NewUserName and NewDisplayName. Commands map them to the
// specification's texts (commands.md §4, §6).
var (
	// ErrNameLength means the name is empty or longer than allowed (after
	// normalisation).
	ErrNameLength = errors.New("name has the wrong length")
	// ErrNameInvisible means the name holds an invisible character (a
	// format character such as U+200B ZERO WIDTH SPACE), a bidirectional
	// control character (such as U+202E RIGHT-TO-LEFT OVERRIDE) or a
	// control character.
	ErrNameInvisible = errors.New("name contains invisible or bidirectional control characters")
	// ErrNameChars means the PRECIS profile refused the name (spaces in a
	// user name, symbols, unassigned code points, the Bidi Rule, ...).
	ErrNameChars = errors.New("name contains characters that are not allowed")
)

// NewUserName checks a user name that is about to be stored (account
// creation, renames) and returns the form to store.
//
// The name is enforced with the PRECIS UsernameCasePreserved profile
// (RFC 8265): full-width and half-width forms are mapped to their
// ordinary forms ("ｒｏｏｔ" becomes "root"), the result is NFC, spaces,
// symbols and unassigned code points are refused, and the Bidi Rule
// applies. Invisible and bidirectional control characters are refused
// before that with ErrNameInvisible. The stored form must then be 2-24
// UTF-16 code units long, the length rule of UserName.
//
// UserName remains the (lenient) check for names that only look an
// account up, so that accounts created before these rules stay
// addressable. Whether the name is confusable with another account's is a
// question for the store: compare NameKey values.
func NewUserName(s string) (string, error) {
	if hasInvisible(s) {
		return "", ErrNameInvisible
	}
	n, err := precis.UsernameCasePreserved.String(s)
	if err != nil {
		return "", ErrNameChars
	}
	if !lenIn(n, 2, 24) {
		return "", ErrNameLength
	}
	return n, nil
}

// NewDisplayName checks a display name that is about to be stored and
// returns the form to store: the PRECIS Nickname profile (RFC 8266) maps
// every kind of space to U+0020, trims and collapses spaces and
// normalises to NFC; invisible and bidirectional control characters are
// refused with ErrNameInvisible. The empty name is valid (it clears the
// display name). The stored form must be at most 32 UTF-16 code units.
func NewDisplayName(s string) (string, error) {
	if hasInvisible(s) {
		return "", ErrNameInvisible
	}
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	n, err := precis.Nickname.String(s)
	if err != nil {
		return "", ErrNameChars
	}
	if !lenIn(n, 0, 32) {
		return "", ErrNameLength
	}
	return n, nil
}

// NameKey returns the key under which names are compared for look-alikes.
// It is the Unicode TR39 confusable skeleton of the width-mapped name,
// case-folded, then skeleton and folding once more (the skeleton maps some
// characters to capitals, "0" to "O" for example, and folding may produce
// new confusables). Two names with the same key look alike: "root",
// "Root", "rооt" with Cyrillic o, "RООТ" with Cyrillic capitals,
// "ｒｏｏｔ" and "r00t" all have the key "root". The store keeps the key of
// every user name under a unique index, so look-alike user names cannot
// exist side by side.
func NameKey(s string) string {
	if n, err := precis.UsernameCasePreserved.String(s); err == nil {
		s = n
	}
	fold := cases.Fold() // a Caser must not be shared between goroutines
	for range 2 {
		s = fold.String(confusables.Skeleton(s))
	}
	return s
}

// hasInvisible reports whether s holds a control character, a format
// character (category Cf: zero-width spaces and joiners, bidi marks,
// embeddings, overrides and isolates, the BOM, ...) or another
// default-ignorable code point.
func hasInvisible(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
			unicode.Is(unicode.Variation_Selector, r)
	}) >= 0
}
