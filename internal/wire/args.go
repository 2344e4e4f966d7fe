package wire

import (
	"strings"
	"unicode"
)

// ParseArgs splits command-argument text into words exactly as the original
// does (protocol.md §13.1): whitespace separates words outside quotes; single
// and double quotes group and are removed; a backslash directly before a
// quote makes that quote literal; an empty quoted string yields no word; a
// word left open by an unterminated quote is discarded. maxArgs < 0 means no
// limit; otherwise scanning stops once maxArgs words were found.
func ParseArgs(text string, maxArgs int) []string {
	var (
		words                       []string
		arg                         strings.Builder
		inDouble, inSingle, escaped bool
	)
	runes := []rune(text)
	for i, c := range runes {
		switch {
		case c == '\'' && !inDouble && !escaped:
			inSingle = !inSingle
		case c == '"' && !inSingle && !escaped:
			inDouble = !inDouble
		default:
			escaped = false
			switch {
			case unicode.IsSpace(c) && !inDouble && !inSingle:
				if arg.Len() > 0 {
					words = append(words, arg.String())
					arg.Reset()
				}
			case c == '\\' && i+1 < len(runes) && (runes[i+1] == '\'' || runes[i+1] == '"'):
				escaped = true
			default:
				arg.WriteRune(c)
			}
		}
		if maxArgs >= 0 && len(words) >= maxArgs {
			return words
		}
	}
	if arg.Len() > 0 && !inDouble && !inSingle {
		words = append(words, arg.String())
	}
	return words
}

// GetParam returns the value after the first word equal to key (ignoring
// case), or "" when the key is absent, has no following word or the
// following word starts with '-' (protocol.md §13.2).
func GetParam(words []string, key string) string {
	for i, w := range words {
		if strings.EqualFold(w, key) {
			if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				return words[i+1]
			}
			return ""
		}
	}
	return ""
}

// HasFlag reports whether any word equals key, ignoring case (protocol.md §13.3).
func HasFlag(words []string, key string) bool {
	for _, w := range words {
		if strings.EqualFold(w, key) {
			return true
		}
	}
	return false
}
