package conntest_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/conntest"
)

// lister counts its reads and answers what waiting holds.
type lister struct {
	waiting []string
	reads   int
}

func (l *lister) WaitingGateways(context.Context, int, time.Time) ([]string, error) {
	l.reads++
	return l.waiting, nil
}

// TestHintsReadOncePerInterval: polls within the interval share one read;
// a test asked for on another replica is seen after the interval, one
// asked for here (Forget) at once.
func TestHintsReadOncePerInterval(t *testing.T) {
	ctx := context.Background()
	l := &lister{}
	h := conntest.NewHints(l, time.Second)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	h.Now = func() time.Time { return now }
	want := func(gw string, waiting bool, reads int) {
		t.Helper()
		got, err := h.Waiting(ctx, gw)
		if err != nil || got != waiting || l.reads != reads {
			t.Fatalf("%s: waiting %v (%v) after %d reads; want %v after %d", gw, got, err, l.reads, waiting, reads)
		}
	}
	want("gw-1", false, 1)
	want("gw-2", false, 1)
	l.waiting = []string{"gw-1"} // asked for on another replica
	want("gw-1", false, 1)
	now = now.Add(time.Second)
	want("gw-1", true, 2)
	want("gw-2", false, 2)
	l.waiting = []string{"gw-1", "gw-2"}
	h.Forget() // asked for on this replica
	want("gw-2", true, 3)
}
