package buffer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/adapters"
)

func open(t testing.TB, dir string, opts Options) *Buffer {
	t.Helper()
	b, err := Open(filepath.Join(dir, "buffer.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func reading(device, tag string, v any) adapters.Reading {
	return adapters.Reading{GatewayID: "gw1", Device: device, Tag: tag, Type: adapters.TypeFloat64,
		Value: v, SourceTime: time.Unix(1700000000, 123456789).UTC()}
}

func readAll(t testing.TB, b *Buffer) []Record {
	t.Helper()
	recs, err := b.Read(nil, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// checkOrder fails unless every stream's Seqs grow by one along the ID order.
func checkOrder(t testing.TB, recs []Record) map[string]uint64 {
	t.Helper()
	last := map[string]uint64{}
	var prevID uint64
	for _, r := range recs {
		if r.ID <= prevID {
			t.Fatalf("ID %d after %d", r.ID, prevID)
		}
		prevID = r.ID
		k := r.Reading.StreamKey()
		if l, ok := last[k]; ok && r.Reading.Seq != l+1 {
			t.Fatalf("stream %s: seq %d after %d (id %d)", k, r.Reading.Seq, l, r.ID)
		}
		last[k] = r.Reading.Seq
	}
	return last
}

func TestPutReadRoundTripKeepsEveryFieldAndAssignsSeq(t *testing.T) {
	b := open(t, t.TempDir(), Options{})
	in := []adapters.Reading{
		reading("plc1", "temp", 21.5),
		{GatewayID: "gw1", Device: "plc1", Tag: "run", Type: adapters.TypeBool, Value: true, Quality: adapters.QualityUncertain},
		{GatewayID: "gw1", Device: "plc2", Tag: "count", Type: adapters.TypeInt16, Value: int64(-42), Quality: adapters.QualityBad,
			SourceTime: time.Unix(0, 1).UTC()},
		{GatewayID: "gw1", Device: "plc2", Tag: "total", Type: adapters.TypeUint64, Value: uint64(1 << 63)},
		{GatewayID: "gw1", Device: "plc2", Tag: "name", Type: adapters.TypeString, Value: "pump ü"},
		{GatewayID: "gw1", Device: "plc2", Tag: "odd", Type: "decimal128", Value: nil},
		reading("plc1", "temp", 22.5),
	}
	if err := b.Put(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	wantSeq := []uint64{1, 1, 1, 1, 1, 1, 2}
	for i, r := range in {
		if r.Seq != wantSeq[i] {
			t.Errorf("reading %d: seq %d, want %d", i, r.Seq, wantSeq[i])
		}
	}
	recs := readAll(t, b)
	if len(recs) != len(in) {
		t.Fatalf("read %d records, want %d", len(recs), len(in))
	}
	for i, r := range recs {
		if r.ID != uint64(i+1) || !reflect.DeepEqual(r.Reading, in[i]) {
			t.Errorf("record %d: got %d %+v, want %+v", i, r.ID, r.Reading, in[i])
		}
	}
	if got, _ := b.Read(nil, 3, 2); len(got) != 2 || got[0].ID != 4 || got[1].ID != 5 {
		t.Errorf("Read(3, 2) = %+v, want IDs 4 and 5", got)
	}
	// A reused result is overwritten from its start, never appended to.
	reused, err := b.Read(recs, 4, 1)
	if err != nil || len(reused) != 1 || reused[0].ID != 5 || !reflect.DeepEqual(reused[0].Reading, in[4]) {
		t.Errorf("Read(recs, 4, 1) = %+v, %v; want record 5 only", reused, err)
	}
}

func TestPutRejectsUnsupportedValueAndStoresNothing(t *testing.T) {
	b := open(t, t.TempDir(), Options{})
	err := b.Put(context.Background(), []adapters.Reading{reading("d", "ok", 1.0), reading("d", "bad", struct{}{})})
	if err == nil {
		t.Fatal("Put accepted a struct value")
	}
	if n := len(readAll(t, b)); n != 0 {
		t.Errorf("%d records stored after a failed Put", n)
	}
}

func TestPutRefusesOversizedStringAndStoresNothing(t *testing.T) {
	b := open(t, t.TempDir(), Options{})
	long := reading("d", "blob", strings.Repeat("x", adapters.MaxStringValue+1))
	long.Type = adapters.TypeString
	err := b.Put(context.Background(), []adapters.Reading{reading("d", "ok", 1.0), long})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "gw1/d/blob") {
		t.Fatalf("Put of a %d-byte string: %v, want ErrTooLarge naming the stream", adapters.MaxStringValue+1, err)
	}
	if n := len(readAll(t, b)); n != 0 {
		t.Errorf("%d records stored after a refused Put", n)
	}
}

func TestSeqAndIDsContinueAcrossReopenAfterAck(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir, Options{})
	ctx := context.Background()
	for range 3 {
		if err := b.Put(ctx, []adapters.Reading{reading("d", "t", 1.0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Ack(1, 2, 3, 99); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Records != 0 || s.Bytes != 0 || s.OldestAge != 0 {
		t.Fatalf("after acking everything: %+v", s)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, dir, Options{})
	r := []adapters.Reading{reading("d", "t", 2.0), reading("d", "u", 2.0)}
	if err := b.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r[0].Seq != 4 || r[1].Seq != 1 {
		t.Errorf("seqs after reopen: %d, %d; want 4, 1", r[0].Seq, r[1].Seq)
	}
	recs := readAll(t, b)
	if len(recs) != 2 || recs[0].ID != 4 || recs[1].ID != 5 {
		t.Errorf("records after reopen: %+v, want IDs 4 and 5", recs)
	}
	if s := b.Stats(); s.Records != 2 || s.Bytes <= 0 {
		t.Errorf("stats after reopen: %+v", s)
	}
}

func TestConcurrentPutsAreGroupCommittedInOrder(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := open(t, t.TempDir(), Options{Registerer: reg})
	const writers, puts = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range puts {
				r := []adapters.Reading{reading(fmt.Sprint("dev", w), "t", float64(i)), reading("shared", "t", float64(i))}
				if err := b.Put(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	recs := readAll(t, b)
	if len(recs) != writers*puts*2 {
		t.Fatalf("%d records, want %d", len(recs), writers*puts*2)
	}
	last := checkOrder(t, recs)
	if last["gw1/shared/t"] != writers*puts {
		t.Errorf("shared stream ends at seq %d, want %d", last["gw1/shared/t"], writers*puts)
	}
	n := uint64(metric(t, reg, "streamforge_buffer_commit_batch_readings", nil))
	t.Logf("%d puts in %d commits", writers*puts, n)
	if n == 0 || n >= writers*puts {
		t.Errorf("%d commits for %d concurrent puts: nothing was grouped", n, writers*puts)
	}
}

func TestWaitBlocksUntilANewerRecordExists(t *testing.T) {
	b := open(t, t.TempDir(), Options{})
	ctx := context.Background()
	if err := b.Put(ctx, []adapters.Reading{reading("d", "t", 1.0)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(ctx, 0); err != nil {
		t.Fatalf("Wait(0) with a record stored: %v", err)
	}
	if err := b.Ack(1); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := b.Wait(short, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on an emptied buffer returned %v, want deadline", err)
	}
	woke := make(chan error, 1)
	go func() { woke <- b.Wait(ctx, 1) }()
	time.Sleep(20 * time.Millisecond) // a window for a wrong early return: no event marks its absence
	select {
	case err := <-woke:
		t.Fatalf("Wait returned before a record arrived: %v", err)
	default:
	}
	if err := b.Put(ctx, []adapters.Reading{reading("d", "t", 2.0)}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake on a new record")
	}
}

func TestCloseWakesWaitersAndRefusesPuts(t *testing.T) {
	b := open(t, t.TempDir(), Options{})
	woke := make(chan error, 1)
	go func() { woke <- b.Wait(context.Background(), 0) }()
	time.Sleep(10 * time.Millisecond) // most runs close under a waiting Wait; either order must end in ErrClosed
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close: %v", err)
	}
	if err := b.Put(context.Background(), []adapters.Reading{reading("d", "t", 1.0)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
}

func TestOptionsValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"ok", Options{Rules: []Rule{{Name: "alarms", KeyPrefix: "gw/plc1/alarm", Policy: Block}}}, ""},
		{"fail-negative-max", Options{MaxBytes: -1}, "max_bytes"},
		{"fail-default-policy", Options{DefaultPolicy: "drop_all"}, "default_policy"},
		{"fail-no-name", Options{Rules: []Rule{{Device: "d", Policy: Block}}}, "streams[0].name"},
		{"fail-duplicate", Options{Rules: []Rule{{Name: "a", Device: "d", Policy: Block}, {Name: "a", Device: "e", Policy: Block}}}, "streams[1].name"},
		{"fail-reserved-name", Options{Rules: []Rule{{Name: "default", Device: "d", Policy: Block}}}, "streams[0].name"},
		{"fail-no-match", Options{Rules: []Rule{{Name: "a", Policy: Block}}}, "device or key_prefix"},
		{"fail-policy", Options{Rules: []Rule{{Name: "a", Device: "d", Policy: "never"}}}, "streams[0].policy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.opts.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}

// metric returns a gathered gauge's or counter's value, or a histogram's
// sample count, for the series whose labels include want.
func metric(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue series
				}
			}
			switch {
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			default:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s %v not found", name, want)
	return 0
}

func TestSecondOpenOfTheSameFileFailsClearly(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	if _, err := Open(filepath.Join(dir, "buffer.db"), Options{}); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v", err)
	}
}
