package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// buffer.max_bytes is a promise about the disk: an agent whose data_dir
// cannot hold it refuses to start and says so; one that started keeps its
// space when another writer fills the disk during a broker outage, applies
// its policy (block) at max_bytes, loses no reading and recovers.
func TestFullDiskBeforeMaxBytesLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent through a broker outage on a full disk")
	}
	const tags = 20
	mb := startSim(t, tags, 50)
	broker := testenv.StartKfake(t, testenv.KafkaOpts{Persist: true})
	bin := testenv.BuildAgent(t, nil)
	disk := testenv.SmallDisk(t, 32<<20)

	cfg := writeConfig(t, disk, broker.Addr, mb.Addr(), tags, 20*time.Millisecond, "{max_bytes: 64MiB}", "")
	out, err := exec.Command(bin, "run", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "buffer.max_bytes") {
		t.Fatalf("agent with max_bytes above the free space: %v, want a start-up error naming buffer.max_bytes\n%s", err, out)
	}

	cfg = writeConfig(t, disk, broker.Addr, mb.Addr(), tags, 20*time.Millisecond, "{max_bytes: 1MiB}", ", window: 1000")
	a := startAgent(t, cfg, bin)
	a.WaitMetric(t, "streamforge_forward_acked_records_total", 30*time.Second, func(v float64) bool { return v > 0 })
	filler := testenv.FillDisk(t, disk, 0)
	broker.Stop()
	a.WaitMetric(t, "streamforge_buffer_bytes", 60*time.Second, func(v float64) bool { return v > 1<<20-4<<10 })
	if full := a.Metric("streamforge_buffer_disk_full"); full != 0 {
		t.Errorf("disk_full %v although the buffer's space was reserved", full)
	}
	broker.Start()
	// The backlog drains and readings flow again.
	a.WaitMetric(t, "streamforge_buffer_bytes", 60*time.Second, func(v float64) bool { return v < 64<<10 })
	_ = mb.Close()
	a.WaitMetric(t, "streamforge_buffer_records", 60*time.Second, func(v float64) bool { return v == 0 })
	unstored := a.Metric(`streamforge_buffer_unstored_readings_total{policy="block",reason="closed",stream="default"}`)
	a.Stop(t)
	filler.Free(t, 0)

	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: broker.Addr}, "telemetry.raw",
		15*time.Second, func([]kafkatest.Record) bool { return false })
	if len(recs) == 0 {
		t.Fatalf("nothing in Kafka: %v", err)
	}
	recs = append(recs, leftovers(t, disk, recs)...)
	rep, err := kafkatest.Check(recs, committedSeqs(t, disk, recs), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d streams, %d readings, %d duplicates, %v unstored after an outage on a full disk", rep.Streams, rep.Unique, rep.Duplicates, unstored)
	if unstored != 0 {
		t.Errorf("%v readings not stored", unstored)
	}
}
