package rollout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a number of gateways, given as a count (2 or "2") or as a
// percentage of all targets ("10%", rounded up).
type Size struct {
	N       int
	Percent float64
	// bad says why the JSON given was no size: kept for Err, so that the
	// API answers with the field's name rather than a decoding error.
	bad string
}

// Err says why the size read from JSON is not one (nil: it is).
func (s Size) Err() error {
	if s.bad == "" {
		return nil
	}
	return errors.New(s.bad)
}

// UnmarshalJSON reads a count or a "N%" string; anything else is kept as
// an error for Err.
func (s *Size) UnmarshalJSON(b []byte) error {
	var str string
	if bytes.HasPrefix(b, []byte(`"`)) {
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
	} else if len(b) > 32 {
		str = "(too long)"
	} else {
		str = string(b)
	}
	parsed, err := ParseSize(str)
	if err != nil {
		parsed.bad = err.Error()
	}
	*s = parsed
	return nil
}

// MarshalJSON writes a count as a number, a percentage as "N%".
func (s Size) MarshalJSON() ([]byte, error) {
	if s.Percent > 0 {
		return json.Marshal(strconv.FormatFloat(s.Percent, 'f', -1, 64) + "%")
	}
	return json.Marshal(s.N)
}

// ParseSize reads "3" or "25%".
func ParseSize(str string) (Size, error) {
	str = strings.TrimSpace(str)
	if p, ok := strings.CutSuffix(str, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 || math.IsNaN(f) {
			return Size{}, fmt.Errorf("want a percentage above 0 and at most 100, got %q", str)
		}
		return Size{Percent: f}, nil
	}
	n, err := strconv.Atoi(str)
	if err != nil || n < 0 {
		return Size{}, fmt.Errorf("want a count (0 or more) or a percentage like \"10%%\", got %q", str)
	}
	return Size{N: n}, nil
}

// Of is the size's number of gateways out of total (a percentage is
// rounded up, so it is never 0 of a non-empty fleet).
func (s Size) Of(total int) int {
	if s.Percent > 0 {
		return int(math.Ceil(s.Percent * float64(total) / 100))
	}
	return min(s.N, total)
}

// Waves cuts targets (in order) into waves: canary gateways first (at
// least one), then waves of wave gateways each (at least one; a zero
// size means all the rest at once).
func Waves(targets []string, canary, wave Size) [][]string {
	if len(targets) == 0 {
		return nil
	}
	c := max(canary.Of(len(targets)), 1)
	out := [][]string{targets[:c]}
	rest := targets[c:]
	step := wave.Of(len(targets))
	if step <= 0 {
		step = len(rest)
	}
	for len(rest) > 0 {
		n := min(step, len(rest))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out
}
