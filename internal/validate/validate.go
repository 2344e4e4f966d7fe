// Package validate holds the host's data rules (modules.md §10, host.md
// §4.3): lengths in UTF-16 code units, forbidden and required characters.
package validate

import (
	"strings"
	"unicode"

	"github.com/mrci/mrci/internal/wire"
)

func lenIn(s string, lo, hi int) bool {
	n := wire.TextLen(s)
	return n >= lo && n <= hi
}

func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

func noSpaceNoControl(s string) bool {
	return !strings.ContainsRune(s, ' ') && !hasControl(s)
}

// UserName: 2-24 characters, no space, no control characters.
func UserName(s string) bool { return lenIn(s, 2, 24) && noSpaceNoControl(s) }

// Email: 4-64 characters, no space or control characters, exactly one '@',
// and a '.' somewhere after it.
func Email(s string) bool {
	if !lenIn(s, 4, 64) || !noSpaceNoControl(s) || strings.Count(s, "@") != 1 {
		return false
	}
	return strings.Contains(s[strings.IndexByte(s, '@')+1:], ".")
}

// DisplayName: 0-32 characters, no control characters (spaces allowed).
func DisplayName(s string) bool { return lenIn(s, 0, 32) && !hasControl(s) }

// Password: 8-200 characters with at least one letter, number, upper-case
// letter, lower-case letter and symbol-or-punctuation character.
func Password(s string) bool {
	if !lenIn(s, 8, 200) {
		return false
	}
	var letter, number, upper, lower, symbol bool
	for _, r := range s {
		letter = letter || unicode.IsLetter(r)
		number = number || unicode.IsNumber(r)
		upper = upper || unicode.IsUpper(r)
		lower = lower || unicode.IsLower(r)
		symbol = symbol || unicode.IsSymbol(r) || unicode.IsPunct(r)
	}
	return letter && number && upper && lower && symbol
}

// ChannelName: 4-32 characters, no space, no control characters. Sub-channel
// names follow the same rule.
func ChannelName(s string) bool { return lenIn(s, 4, 32) && noSpaceNoControl(s) }

// CommandName: 1-64 characters, no space, no control characters.
func CommandName(s string) bool { return lenIn(s, 1, 64) && noSpaceNoControl(s) }

// CommonName: 1-136 characters, no space, no control characters.
func CommonName(s string) bool { return lenIn(s, 1, 136) && noSpaceNoControl(s) }

// ModulePath: 1-512 characters without any of |*:"?<> (the documented rule;
// the original's inverted check is not reproduced).
func ModulePath(s string) bool {
	return lenIn(s, 1, 512) && !strings.ContainsAny(s, "|*:\"?<>") && !hasControl(s)
}
