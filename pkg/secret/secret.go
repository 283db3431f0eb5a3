// Package secret holds what agent and cloud share about secrets: the
// Secret value type that never prints, logs or marshals its value, and the
// reference syntax that configurations use instead of values:
// `${secret:name}` (a secret kept by the control plane, or locally on the
// gateway) and `${vault:path#key}` (a key of a KV secret in Vault or
// OpenBao). Resolving references is the agent's (agent/secrets).
package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/streamforge/streamforge/pkg/secretprot"
)

// Secret is a resolved value. Printing, logging or marshalling it shows
// "[redacted]"; only Reveal returns the value. A value the control plane
// delivered is bound to the destinations it may be sent to (Bound) and
// the least protection it may be sent with (WithProtection).
type Secret struct {
	v     string
	dests string // one a line
	bound bool
	prot  secretprot.Protection
}

// Redacted is what a Secret, or a redacted field, shows instead of a value.
const Redacted = "[redacted]"

// New wraps a value.
func New(v string) Secret { return Secret{v: v} }

// Bound wraps a value that may be sent to dests only (pkg/secretdest
// spelling): none when dests is empty.
func Bound(v string, dests []string) Secret {
	return Secret{v: v, dests: strings.Join(dests, "\n"), bound: true}
}

// Destinations returns what a bound value may be sent to; bound is false
// for a value that is not restricted (a gateway's own).
func (s Secret) Destinations() (dests []string, bound bool) {
	if !s.bound {
		return nil, false
	}
	if s.dests == "" {
		return []string{}, true
	}
	return strings.Split(s.dests, "\n"), true
}

// WithProtection is s bound to be sent with prot or stronger.
func (s Secret) WithProtection(prot secretprot.Protection) Secret {
	s.prot = prot
	return s
}

// Protection is the least protection s may be sent with (zero: any).
func (s Secret) Protection() secretprot.Protection { return s.prot }

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

var (
	refRE = regexp.MustCompile(`^\$\{secret:([A-Za-z0-9_.-]+)\}$`)
	// A Vault path is a mount and segments (no "..", no leading "/"); the
	// key is one field of the KV secret.
	vaultRE = regexp.MustCompile(`^\$\{vault:([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*)#([A-Za-z0-9_.-]+)\}$`)
)

// ParseRef returns the name in a `${secret:name}` reference.
func ParseRef(s string) (name string, ok bool) {
	m := refRE.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// ParseVaultRef returns the path and key in a `${vault:path#key}` reference.
func ParseVaultRef(s string) (path, key string, ok bool) {
	m := vaultRE.FindStringSubmatch(s)
	if m == nil || slices.Contains(strings.Split(m[1], "/"), "..") || slices.Contains(strings.Split(m[1], "/"), ".") {
		return "", "", false
	}
	return m[1], m[2], true
}

// IsRef reports whether s is a reference of either kind.
func IsRef(s string) bool {
	if _, ok := ParseRef(s); ok {
		return true
	}
	_, _, ok := ParseVaultRef(s)
	return ok
}

// Names returns the sorted, distinct names of the `${secret:name}`
// references anywhere in a JSON document (every string value is looked
// at): what a gateway whose config this is may be given.
func Names(doc []byte) ([]string, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("config document: %w", err)
	}
	set := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case string:
			if n, ok := ParseRef(t); ok {
				set[n] = true
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}
