package buffer

import (
	"context"
	"testing"

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
