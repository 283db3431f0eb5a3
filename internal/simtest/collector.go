// Package simtest holds test-only helpers for the adapter tests that run
// against the simulated PLCs of adapters/sim: sinks that keep or count
// readings, and a TCP proxy that injects faults. They live apart from the
// simulators, which the demo and streamforge-sim ship, so that no product
// code carries them.
package simtest

import (
	"context"
	"sync"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

// Collector is an in-memory adapters.Sink for tests: it keeps every reading
// and lets a test wait for the ones it expects.
type Collector struct {
	mu       sync.Mutex
	readings []adapters.Reading
	changed  chan struct{}
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{changed: make(chan struct{})} }

// Put keeps the readings.
func (c *Collector) Put(_ context.Context, rs []adapters.Reading) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readings = append(c.readings, rs...)
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// Readings returns a copy of everything collected so far.
func (c *Collector) Readings() []adapters.Reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]adapters.Reading(nil), c.readings...)
}

// Count returns how many readings match keep.
func (c *Collector) Count(keep func(adapters.Reading) bool) int {
	n := 0
	for _, r := range c.Readings() {
		if keep(r) {
			n++
		}
	}
	return n
}

// WaitFor waits until at least n readings match keep; it reports whether
// that happened before timeout.
func (c *Collector) WaitFor(n int, keep func(adapters.Reading) bool, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if c.Count(keep) >= n {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// Since returns a filter for readings of device (and tag, when not empty)
// with the given quality, whose source time is after t.
func Since(device, tag string, q adapters.Quality, t time.Time) func(adapters.Reading) bool {
	return func(r adapters.Reading) bool {
		return r.Device == device && (tag == "" || r.Tag == tag) && r.Quality == q && r.SourceTime.After(t)
	}
}
