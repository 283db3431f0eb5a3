package auditrec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Redacted replaces the value of a secret-looking field.
const Redacted = "[redacted]"

// secretWords mark a field name as holding a secret. Matching is by
// substring of the lower-cased name, so "sasl_password", "apiKey" and
// "client_secret" are all caught; over-redacting is the safe error.
var secretWords = []string{"password", "passwd", "secret", "token", "key", "credential", "private"}

// IsSecretName reports whether a field of this name must never be recorded.
func IsSecretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Redact returns changes with the old and new values of secret-looking
// fields replaced by Redacted, at any depth of nested objects (a pipeline
// config whose sink holds "sasl_password", say). A nil value stays nil, so
// the record still shows that a secret was set or cleared. Callers must
// still not put secrets into audit events in any other field (reason,
// resource); Link applies Redact to Changes itself.
func Redact(changes map[string]Change) (map[string]Change, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	// A JSON round trip turns arbitrary Go values (structs, typed maps)
	// into plain JSON data whose keys can be inspected.
	b, err := json.Marshal(changes)
	if err != nil {
		return nil, fmt.Errorf("audit: encode changes: %w", err)
	}
	out, err := DecodeChanges(string(b))
	if err != nil {
		return nil, err
	}
	for field, c := range out {
		if IsSecretName(field) {
			out[field] = Change{Old: redactValue(c.Old), New: redactValue(c.New)}
			continue
		}
		out[field] = Change{Old: redactNested(c.Old), New: redactNested(c.New)}
	}
	return out, nil
}

func redactValue(v any) any {
	if v == nil {
		return nil
	}
	return Redacted
}

func redactNested(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if IsSecretName(k) {
				t[k] = redactValue(x)
			} else {
				t[k] = redactNested(x)
			}
		}
	case []any:
		for i, x := range t {
			t[i] = redactNested(x)
		}
	}
	return v
}

// EncodeChanges redacts changes and encodes them as the exact JSON text
// that is stored and hashed ("" for none). encoding/json sorts map keys,
// so equal changes always give equal text.
func EncodeChanges(changes map[string]Change) (string, error) {
	red, err := Redact(changes)
	if err != nil || red == nil {
		return "", err
	}
	b, err := json.Marshal(red)
	if err != nil {
		return "", fmt.Errorf("audit: encode changes: %w", err)
	}
	return string(b), nil
}

// DecodeChanges parses stored changes, keeping numbers exact.
func DecodeChanges(s string) (map[string]Change, error) {
	if s == "" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var out map[string]Change
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode changes: %w", err)
	}
	return out, nil
}
