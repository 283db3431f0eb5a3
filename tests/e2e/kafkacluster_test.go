package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// The agent produces (acks=all, idempotent) to three Apache Kafka brokers in
// KRaft mode, topics with replication factor 3 and min.insync.replicas 2,
// while the cluster goes through the faults a production cluster sees: the
// leader of a partition is killed in the middle of ingest; two brokers are
// killed, so no write can be acknowledged and the buffer grows (within its
// bound, nothing dropped) until they come back; every broker is restarted in
// turn. Afterwards Kafka holds every reading, the first copy of each stream
// in order, duplicates only as repeated seqs. The pause and catch-up of each
// fault are logged (docs/reliability.md).
func TestAgentThroughKafkaClusterFaultsLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three Apache Kafka brokers and the agent for a few minutes")
	}
	const tags = 20
	mb := startSim(t, tags, 50)
	cluster := testenv.StartKafkaCluster(t, 3)
	conn := kafkatest.Conn{Brokers: cluster.Addrs()}
	dir := t.TempDir()
	bin := testenv.BuildAgent(t, nil)
	// 1,000 readings/s; the delivery timeout is far shorter than the faults,
	// so librdkafka times messages out and the buffer resends them.
	cfg := writeConfig(t, dir, cluster.Addrs(), mb.Addr(), tags, 20*time.Millisecond, "{max_bytes: 64MiB}", "")
	a := startAgent(t, cfg, bin)
	a.WaitMetric(t, "streamforge_forward_acked_records_total", 120*time.Second, func(v float64) bool { return v >= 2000 })
	waitReplicated(t, conn, cluster)

	// Steady state: a backlog of at most a few polls.
	caughtUp := func(v float64) bool { return v >= 0 && v < 500 }

	t.Run("leader-killed", func(t *testing.T) {
		leader, _, err := kafkatest.Leaders(context.Background(), conn, "telemetry.raw")
		if err != nil {
			t.Fatal(err)
		}
		victim := cluster.Nodes[leader[0]-1]
		acked := a.Metric("streamforge_forward_acked_records_total")
		start := time.Now()
		victim.Kill()
		// Every partition gets a live leader again, and the agent writes on.
		elected := time.Now()
		testenv.Eventually(t, 120*time.Second, "a live leader for every partition", func() bool {
			l, _, err := kafkatest.Leaders(context.Background(), kafkatest.Conn{Brokers: liveAddrs(cluster, victim)}, "telemetry.raw")
			return err == nil && len(l) == 3 && !slices.Contains(mapValues(l), leader[0]) && !slices.Contains(mapValues(l), -1)
		})
		pause := time.Since(elected)
		a.WaitMetric(t, "streamforge_forward_acked_records_total", 120*time.Second, func(v float64) bool { return v > acked+2000 })
		a.WaitMetric(t, "streamforge_buffer_records", 120*time.Second, caughtUp)
		t.Logf("leader of partition 0 (node %d) killed: new leaders after %s, caught up after %s",
			leader[0], pause.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
		victim.Start()
		waitReplicated(t, conn, cluster)
	})

	t.Run("two-brokers-killed", func(t *testing.T) {
		before := a.Metric("streamforge_buffer_records")
		cluster.Nodes[0].Kill()
		cluster.Nodes[1].Kill()
		start := time.Now()
		// No write can reach min.insync.replicas: the buffer grows.
		a.WaitMetric(t, "streamforge_buffer_records", 120*time.Second, func(v float64) bool { return v > before+5000 })
		time.Sleep(5 * time.Second) // hold the outage a little longer: the buffer keeps growing
		grown := a.Metric("streamforge_buffer_records")
		if b, limit := a.Metric("streamforge_buffer_bytes"), a.Metric("streamforge_buffer_max_bytes"); b > limit || limit <= 0 {
			t.Errorf("buffer %v bytes, bound %v", b, limit)
		}
		back := time.Now()
		cluster.Nodes[0].Start()
		cluster.Nodes[1].Start()
		a.WaitMetric(t, "streamforge_buffer_records", 180*time.Second, caughtUp)
		t.Logf("two brokers down for %s: buffer grew to %v readings; caught up %s after their restart began",
			back.Sub(start).Round(100*time.Millisecond), grown, time.Since(back).Round(100*time.Millisecond))
		waitReplicated(t, conn, cluster)
	})

	t.Run("rolling-restart", func(t *testing.T) {
		start := time.Now()
		for i, n := range cluster.Nodes {
			acked := a.Metric("streamforge_forward_acked_records_total")
			n.Stop()
			n.Start()
			waitReplicated(t, conn, cluster)
			a.WaitMetric(t, "streamforge_forward_acked_records_total", 120*time.Second, func(v float64) bool { return v > acked+500 })
			t.Logf("node %d restarted and back in sync", i+1)
		}
		a.WaitMetric(t, "streamforge_buffer_records", 120*time.Second, caughtUp)
		t.Logf("rolling restart of three brokers took %s", time.Since(start).Round(100*time.Millisecond))
	})

	if t.Failed() {
		return
	}
	_ = mb.Close()
	a.WaitMetric(t, "streamforge_buffer_records", 120*time.Second, func(v float64) bool { return v == 0 })
	a.Stop(t)
	recs, err := kafkatest.Read(context.Background(), conn, "telemetry.raw", 30*time.Second, func([]kafkatest.Record) bool { return false })
	if len(recs) == 0 {
		t.Fatalf("nothing in Kafka: %v", err)
	}
	recs = append(recs, leftovers(t, dir, recs)...)
	rep, err := kafkatest.Check(recs, committedSeqs(t, dir, recs), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Streams != tags {
		t.Errorf("%d streams, want %d", rep.Streams, tags)
	}
	t.Logf("%d readings of %d streams in Kafka, %d duplicates (repeated seqs)", rep.Unique, rep.Streams, rep.Duplicates)
}

// waitReplicated waits until every partition of telemetry.raw has all the
// cluster's nodes in sync.
func waitReplicated(t *testing.T, conn kafkatest.Conn, c *testenv.KafkaCluster) {
	t.Helper()
	var isr map[int32][]int32
	ok := testenv.Within(180*time.Second, func() bool {
		var err error
		_, isr, err = kafkatest.Leaders(context.Background(), conn, "telemetry.raw")
		if err != nil || len(isr) == 0 {
			return false
		}
		for _, r := range isr {
			if len(r) != len(c.Nodes) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("telemetry.raw not fully replicated: in-sync replicas %v", isr)
	}
}

// liveAddrs is the bootstrap list without the stopped node.
func liveAddrs(c *testenv.KafkaCluster, down *testenv.Broker) string {
	s := ""
	for _, n := range c.Nodes {
		if n != down {
			s += fmt.Sprintf("%s,", n.Addr)
		}
	}
	return s[:len(s)-1]
}

func mapValues(m map[int32]int32) []int32 {
	out := make([]int32, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
