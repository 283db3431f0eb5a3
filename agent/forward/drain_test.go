package forward

import (
	"context"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
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
	// Live data for 2 s, while the backlog drains at its rate.
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
		if st.FirstLive != 0 && st.FirstLive <= backlogPerStream {
			t.Fatalf("stream %s: a reading of the stored backlog was sent as live", key)
		}
		if !st.LiveAhead {
			t.Errorf("stream %s: no live reading was written while its backlog drained", key)
		}
	}
	// A busy machine may make the forwarder fall behind once more while it runs.
	if got := value(t, f.metrics.backlog); got < 10*backlogPerStream {
		t.Errorf("backlog records metric %v, want at least %d", got, 10*backlogPerStream)
	}
	if got := value(t, f.metrics.setAside); got < 1 {
		t.Errorf("backlog set aside %v times, want at least once", got)
	}
	t.Logf("%d streams; backlog of %d drained behind live data in %s", len(streams), 10*backlogPerStream, took.Round(time.Millisecond))
}

// checkFlows reads telemetry.raw and checks a live_first delivery without
// failures: every reading of src exactly once, and within each flow (live,
// backlog) every stream in increasing seq order.
func checkFlows(t *testing.T, conn kafkatest.Conn, src *memSource) map[string]*kafkatest.Flows {
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
	rep, streams, err := kafkatest.CheckFlows(recs, last)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Duplicates != 0 {
		t.Errorf("%d duplicates without any failure", rep.Duplicates)
	}
	return streams
}
