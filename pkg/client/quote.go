package client

import (
	"strings"
	"unicode"
)

// QuoteArg quotes s so that the host's argument tokenizer (protocol.md
// §13.1, wire.ParseArgs) reads it back as exactly one word equal to s. A
// word without whitespace or quote characters is returned unchanged; other
// words are wrapped in double quotes with quotes escaped by a backslash.
// The empty string cannot be expressed (an empty quoted string yields no
// word); QuoteArg returns `""` for it.
func QuoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, `"'`) && strings.IndexFunc(s, unicode.IsSpace) < 0 {
		return s
	}
	runes := []rune(s)
	// Trailing backslashes go after the closing quote: a backslash directly
	// before the closing quote would escape it.
	end := len(runes)
	for end > 0 && runes[end-1] == '\\' {
		end--
	}
	var sb strings.Builder
	sb.Grow(len(s) + 4)
	sb.WriteByte('"')
	for _, r := range runes[:end] {
		if r == '"' || r == '\'' {
			// \" and \' yield the quote literally, inside quotes too. A
			// backslash of s right before it stays literal because the
			// tokenizer only drops a backslash that is directly followed
			// by a quote.
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	sb.WriteByte('"')
	sb.WriteString(string(runes[end:]))
	return sb.String()
}
