package alarms

import (
	"time"

	"github.com/streamforge/streamforge/cloud/store"
)

// holdOff decides, from one evaluation to the next, which conditions become
// alarms and which alarms clear. A condition is raised only once it has
// been present in every evaluation for RaiseAfter, and an open alarm
// clears only once its condition has been absent for ClearAfter: a device
// that flaps faster than that raises one alarm (or none), not one per flap.
// Its memory is per process; the open alarms come from the database, so a
// restarted (or second) evaluator agrees on what is open and only restarts
// the hold-off clocks.
type holdOff struct {
	raiseAfter, clearAfter time.Duration
	pending                map[string]time.Time // present since, not raised yet
	absent                 map[string]time.Time // open alarm's condition gone since
}

func newHoldOff(raiseAfter, clearAfter time.Duration) *holdOff {
	return &holdOff{raiseAfter: raiseAfter, clearAfter: clearAfter, pending: map[string]time.Time{}, absent: map[string]time.Time{}}
}

// plan is what one evaluation changes.
type plan struct {
	raise []Condition
	keep  map[uint64]Condition // open alarm id -> its condition, still present
	clear []uint64
}

// step compares the conditions present now with the open alarms.
func (h *holdOff) step(now time.Time, present []Condition, open []store.Alarm) plan {
	p := plan{keep: map[uint64]Condition{}}
	byKey := make(map[string]Condition, len(present))
	for _, c := range present {
		byKey[c.Key()] = c
	}
	openKeys := make(map[string]bool, len(open))
	for _, a := range open {
		openKeys[a.Key] = true
		if c, ok := byKey[a.Key]; ok {
			delete(h.absent, a.Key)
			p.keep[a.ID] = c
			continue
		}
		gone, ok := h.absent[a.Key]
		if !ok {
			gone, h.absent[a.Key] = now, now
		}
		if now.Sub(gone) >= h.clearAfter {
			p.clear = append(p.clear, a.ID)
			delete(h.absent, a.Key)
		}
	}
	for k := range h.absent {
		if !openKeys[k] {
			delete(h.absent, k)
		}
	}
	for k := range h.pending {
		if _, ok := byKey[k]; !ok || openKeys[k] {
			delete(h.pending, k) // a flap resets the clock
		}
	}
	for _, c := range present {
		k := c.Key()
		if openKeys[k] {
			continue
		}
		first, ok := h.pending[k]
		if !ok {
			first, h.pending[k] = now, now
		}
		if c.Immediate || now.Sub(first) >= h.raiseAfter {
			p.raise = append(p.raise, c)
			delete(h.pending, k)
		}
	}
	return p
}
