package forward

import (
	"context"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
	kafkatest "github.com/streamforge/streamforge/tests/kafka"
)

// A backlog drains no faster than DrainRate, oldest first, and in order.
func TestBacklogDrainsAtTheConfiguredRate(t *testing.T) {
	b := testenv.StartKfake(t, testenv.KafkaOpts{})
	src := newMemSource()
	src.Put(readings("plc1", 10, 1000)...) // 10,000 readings of backlog
	const rate = 4000.0
	began := time.Now()
	f, _ := start(t, Config{Brokers: b.Addr, DrainRate: rate, ReadBatch: 500}, src, quietLog(t))
	if err := src.waitEmpty(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	// The pacer lets one read batch go at once, then spaces the rest.
	if min := time.Duration((10000 - 500) / rate * float64(time.Second)); took < min {
		t.Errorf("10,000 readings drained in %s, faster than %v/s allows (%s)", took, rate, min)
	}
	t.Logf("drained 10,000 readings in %s (cap %v/s); rate gauge %v", took.Round(time.Millisecond), rate, value(t, f.metrics.drainRate))
	checkTopic(t, kafkatest.Conn{Brokers: b.Addr}, src, nil)
}

// With drain_order live_first, a backlog (here: 20,000 readings stored
// before the forwarder starts, older than live_lag) is set aside: readings
// taken since go at once, and the backlog drains behind them at the drain
// rate, flagged as backlog. Every reading arrives exactly once; within each
// flow a stream keeps its order.
func TestLiveFirstSendsLiveDataAheadOfTheBacklog(t *testing.T) {
	b := testenv.StartKfake(t, testenv.KafkaOpts{})
	src := newMemSource()
	const backlogPerStream = 2000
	src.Put(readings("plc1", 10, backlogPerStream)...)
	time.Sleep(300 * time.Millisecond) // the backlog is now older than live_lag
	const rate = 4000.0
	began := time.Now()
	f, _ := start(t, Config{Brokers: b.Addr, DrainOrder: LiveFirst, LiveLag: 200 * time.Millisecond,
		DrainRate: rate, ReadBatch: 500}, src, quietLog(t))
	stopFeed := feed(src) // 5,000 live readings/s into the same streams
	time.Sleep(2 * time.Second)
	stopFeed()
	if err := src.waitEmpty(60 * time.Second); err != nil {
		t.Fatalf("%v (last error %q)", err, f.LastError())
	}
	took := time.Since(began)
	if min := time.Duration((10*backlogPerStream - 500) / rate * float64(time.Second)); took < min {
		t.Errorf("backlog drained in %s, faster than %v/s allows (%s)", took, rate, min)
	}
	streams := checkFlows(t, kafkatest.Conn{Brokers: b.Addr}, src)
	for key, st := range streams {
		if st.firstLive != 0 && st.firstLive <= backlogPerStream {
			t.Fatalf("stream %s: a reading of the stored backlog was sent as live", key)
		}
		if !st.liveAhead {
			t.Errorf("stream %s: no live reading was written while its backlog drained", key)
		}
	}
	t.Logf("%d streams; backlog of %d drained behind live data in %s", len(streams), 10*backlogPerStream, took.Round(time.Millisecond))
}

// flows is what checkFlows saw of one stream.
type flows struct {
	firstLive, firstBacklog uint64 // lowest seq of each flow (0: none)
	backlog                 int    // backlog readings
	liveAhead               bool   // a live reading was written before the backlog's last one
}

// checkFlows reads telemetry.raw and checks a live_first delivery: every
// reading of src exactly once, and within each flow (live, backlog) every
// stream in increasing seq order.
func checkFlows(t *testing.T, conn kafkatest.Conn, src *memSource) map[string]*flows {
	t.Helper()
	last := src.Last()
	total := 0
	for _, v := range last {
		total += int(v)
	}
	recs, err := kafkatest.Read(context.Background(), conn, "telemetry.raw", 60*time.Second,
		func(r []kafkatest.Record) bool { return kafkatest.Unique(r) >= total })
	if err != nil {
		t.Fatal(err)
	}
	type state struct {
		flows
		prev       [2]uint64 // last seq: live, backlog
		seen       map[uint64]bool
		liveBefore bool
	}
	streams := map[string]*state{}
	for _, r := range recs {
		st := streams[r.Key]
		if st == nil {
			st = &state{seen: map[uint64]bool{}}
			streams[r.Key] = st
		}
		seq := r.Body.Seq
		if st.seen[seq] {
			t.Fatalf("stream %s: seq %d twice", r.Key, seq)
		}
		st.seen[seq] = true
		flow, first := 0, &st.firstLive
		if r.Body.Backlog {
			flow, first = 1, &st.firstBacklog
			st.backlog++
			st.liveAhead = st.liveAhead || st.liveBefore
		} else {
			st.liveBefore = true
		}
		if *first == 0 {
			*first = seq
		}
		if seq <= st.prev[flow] {
			t.Fatalf("stream %s: seq %d after %d in the %s flow", r.Key, seq, st.prev[flow], map[int]string{0: "live", 1: "backlog"}[flow])
		}
		st.prev[flow] = seq
	}
	out := map[string]*flows{}
	for key, want := range last {
		st := streams[key]
		if st == nil || len(st.seen) != int(want) {
			t.Fatalf("stream %s: not every reading in Kafka (want %d)", key, want)
		}
		out[key] = &st.flows
	}
	if len(streams) != len(last) {
		t.Fatalf("%d streams in Kafka, want %d", len(streams), len(last))
	}
	return out
}
