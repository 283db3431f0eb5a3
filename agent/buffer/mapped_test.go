package buffer

import (
	"context"
	"fmt"
	"testing"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestReadPagesLeaveResidentMemory: pages the reader touched count in the
// agent's resident memory until released; after a release they no longer
// do, and every record reads back the same.
func TestReadPagesLeaveResidentMemory(t *testing.T) {
	b := open(t, t.TempDir(), Options{MaxBytes: 256 << 20})
	batch := make([]adapters.Reading, 1000)
	for i := range 40 {
		for j := range batch {
			batch[j] = reading("plc1", fmt.Sprintf("t%04d", j), float64(i))
		}
		if err := b.Put(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	before := readAll(t, b)
	touched := testenv.MappedRSS(t, 0, "buffer.db")
	if touched < 1024 {
		t.Fatalf("reading 40,000 records left only %.0f kB of the buffer resident; the test needs more", touched)
	}
	b.releaseMapped()
	if left := testenv.MappedRSS(t, 0, "buffer.db"); left > touched/4 {
		t.Errorf("%.0f kB of the buffer still resident after the release (%.0f kB before)", left, touched)
	}
	after := readAll(t, b)
	if len(after) != len(before) {
		t.Fatalf("read %d records after the release, %d before", len(after), len(before))
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].Reading.Seq != before[i].Reading.Seq ||
			after[i].Reading.Value != before[i].Reading.Value || after[i].Reading.Tag != before[i].Reading.Tag {
			t.Fatalf("record %d differs after the release: %+v, was %+v", i, after[i], before[i])
		}
	}
}
