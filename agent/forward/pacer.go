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
