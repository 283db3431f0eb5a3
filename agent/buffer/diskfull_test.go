package buffer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/internal/testenv"
)

func TestOpenRefusesMaxBytesTheDiskCannotHold(t *testing.T) {
	dir := testenv.SmallDisk(t, 8<<20)
	_, err := Open(filepath.Join(dir, "buffer.db"), Options{MaxBytes: 16 << 20})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "buffer.max_bytes") {
		t.Fatalf("Open with max_bytes above the free space: %v, want ErrNoSpace naming buffer.max_bytes", err)
	}
	if free := testenv.FreeBytes(t, dir); free < 7<<20 {
		t.Errorf("a refused Open left its reservation behind: %d bytes free", free)
	}
	b := open(t, dir, Options{MaxBytes: 2 << 20})
	st, err := os.Stat(filepath.Join(dir, "buffer.db"))
	if err != nil || st.Size() < reserveSize(2<<20) {
		t.Fatalf("buffer file %v (%v), want at least %d bytes reserved", st.Size(), err, reserveSize(2<<20))
	}
	_ = b
}

// putUntilFull puts batches of a blocking stream until the buffer blocks.
func putUntilFull(t *testing.T, b *Buffer) int {
	t.Helper()
	n := 0
	for {
		batch := make([]adapters.Reading, 100)
		for i := range batch {
			batch[i] = reading("d", fmt.Sprintf("t%d", i%10), float64(n+i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := b.Put(ctx, batch)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return n
		}
		if err != nil {
			t.Fatalf("put after %d readings: %v", n, err)
		}
		n += len(batch)
	}
}

// The reservation makes max_bytes a promise: another writer fills the disk,
// and the buffer still takes readings up to its bound, then blocks as its
// policy says, with no commit failing.
func TestReservedBufferFillsToMaxBytesOnAFullDisk(t *testing.T) {
	dir := testenv.SmallDisk(t, 16<<20)
	b := open(t, dir, Options{MaxBytes: 2 << 20})
	testenv.FillDisk(t, dir, 0)
	n := putUntilFull(t, b)
	s := b.Stats()
	if s.DiskFull || len(s.Unstored) != 0 || s.Bytes < 2<<20-100*charge(t, "d") {
		t.Fatalf("after %d readings on a full disk: %+v, want the buffer full to max_bytes and no disk-full", n, s)
	}
	checkOrder(t, readAll(t, b))
}

// Without a reservation (a filesystem without fallocate, a file grown past
// it) a full disk holds blocking Puts until space returns, drops and counts
// drop_* readings, and recovers: nothing of the blocking stream is lost.
func TestFullDiskHoldsBlockingPutsDropsOthersAndRecovers(t *testing.T) {
	dir := testenv.SmallDisk(t, 4<<20)
	reg := prometheus.NewRegistry()
	b := open(t, dir, Options{MaxBytes: 64 << 20, NoReserve: true, Registerer: reg,
		Rules: []Rule{{Name: "lossy", Device: "lossy", Policy: DropNewest}}})
	putOne(t, b, "d", 0)
	filler := testenv.FillDisk(t, dir, 0)

	const puts = 50
	done := make(chan error, 1)
	var put [][]adapters.Reading
	for i := range puts {
		batch := make([]adapters.Reading, 200)
		for j := range batch {
			batch[j] = reading("d", fmt.Sprintf("t%d", j%20), float64(i*1000+j))
		}
		put = append(put, batch)
	}
	go func() {
		for _, batch := range put {
			if err := b.Put(context.Background(), batch); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	testenv.Eventually(t, 30*time.Second, "disk full", func() bool { return b.Stats().DiskFull })
	lossy := []adapters.Reading{reading("lossy", "t", 1.0)}
	if err := b.Put(context.Background(), lossy); err != nil || lossy[0].Seq != 0 {
		t.Fatalf("drop_newest Put on a full disk: %v, seq %d; want dropped without error", err, lossy[0].Seq)
	}
	if v := metric(t, reg, "streamforge_buffer_unstored_readings_total",
		map[string]string{"stream": "lossy", "policy": "drop_newest", "reason": "disk_full"}); v < 1 {
		t.Errorf("unstored metric %v, want >= 1", v)
	}
	if v := metric(t, reg, "streamforge_buffer_disk_full", nil); v != 1 {
		t.Errorf("disk_full gauge %v, want 1", v)
	}
	select {
	case err := <-done:
		t.Fatalf("blocking Puts returned (%v) while the disk was full", err)
	default:
	}

	filler.Free(t, 0)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("blocking Puts still held 30s after space returned")
	}
	recs := readAll(t, b)
	last := checkOrder(t, recs)
	var stored uint64
	for k, seq := range last {
		if strings.Contains(k, "/d/") {
			stored += seq
		}
	}
	if want := uint64(1 + puts*200); stored != want {
		t.Fatalf("blocking stream: %d readings stored (by seq), want %d", stored, want)
	}
	for _, batch := range put {
		for _, r := range batch {
			if r.Seq == 0 {
				t.Fatal("a blocking reading was answered without a seq")
			}
		}
	}
	s := b.Stats()
	if s.DiskFull || s.Unstored["default/block/disk_full"] != 0 {
		t.Errorf("after recovery: %+v", s)
	}
	if v := metric(t, reg, "streamforge_buffer_put_blocked_seconds_total", nil); v <= 0 {
		t.Errorf("blocked seconds %v, want > 0", v)
	}
}

// A delete that fails on a full disk is kept in memory and retried; the
// delivered records are not read again, so the forwarder cannot re-send
// them.
func TestFailedDeleteIsRetriedAndNotReadAgain(t *testing.T) {
	dir := testenv.SmallDisk(t, 8<<20)
	b := open(t, dir, Options{MaxBytes: 64 << 20, NoReserve: true})
	batch := make([]adapters.Reading, 20000)
	for i := range batch {
		batch[i] = reading("d", fmt.Sprintf("t%d", i%50), float64(i))
	}
	if err := b.Put(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	filler := testenv.FillDisk(t, dir, 0)
	recs := readAll(t, b)
	var acked []uint64 // every other record: every page must be rewritten
	for i := 0; i < len(recs); i += 2 {
		acked = append(acked, recs[i].ID)
	}
	if err := b.Ack(acked...); err != nil {
		t.Fatalf("Ack on a full disk: %v, want the delete deferred", err)
	}
	s := b.Stats()
	if s.PendingDeletes != len(acked) || !s.DiskFull {
		t.Fatalf("pending deletes %d (disk full %v), want %d deferred", s.PendingDeletes, s.DiskFull, len(acked))
	}
	if left := readAll(t, b); len(left) != len(recs)-len(acked) || left[0].ID != recs[1].ID {
		t.Fatalf("Read returned %d records (first %d), want %d without the delivered ones", len(left), left[0].ID, len(recs)-len(acked))
	}
	if err := b.Wait(context.Background(), recs[len(recs)-1].ID-1); err != nil {
		t.Fatal(err)
	}
	filler.Free(t, 0)
	testenv.Eventually(t, 30*time.Second, "deferred deletes committed", func() bool { return b.Stats().PendingDeletes == 0 })
	if s := b.Stats(); s.Records != uint64(len(recs)-len(acked)) || s.DiskFull {
		t.Fatalf("after recovery: %+v", s)
	}
}

// A held Put gives up when its caller's context ends (an adapter stopping),
// and Close does not wait for the disk: both are counted, nothing hangs.
func TestHeldPutsEndWithTheirContextAndAtClose(t *testing.T) {
	dir := testenv.SmallDisk(t, 4<<20)
	b, err := Open(filepath.Join(dir, "buffer.db"), Options{MaxBytes: 64 << 20, NoReserve: true})
	if err != nil {
		t.Fatal(err)
	}
	putOne(t, b, "d", 0)
	testenv.FillDisk(t, dir, 0)
	batch := func() []adapters.Reading {
		rs := make([]adapters.Reading, 5000)
		for i := range rs {
			rs[i] = reading("d", fmt.Sprintf("t%d", i), 1.0)
		}
		return rs
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() { cancelled <- b.Put(ctx, batch()) }()
	testenv.Eventually(t, 30*time.Second, "disk full", func() bool { return b.Stats().DiskFull })
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("held Put after cancel: %v, want context.Canceled", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Put(context.Background(), batch()) }()
	testenv.Eventually(t, 30*time.Second, "the cancelled Put counted", func() bool { return b.Stats().Unstored["default/block/cancelled"] == 5000 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err == nil {
		t.Fatal("a Put held at Close returned no error")
	}
}
