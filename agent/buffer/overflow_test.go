package buffer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/adapters"
)

// charge is what reading(device, "t", 1.0) counts against MaxBytes.
func charge(t testing.TB, device string) int64 {
	r := reading(device, "t", 1.0)
	body, err := encodeBody(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(body)) + recordOverhead
}

func putOne(t testing.TB, b *Buffer, device string, v float64) adapters.Reading {
	t.Helper()
	r := []adapters.Reading{reading(device, "t", v)}
	if err := b.Put(context.Background(), r); err != nil {
		t.Fatalf("put %s %v: %v", device, v, err)
	}
	return r[0]
}

func seqsOf(recs []Record) []uint64 {
	var s []uint64
	for _, r := range recs {
		s = append(s, r.Reading.Seq)
	}
	return s
}

func TestOverflowDropPoliciesKeepTheBoundAndCountEveryDrop(t *testing.T) {
	cases := []struct {
		name     string
		policy   Policy
		wantSeqs []uint64
	}{
		{"drop_newest-keeps-the-first-ten", DropNewest, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"drop_oldest-keeps-the-last-ten", DropOldest, []uint64{6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			limit := 10 * charge(t, "d")
			b := open(t, t.TempDir(), Options{MaxBytes: limit, DefaultPolicy: c.policy, Registerer: reg})
			for i := range 15 {
				r := putOne(t, b, "d", float64(i))
				if dropped := c.policy == DropNewest && i >= 10; dropped != (r.Seq == 0) {
					t.Errorf("put %d: seq %d", i, r.Seq)
				}
			}
			if got := seqsOf(readAll(t, b)); !slices.Equal(got, c.wantSeqs) {
				t.Errorf("stored seqs %v, want %v", got, c.wantSeqs)
			}
			s := b.Stats()
			if s.Bytes > limit || s.Records != 10 {
				t.Errorf("stats %+v over the limit %d", s, limit)
			}
			label := "default/" + string(c.policy)
			if s.Drops[label] != 5 {
				t.Errorf("drops %v, want 5 under %s", s.Drops, label)
			}
			if v := metric(t, reg, "streamforge_buffer_dropped_readings_total",
				map[string]string{"stream": "default", "policy": string(c.policy)}); v != 5 {
				t.Errorf("drop metric %v, want 5", v)
			}
			if v := metric(t, reg, "streamforge_buffer_records", nil); v != 10 {
				t.Errorf("records metric %v, want 10", v)
			}
		})
	}
}

func TestDropOldestNeverDropsAnotherRulesRecords(t *testing.T) {
	c := charge(t, "alarm")
	if charge(t, "other") != c {
		t.Fatal("test devices need equal charges")
	}
	rules := []Rule{{Name: "alarms", Device: "alarm", Policy: Block}}
	b := open(t, t.TempDir(), Options{MaxBytes: 10 * c, DefaultPolicy: DropOldest, Rules: rules})
	for i := range 6 {
		putOne(t, b, "alarm", float64(i))
	}
	for i := range 6 {
		putOne(t, b, "other", float64(i))
	}
	recs := readAll(t, b)
	var alarms, others []uint64
	for _, r := range recs {
		if r.Reading.Device == "alarm" {
			alarms = append(alarms, r.Reading.Seq)
		} else {
			others = append(others, r.Reading.Seq)
		}
	}
	if !slices.Equal(alarms, []uint64{1, 2, 3, 4, 5, 6}) || !slices.Equal(others, []uint64{3, 4, 5, 6}) {
		t.Errorf("alarms %v (want 1-6), others %v (want 3-6)", alarms, others)
	}
	// Fill the rest with alarms: a drop_oldest reading with none of its own
	// records left to drop is itself dropped.
	ids := []uint64{}
	for _, r := range recs {
		if r.Reading.Device == "other" {
			ids = append(ids, r.ID)
		}
	}
	if err := b.Ack(ids...); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		putOne(t, b, "alarm", float64(i))
	}
	if r := putOne(t, b, "other", 9); r.Seq != 0 {
		t.Errorf("reading stored with seq %d in a buffer full of another rule's records", r.Seq)
	}
	if d := b.Stats().Drops["default/drop_oldest"]; d != 3 {
		t.Errorf("drops %d, want 3 (2 oldest, 1 new)", d)
	}
}

func TestBlockPolicyWaitsForSpaceAndHonoursTheContext(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := open(t, t.TempDir(), Options{MaxBytes: 10 * charge(t, "d"), Registerer: reg})
	for i := range 10 {
		putOne(t, b, "d", float64(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Put(ctx, []adapters.Reading{reading("d", "t", 99)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put into a full blocking buffer: %v, want deadline exceeded", err)
	}
	done := make(chan adapters.Reading, 1)
	go func() { done <- putOne(t, b, "d", 10) }()
	select {
	case <-done:
		t.Fatal("Put returned while the buffer was full")
	case <-time.After(50 * time.Millisecond):
	}
	if err := b.Ack(1); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.Seq != 11 {
			t.Errorf("seq %d after a timed-out Put, want 11 (no gap)", r.Seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Put still blocked after an Ack freed space")
	}
	if len(b.Stats().Drops) != 0 {
		t.Errorf("block policy dropped: %v", b.Stats().Drops)
	}
	if v := metric(t, reg, "streamforge_buffer_put_blocked_seconds_total", nil); v <= 0 {
		t.Errorf("blocked seconds %v, want > 0", v)
	}
	tooMany := make([]adapters.Reading, 11)
	for i := range tooMany {
		tooMany[i] = reading("d", "t", 1.0)
	}
	if err := b.Put(context.Background(), tooMany); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put larger than the buffer: %v, want ErrTooLarge", err)
	}
}

func TestRecordsOfARemovedRuleAreStillReadAndAcked(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir, Options{Rules: []Rule{{Name: "alarms", Device: "alarm", Policy: DropNewest}}})
	putOne(t, b, "alarm", 1)
	putOne(t, b, "other", 2)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, dir, Options{})
	putOne(t, b, "alarm", 3)
	recs := readAll(t, b)
	if len(recs) != 3 || recs[0].Reading.Device != "alarm" || recs[2].Reading.Seq != 2 {
		t.Fatalf("after removing the rule: %+v", recs)
	}
	if err := b.Ack(recs[0].ID); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Records != 2 || s.Bytes != 2*charge(t, "alarm") {
		t.Errorf("stats after acking the orphaned record: %+v", s)
	}
}
