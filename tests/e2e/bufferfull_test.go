package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// With the broker down the small buffer fills; the configured policy
// applies and every drop is counted. drop_newest drops readings before they
// get a seq (Kafka stays gapless); drop_oldest deletes committed readings
// (Kafka has gaps, never more than the drops counted, never a reorder). The
// forwarder's window is small: readings it already handed to librdkafka
// still arrive even when drop_oldest deletes them from the buffer.
func TestBufferFullAppliesPolicyAndCountsDrops(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent through a broker outage")
	}
	for _, policy := range []string{"drop_newest", "drop_oldest"} {
		t.Run(policy, func(t *testing.T) {
			const tags = 20
			mb := startSim(t, tags, 50)
			broker := testenv.StartKfake(t, testenv.KafkaOpts{Persist: true})
			dir := t.TempDir()
			bin := testenv.BuildAgent(t, nil)
			cfg := writeConfig(t, dir, broker.Addr, mb.Addr(), tags, 20*time.Millisecond,
				fmt.Sprintf("{max_bytes: 64KiB, default_policy: %s}", policy), ", window: 100")
			a := startAgent(t, cfg, bin)
			a.WaitMetric(t, "streamforge_forward_acked_records_total", 30*time.Second, func(v float64) bool { return v > 0 })
			broker.Stop()
			dropped := fmt.Sprintf(`streamforge_buffer_dropped_readings_total{policy=%q,stream="default"}`, policy)
			a.WaitMetric(t, dropped, 60*time.Second, func(v float64) bool { return v >= 500 })
			broker.Start()
			_ = mb.Close()
			a.WaitMetric(t, "streamforge_buffer_records", 60*time.Second, func(v float64) bool { return v == 0 })
			drops := a.Metric(dropped)
			a.Stop(t)

			recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: broker.Addr}, "telemetry.raw",
				15*time.Second, func([]kafkatest.Record) bool { return false })
			if len(recs) == 0 {
				t.Fatalf("nothing in Kafka: %v", err)
			}
			recs = append(recs, leftovers(t, dir, recs)...)
			rep, missing, err := kafkatest.Order(recs)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v drops counted, %d readings in Kafka, %d missing seqs, %d duplicates", policy, drops, rep.Unique, missing, rep.Duplicates)
			switch policy {
			case "drop_newest":
				if _, err := kafkatest.Check(recs, committedSeqs(t, dir, recs), nil); err != nil {
					t.Fatalf("drop_newest must leave Kafka gapless: %v", err)
				}
			case "drop_oldest":
				if missing == 0 || float64(missing) > drops {
					t.Fatalf("%d seqs missing in Kafka, %v drops counted", missing, drops)
				}
			}
		})
	}
}
