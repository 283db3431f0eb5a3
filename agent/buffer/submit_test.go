package buffer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

// TestSubmitsCommitInOrder: readings submitted one after another without
// waiting are committed in that order (each stream's Seq follows the
// submissions), and each wait reports its own commit.
func TestSubmitsCommitInOrder(t *testing.T) {
	b := open(t, t.TempDir(), Options{MaxBytes: 64 << 20})
	var batches [][]adapters.Reading
	var waits []func() error
	for i := range 50 {
		batch := []adapters.Reading{reading("plc1", "a", float64(i)), reading("plc1", "b", float64(i))}
		wait, err := b.Submit(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		batches, waits = append(batches, batch), append(waits, wait)
	}
	for i, wait := range waits {
		if err := wait(); err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
		for _, r := range batches[i] {
			if r.Seq != uint64(i+1) {
				t.Fatalf("submission %d: %s has seq %d, want %d", i, r.Tag, r.Seq, i+1)
			}
		}
	}
	recs := readAll(t, b)
	if len(recs) != 100 {
		t.Fatalf("%d records stored, want 100", len(recs))
	}
	for i, r := range recs {
		if want := float64(i / 2); r.Reading.Value != want {
			t.Fatalf("record %d holds %v, want %v: the commits lost the submissions' order", i, r.Reading.Value, want)
		}
	}
}

// TestSubmitWaitsForRoomInTheQueue: readings submitted and not yet taken
// by the committer are bounded (maxQueued): a Submit beyond it waits until
// the committer takes what was queued, and gives up with its context.
func TestSubmitWaitsForRoomInTheQueue(t *testing.T) {
	b := open(t, t.TempDir(), Options{MaxBytes: 64 << 20})
	first := &request{queued: maxQueued}
	if err := b.queue(context.Background(), first.queued); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Submit(ctx, []adapters.Reading{reading("plc1", "a", 1.0)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit with the queue full: %v, want it to wait until its context ends", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Put(context.Background(), []adapters.Reading{reading("plc1", "a", 2.0)}) }()
	select {
	case err := <-done:
		t.Fatalf("Put returned (%v) while the queue was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.dequeued(first) // as the committer does when it takes a request
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if recs := readAll(t, b); len(recs) != 1 || recs[0].Reading.Value != 2.0 {
		t.Fatalf("stored %+v, want the one reading put after the queue had room", recs)
	}
}
