package simtest

import (
	"context"
	"sync/atomic"

	"github.com/streamforge/streamforge/adapters"
)

// CountingSink is an adapters.Sink for benchmarks: it only counts readings, and
// closes Done once Target have arrived.
type CountingSink struct {
	Target int64
	Done   chan struct{}
	n      atomic.Int64
}

// NewCountingSink returns a counter that signals after target readings.
func NewCountingSink(target int64) *CountingSink {
	return &CountingSink{Target: target, Done: make(chan struct{})}
}

// Put counts the readings.
func (c *CountingSink) Put(_ context.Context, rs []adapters.Reading) error {
	n := c.n.Add(int64(len(rs)))
	if n >= c.Target && n-int64(len(rs)) < c.Target {
		close(c.Done)
	}
	return nil
}

// N is how many readings have arrived.
func (c *CountingSink) N() int64 { return c.n.Load() }
