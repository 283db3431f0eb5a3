// Package logring keeps the agent's recent log lines in a bounded ring (so
// an operator can read them from the control plane) and scrubs secrets from
// every line before it reaches the ring or the agent's own stderr.
package logring

import (
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Redacted replaces a scrubbed secret.
const Redacted = "[redacted]"

// MinSecretLen is the shortest value Scrubber.Add takes as a secret: a
// secret of two or three characters would blank out ordinary words all
// over the log, and is no secret worth the name anyway.
const MinSecretLen = 4

// patterns catch secrets whose values the agent never learns beforehand:
// the password of a URL (scheme://user:password@host), the credential of
// an Authorization header, and JSON Web Tokens (gateway tokens).
var patterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@`), "${1}:" + Redacted + "@"},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+`), "${1} " + Redacted},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`), Redacted},
}

// Scrubber removes known secret values and secret-shaped text from log
// text. Secrets can be added at any time (a claim code learned at
// enrollment, the secrets of a new config); it is safe for concurrent use.
type Scrubber struct {
	mu      sync.RWMutex
	known   map[string]bool
	replace *strings.Replacer
}

// NewScrubber returns a scrubber for the given secret values.
func NewScrubber(secrets ...string) *Scrubber {
	s := &Scrubber{known: map[string]bool{}}
	s.Add(secrets...)
	return s
}

// Add makes the values secrets from now on (values shorter than
// MinSecretLen are ignored).
func (s *Scrubber) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	added := false
	for _, v := range secrets {
		if len(v) >= MinSecretLen && !s.known[v] {
			s.known[v], added = true, true
		}
	}
	if !added {
		return
	}
	// Longest first, so a secret that contains another is replaced whole.
	vals := make([]string, 0, len(s.known))
	for v := range s.known {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, Redacted)
	}
	s.replace = strings.NewReplacer(pairs...)
}

// Scrub returns text without the known secrets and secret-shaped parts.
func (s *Scrubber) Scrub(text string) string {
	s.mu.RLock()
	r := s.replace
	s.mu.RUnlock()
	if r != nil {
		text = r.Replace(text)
	}
	for _, p := range patterns {
		text = p.re.ReplaceAllString(text, p.repl)
	}
	return text
}
