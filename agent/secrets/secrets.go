// Package secrets resolves `${secret:name}` references in the agent's
// configuration from a local secrets file, the environment, or the values
// the control plane delivered (kept sealed at rest: Sealed), and
// `${vault:path#key}` references from Vault or OpenBao (Vault); it carries
// the values in a Secret type that never prints, logs or marshals them.
//
// Lookup order: the environment variable STREAMFORGE_SECRET_<NAME> (NAME
// upper-cased, '-' and '.' as '_'), then the secrets file, then the values
// delivered by the control plane (so a local value overrides a delivered one). A file named
// *.yaml or *.yml is a YAML map of names to strings; any other file holds
// `name=value` lines (blank lines and lines starting with '#' are skipped,
// the value is everything after the first '=', untrimmed).
//
// The file must not be readable or writable by others, nor writable by its
// group (mode 0600 or 0640): a secret that anyone on the gateway can read is
// not one, and the agent refuses to start rather than trust it. Errors name
// the reference, the file and the variable, never a value.
package secrets

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/pkg/secret"
	"github.com/streamforge/streamforge/pkg/secretdest"
)

// Secret is a resolved value (pkg/secret): printing, logging or
// marshalling it shows "[redacted]"; only Reveal returns the value.
type Secret = secret.Secret

// New wraps a value that came from somewhere other than a Store (a test).
func New(v string) Secret { return secret.New(v) }

// Bound wraps a value the control plane delivered, which may be sent to
// dests only (ResolveFor).
func Bound(v string, dests []string) Secret { return secret.Bound(v, dests) }

// EnvPrefix starts the environment variable that holds a secret.
const EnvPrefix = "STREAMFORGE_SECRET_"

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// ErrNotFound is returned (wrapped) for a reference nothing defines.
	ErrNotFound = errors.New("secret not defined")
)

// ParseRef returns the name in a `${secret:name}` reference.
func ParseRef(s string) (name string, ok bool) { return secret.ParseRef(s) }

// EnvName is the environment variable that may hold the named secret.
func EnvName(name string) string {
	return EnvPrefix + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
}

// Store resolves references. The zero value resolves from the environment only.
type Store struct {
	path      string
	values    map[string]string
	getenv    func(string) (string, bool)
	delivered map[string]Secret
	vault     VaultReader
}

// VaultReader reads one key of a KV secret (Vault).
type VaultReader interface {
	Read(ctx context.Context, path, key string) (Secret, error)
}

// WithDelivered adds the values the control plane delivered, looked up
// after the environment and the secrets file.
func (s *Store) WithDelivered(values map[string]Secret) *Store {
	s.delivered = values
	return s
}

// WithVault resolves `${vault:path#key}` references through v.
func (s *Store) WithVault(v VaultReader) *Store {
	s.vault = v
	return s
}

// CheckPrivate refuses a file that holds a secret (the secrets file, a
// private key) when others may read it or its group may write it: the
// rule of the package doc, for every secret-bearing file the agent reads.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return fmt.Errorf("%s: mode %04o lets others read it or its group write it; chmod 0600 (or 0640)", path, perm)
	}
	return nil
}

// Load reads the secrets file at path; an empty path means environment only.
func Load(path string) (*Store, error) {
	s := &Store{path: path, values: map[string]string{}, getenv: os.LookupEnv}
	if path == "" {
		return s, nil
	}
	if err := CheckPrivate(path); err != nil {
		return nil, fmt.Errorf("secrets file: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets file: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		err = parseYAML(data, s.values)
	default:
		err = parseLines(data, s.values)
	}
	if err != nil {
		return nil, fmt.Errorf("secrets file %s: %w", path, err)
	}
	return s, nil
}

// parseYAML reads a map of names to strings. yaml's own errors can quote
// the document, so they are replaced by one that cannot.
func parseYAML(data []byte, into map[string]string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return errors.New("not valid YAML")
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return errors.New("not a YAML map of names to values")
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !nameRE.MatchString(k.Value) {
			return fmt.Errorf("line %d: name %q is not [A-Za-z0-9_.-]+", k.Line, k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s is not a string", k.Line, k.Value)
		}
		into[k.Value] = v.Value
	}
	return nil
}

func parseLines(data []byte, into map[string]string) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || !nameRE.MatchString(name) {
			return fmt.Errorf("line %d: want name=value with a name of [A-Za-z0-9_.-]+", n)
		}
		into[name] = value
	}
	return sc.Err()
}

// Lookup returns the named secret.
func (s *Store) Lookup(name string) (Secret, error) {
	getenv := s.getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if v, ok := getenv(EnvName(name)); ok {
		return secret.New(v), nil
	}
	if v, ok := s.values[name]; ok {
		return secret.New(v), nil
	}
	if v, ok := s.delivered[name]; ok {
		return v, nil
	}
	where := "environment " + EnvName(name)
	if s.path != "" {
		where = "secrets file " + s.path + " or " + where
	}
	return Secret{}, fmt.Errorf("${secret:%s}: %w (looked in %s)", name, ErrNotFound, where)
}

// ResolveFor is Resolve for ref used as u says (its field, destinations
// and protection; u.Name is not read): a value the control plane
// delivered may go only to the destinations it was bound to there, and
// with no weaker protection than bound there (a gateway's own values are
// not bound). The error names the field, the secret and the destination
// or protection, never a value.
func (s *Store) ResolveFor(ref string, u secretdest.Use) (Secret, error) {
	field := u.Field
	sec, err := s.Resolve(field, ref)
	if err != nil {
		return sec, err
	}
	if was, asked, weaker := u.Protection.Weaker(sec.Protection()); weaker {
		return Secret{}, fmt.Errorf("%s: %s was delivered by the control plane to be sent with %s or stronger; %s asks for %s (the control plane's secret min_protection must allow it)",
			field, ref, was, u.ProtField, asked)
	}
	allowed, bound := sec.Destinations()
	if !bound {
		return sec, nil
	}
	for _, d := range u.Destinations {
		if !slices.Contains(allowed, d) {
			only := "no destination"
			if len(allowed) > 0 {
				only = strings.Join(allowed, ", ") + " only"
			}
			return Secret{}, fmt.Errorf("%s: %s was delivered by the control plane for %s; %s names %s (the control plane's secret destinations must list it)",
				field, ref, only, u.DestField, d)
		}
	}
	return sec, nil
}

// Resolve takes a configuration value that must be a `${secret:name}` or
// `${vault:path#key}` reference (or empty: no secret) and returns the
// secret. field names the setting in errors.
func (s *Store) Resolve(field, ref string) (Secret, error) {
	if ref == "" {
		return Secret{}, nil
	}
	if path, key, ok := secret.ParseVaultRef(ref); ok {
		if s.vault == nil {
			return Secret{}, fmt.Errorf("%s: %s needs Vault, which is not configured (vault: in agent.yaml)", field, ref)
		}
		v, err := s.vault.Read(context.Background(), path, key)
		if err != nil {
			return Secret{}, fmt.Errorf("%s: %s: %w", field, ref, err)
		}
		return v, nil
	}
	name, ok := ParseRef(ref)
	if !ok {
		return Secret{}, fmt.Errorf("%s: must be a ${secret:name} or ${vault:path#key} reference, not a literal value", field)
	}
	sec, err := s.Lookup(name)
	if err != nil {
		return Secret{}, fmt.Errorf("%s: %w", field, err)
	}
	return sec, nil
}
