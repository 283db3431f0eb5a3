package pipeline

import (
	"fmt"
	"strings"

	"github.com/streamforge/streamforge/pkg/units"
)

// Buffer configures the agent's disk buffer (agent/buffer).
type Buffer struct {
	// MaxBytes bounds the buffered records: a number of bytes or a size such
	// as "512MiB" or "2GB" (default 256MiB).
	MaxBytes units.ByteSize `yaml:"max_bytes"`
	// DefaultPolicy applies to streams no rule in Streams matches.
	DefaultPolicy Policy       `yaml:"default_policy"`
	Streams       []StreamRule `yaml:"streams"`
}

// DefaultMaxBytes is Buffer.MaxBytes when not set.
const DefaultMaxBytes = 256 << 20

// Policy is what a full buffer does with a stream's new readings.
type Policy string

// The overflow policies.
const (
	Block      Policy = "block"
	DropOldest Policy = "drop_oldest"
	DropNewest Policy = "drop_newest"
)

// Valid reports whether p is one of the policies.
func (p Policy) Valid() bool { return p == Block || p == DropOldest || p == DropNewest }

// StreamRule assigns streams to an overflow policy. A stream matches when
// its device equals Device (if set) and its key (gateway/device/tag) starts
// with KeyPrefix (if set); at least one must be set.
type StreamRule struct {
	Name      string `yaml:"name"`
	Device    string `yaml:"device,omitempty"`
	KeyPrefix string `yaml:"key_prefix,omitempty"`
	Policy    Policy `yaml:"policy"`
}

// DefaultRule names the rule of streams no configured rule matches.
const DefaultRule = "default"

// SetDefaults fills what is not set.
func (b *Buffer) SetDefaults() {
	if b.MaxBytes == 0 {
		b.MaxBytes = DefaultMaxBytes
	}
	if b.DefaultPolicy == "" {
		b.DefaultPolicy = Block
	}
}

// ValidateBuffer checks a buffer's bound, default policy and rules and
// names the bad field (relative to buffer). agent/buffer checks its
// options with it too.
func ValidateBuffer(maxBytes int64, def Policy, rules []StreamRule) error {
	if maxBytes < 0 {
		return fmt.Errorf("max_bytes: %d is negative", maxBytes)
	}
	if def != "" && !def.Valid() {
		return fmt.Errorf("default_policy: %q is not block, drop_oldest or drop_newest", def)
	}
	seen := map[string]bool{DefaultRule: true}
	for i, r := range rules {
		switch {
		case r.Name == "" || strings.ContainsAny(r.Name, "/ "):
			return fmt.Errorf("streams[%d].name: %q must be non-empty without '/' or spaces", i, r.Name)
		case seen[r.Name]:
			return fmt.Errorf("streams[%d].name: %q is used twice (or is the reserved %q)", i, r.Name, DefaultRule)
		case r.Device == "" && r.KeyPrefix == "":
			return fmt.Errorf("streams[%d]: set device or key_prefix", i)
		case !r.Policy.Valid():
			return fmt.Errorf("streams[%d].policy: %q is not block, drop_oldest or drop_newest", i, r.Policy)
		}
		seen[r.Name] = true
	}
	return nil
}
