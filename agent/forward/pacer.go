package forward

import (
	"context"
	"time"
)

// pacer spaces out produced records to at most rate per second (0: no cap).
// It allows a burst of one read batch, so the cap holds over any second.
type pacer struct {
	rate float64
	next time.Time
}

func newPacer(rate float64) *pacer { return &pacer{rate: rate} }

// take lets up to n records go now without waiting: all n if the pacer
// allows any, else none and how long until it will.
func (p *pacer) take(n int) (int, time.Duration) {
	if p.rate <= 0 {
		return n, 0
	}
	now := time.Now()
	if d := p.next.Sub(now); d > 0 {
		return 0, d
	}
	p.next = now.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	return n, 0
}

// wait blocks until n more records may go, or ctx ends.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return nil
	}
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
