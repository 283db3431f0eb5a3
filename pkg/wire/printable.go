package wire

import (
	"fmt"
	"strings"
	"unicode"
)

// Printable escapes control and format characters (line breaks, escape
// sequences, bidi overrides, zero-width marks) as \n, \t or \uXXXX: the
// control plane refuses them in the texts an agent reports (log lines,
// heartbeat errors), and a reader's terminal or page must not act on them.
func Printable(s string) string {
	if !strings.ContainsFunc(s, Unprintable) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case Unprintable(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Unprintable reports whether r is a control or format character, or a
// line or paragraph separator.
func Unprintable(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}
