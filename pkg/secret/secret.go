// Package secret holds what agent and cloud share about secrets: the
// Secret value type that never prints, logs or marshals its value, and the
// `${secret:name}` reference syntax that configurations use instead of
// values. Resolving references is the agent's (agent/secrets).
package secret

import (
	"log/slog"
	"regexp"
)

// Secret is a resolved value. Printing, logging or marshalling it shows
// "[redacted]"; only Reveal returns the value.
type Secret struct{ v string }

// Redacted is what a Secret, or a redacted field, shows instead of a value.
const Redacted = "[redacted]"

// New wraps a value.
func New(v string) Secret { return Secret{v} }

// Reveal returns the value, for the one place that hands it to a library.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no value is set.
func (s Secret) IsZero() bool { return s.v == "" }

func (Secret) String() string               { return Redacted }
func (Secret) GoString() string             { return Redacted }
func (Secret) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (Secret) MarshalYAML() (any, error)    { return Redacted, nil }

var refRE = regexp.MustCompile(`^\$\{secret:([A-Za-z0-9_.-]+)\}$`)

// ParseRef returns the name in a `${secret:name}` reference.
func ParseRef(s string) (name string, ok bool) {
	m := refRE.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return m[1], true
}
