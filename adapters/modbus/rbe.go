package modbus

import (
	"math"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

// exception decides, per tag, whether a polled value is worth emitting:
// report-by-exception with an absolute deadband and a maximum silence.
type exception struct {
	value   any
	quality adapters.Quality
	sent    time.Time
	valid   bool
}

// changed reports whether v (with quality q, read at now) must be emitted,
// and if so remembers it as the last value sent.
func (e *exception) changed(v any, q adapters.Quality, now time.Time, deadband float64, g *PollGroup) bool {
	emit := g.Always || !e.valid || q != e.quality || differs(e.value, v, deadband) ||
		(g.MaxSilence > 0 && now.Sub(e.sent) >= time.Duration(g.MaxSilence))
	if emit {
		*e = exception{value: v, quality: q, sent: now, valid: true}
	}
	return emit
}

func differs(old, v any, deadband float64) bool {
	switch x := v.(type) {
	case int64, uint64, float64:
		o, n := toFloat(old), toFloat(x)
		if math.IsNaN(o) != math.IsNaN(n) {
			return true
		}
		if deadband == 0 {
			return old != v
		}
		return math.Abs(n-o) > deadband
	}
	return old != v
}
