package e2e

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/agent/buffer"

	"github.com/streamforge/streamforge/internal/testenv"
	kafkatest "github.com/streamforge/streamforge/tests/kafka"
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
	bin := build(t, dir, nil)
	cfg := writeConfig(t, dir, broker.Addr, mb.Addr(), tags, 20*time.Millisecond, defaultBuffer, kafka) // 1,000 readings/s

	for i := range 5 {
		a := startAgent(t, cfg, bin)
		a.waitMetric(t, "streamforge_forward_acked_records_total", 30*time.Second, func(v float64) bool { return v > 0 })
		time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
		a.kill()
		t.Logf("kill %d: agent SIGKILLed", i+1)
	}
	// Stop the readings, then let a last agent drain the buffer and exit cleanly.
	_ = mb.Close()
	a := startAgent(t, cfg, bin)
	a.waitMetric(t, "streamforge_buffer_records", 60*time.Second, func(v float64) bool { return v == 0 })
	a.stop(t)

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
// during the last shutdown, after the drain) as records of the partitions
// their streams use in recs.
func leftovers(t *testing.T, dir string, recs []kafkatest.Record) []kafkatest.Record {
	t.Helper()
	buf, err := buffer.Open(filepath.Join(dir, "data", "buffer.db"), buffer.Options{NoReserve: true})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	left, err := buf.Read(nil, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	partition := map[string]int32{}
	for _, r := range recs {
		partition[r.Key] = r.Partition
	}
	out := make([]kafkatest.Record, 0, len(left))
	for _, l := range left {
		key := l.Reading.StreamKey()
		out = append(out, kafkatest.Record{Topic: "buffer", Partition: partition[key], Key: key,
			Body: kafkatest.Body{GatewayID: l.Reading.GatewayID, Device: l.Reading.Device, Tag: l.Reading.Tag, Seq: l.Reading.Seq}})
	}
	if len(out) > 0 {
		t.Logf("%d readings committed after the drain are still in the buffer", len(out))
	}
	return out
}

// committedSeqs returns, per stream seen in recs, the last seq the agent's
// buffer committed: the buffer persists its counters, so a reading put now
// gets the next one. Kafka must hold every seq up to it.
func committedSeqs(t *testing.T, dir string, recs []kafkatest.Record) map[string]uint64 {
	t.Helper()
	buf, err := buffer.Open(filepath.Join(dir, "data", "buffer.db"), buffer.Options{NoReserve: true})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	probe := map[string]adapters.Reading{}
	for _, r := range recs {
		probe[r.Key] = adapters.Reading{GatewayID: r.Body.GatewayID, Device: r.Body.Device, Tag: r.Body.Tag,
			Type: adapters.TypeFloat32, Value: 0.0, SourceTime: time.Now()}
	}
	want := map[string]uint64{}
	for key, r := range probe {
		rs := []adapters.Reading{r}
		if err := buf.Put(context.Background(), rs); err != nil {
			t.Fatal(err)
		}
		want[key] = rs[0].Seq - 1
	}
	return want
}
