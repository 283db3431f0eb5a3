package adapters

import (
	"context"
	"time"
)

// Duration is a time.Duration written as "250ms" in YAML.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Backoff spaces reconnect attempts to a failing device: Initial after the
// first failure, doubling up to Max. Each adapter sets its own defaults.
type Backoff struct {
	Initial Duration `yaml:"initial"`
	Max     Duration `yaml:"max"`
}

// Next is the wait after cur: twice as long, at most Max.
func (b Backoff) Next(cur time.Duration) time.Duration { return min(2*cur, time.Duration(b.Max)) }

// Sleep waits for d or until ctx is done; it reports whether to go on.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
