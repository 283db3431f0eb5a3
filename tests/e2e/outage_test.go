package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// Apache Kafka is down for longer than the agent's delivery timeout while
// the simulator keeps producing: afterwards every reading is in Kafka exactly
// once (no duplicates: nothing crashed, and the producer was kept while no
// broker was reachable) and in order per tag.
func TestAgentThroughApacheKafkaOutageDeliversEveryReadingOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Apache Kafka and the agent for about 40 s")
	}
	const tags = 20
	mb := startSim(t, tags, 50)
	broker := testenv.StartKafka(t, testenv.KafkaOpts{})
	dir := t.TempDir()
	bin := testenv.BuildAgent(t, nil)
	cfg := writeConfig(t, dir, broker.Addr, mb.Addr(), tags, 20*time.Millisecond, defaultBuffer, "") // delivery_timeout 5s
	a := startAgent(t, cfg, bin)
	a.WaitMetric(t, "streamforge_forward_acked_records_total", 60*time.Second, func(v float64) bool { return v >= 1000 })

	broker.Stop()
	// The outage itself: longer than delivery_timeout (5 s), so that
	// librdkafka gives up on what it holds and only the buffer keeps it.
	time.Sleep(12 * time.Second)
	backlog := a.Metric("streamforge_buffer_records")
	acked := a.Metric("streamforge_forward_acked_records_total")
	broker.Start()
	// Live readings still come in while the backlog drains; the source
	// stops once deliveries have resumed.
	a.WaitMetric(t, "streamforge_forward_acked_records_total", 60*time.Second, func(v float64) bool { return v > acked })
	_ = mb.Close()
	a.WaitMetric(t, "streamforge_buffer_records", 60*time.Second, func(v float64) bool { return v == 0 })
	a.Stop(t)

	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: broker.Addr}, "telemetry.raw",
		15*time.Second, func([]kafkatest.Record) bool { return false })
	if len(recs) == 0 {
		t.Fatalf("nothing in Kafka: %v", err)
	}
	recs = append(recs, leftovers(t, dir, recs)...)
	rep, err := kafkatest.Check(recs, committedSeqs(t, dir, recs), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backlog during the outage %v readings; %d readings of %d streams in Kafka, %d duplicates", backlog, rep.Unique, rep.Streams, rep.Duplicates)
	if rep.Duplicates != 0 {
		t.Errorf("%d duplicates without a crash", rep.Duplicates)
	}
}
