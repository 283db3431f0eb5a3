package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// SIGTERM while the broker is down: the buffer is durable, so the agent
// stops at once (adapters, a last commit, close) instead of waiting out
// kafka.flush_timeout (10 s here) for reports that cannot come. What was in
// flight is sent after the restart with the same seq: nothing is lost.
func TestSIGTERMDuringOutageExitsQuicklyAndLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent through a broker outage")
	}
	const tags = 20
	mb := startSim(t, tags, 50)
	broker := testenv.StartKfake(t, testenv.KafkaOpts{Persist: true})
	dir := t.TempDir()
	bin := testenv.BuildAgent(t, nil)
	cfg := writeConfig(t, dir, broker.Addr, mb.Addr(), tags, 20*time.Millisecond, defaultBuffer, "")
	setFlushTimeout(t, cfg, "10s")

	a := startAgent(t, cfg, bin)
	a.WaitMetric(t, "streamforge_forward_acked_records_total", 30*time.Second, func(v float64) bool { return v > 0 })
	broker.Stop()
	a.WaitMetric(t, "streamforge_forward_in_flight_records", 30*time.Second, func(v float64) bool { return v >= 500 })
	began := time.Now()
	a.Stop(t)
	took := time.Since(began)
	t.Logf("SIGTERM during the outage: exited after %s (flush_timeout 10s)", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("the agent took %s to stop while the broker was down; want well under flush_timeout", took)
	}

	_ = mb.Close()
	broker.Start()
	a = startAgent(t, cfg, bin)
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
	t.Logf("%d streams, %d readings, %d duplicates after SIGTERM during an outage and a restart", rep.Streams, rep.Unique, rep.Duplicates)
}

// setFlushTimeout rewrites kafka.flush_timeout in a config from writeConfig.
func setFlushTimeout(t *testing.T, cfg, d string) {
	t.Helper()
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(data), "flush_timeout: 2s", "flush_timeout: "+d, 1)
	if err := os.WriteFile(cfg, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}
