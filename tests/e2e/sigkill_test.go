package e2e

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// The agent is killed with SIGKILL again and again while it ingests; in the
// end Kafka holds every reading of every stream from seq 1 on, the first copy
// of each in order, and the only duplicates are repeated seqs.
func TestAgentKilledRepeatedlyDuringIngestLosesNothing(t *testing.T) {
	killRepeatedly(t, "")
}

// The same with drain order live_first and a live_lag of 1 ms: most reads
// find records older than that, so the forwarder keeps setting stretches of
// the buffer aside as backlog and draining them behind newer readings, and
// it is killed in the middle of that. Nothing may be lost; the first copies
// are in order within each flow (live, backlog).
func TestAgentKilledRepeatedlyWithLiveFirstLosesNothing(t *testing.T) {
	killRepeatedly(t, ", drain_order: live_first, live_lag: 1ms")
}

func killRepeatedly(t *testing.T, kafka string) {
	if testing.Short() {
		t.Skip("runs the agent for about half a minute")
	}
	const tags = 20
	mb := startSim(t, tags, 50)
	broker := testenv.StartKfake(t, testenv.KafkaOpts{Persist: true})
	dir := t.TempDir()
	bin := testenv.BuildAgent(t, nil)
	cfg := writeConfig(t, dir, broker.Addr, mb.Addr(), tags, 20*time.Millisecond, defaultBuffer, kafka) // 1,000 readings/s

	for i := range 5 {
		a := startAgent(t, cfg, bin)
		a.WaitMetric(t, "streamforge_forward_acked_records_total", 30*time.Second, func(v float64) bool { return v > 0 })
		time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond) // kill at a random moment of the data path
		a.Kill()
		t.Logf("kill %d: agent SIGKILLed", i+1)
	}
	// Stop the readings, then let a last agent drain the buffer and exit cleanly.
	_ = mb.Close()
	a := startAgent(t, cfg, bin)
	a.WaitMetric(t, "streamforge_buffer_records", 60*time.Second, func(v float64) bool { return v == 0 })
	a.Stop(t)

	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: broker.Addr}, "telemetry.raw",
		15*time.Second, func([]kafkatest.Record) bool { return false })
	if len(recs) == 0 {
		t.Fatalf("nothing in Kafka: %v", err)
	}
	recs = append(recs, leftovers(t, dir, recs)...)
	want := committedSeqs(t, dir, recs)
	var rep kafkatest.Report
	if kafka == "" {
		rep, err = kafkatest.Check(recs, want, nil)
	} else {
		var streams map[string]*kafkatest.Flows
		rep, streams, err = kafkatest.CheckFlows(recs, want)
		backlog := 0
		for _, st := range streams {
			backlog += st.Backlog
		}
		t.Logf("%d readings went as backlog", backlog)
		if err == nil && backlog == 0 {
			t.Error("no reading went as backlog after the restarts")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.Streams != tags {
		t.Errorf("%d streams, want %d", rep.Streams, tags)
	}
	t.Logf("%d streams, %d readings, %d duplicates (revealed by seq) after 5 SIGKILLs", rep.Streams, rep.Unique, rep.Duplicates)
}

// leftovers returns the readings still in the agent's buffer (committed
// during the last shutdown, after the drain).
func leftovers(t testing.TB, dir string, recs []kafkatest.Record) []kafkatest.Record {
	t.Helper()
	out, err := kafkatest.Leftovers(filepath.Join(dir, "data", "buffer.db"), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 0 {
		t.Logf("%d readings committed after the drain are still in the buffer", len(out))
	}
	return out
}

// committedSeqs returns, per stream seen in recs, the last seq the agent's
// buffer committed. Kafka must hold every seq up to it.
func committedSeqs(t testing.TB, dir string, recs []kafkatest.Record) map[string]uint64 {
	t.Helper()
	want, err := kafkatest.CommittedSeqs(filepath.Join(dir, "data", "buffer.db"), recs)
	if err != nil {
		t.Fatal(err)
	}
	return want
}
