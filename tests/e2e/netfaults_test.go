package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// Network faults between the agent and its broker, in a network namespace
// of the test's own: a cut that leaves the TCP connections half-open (every
// packet dropped, no RST), 30% packet loss both ways, and 2 s of uplink
// latency. The agent notices the cut (its backlog grows), keeps delivering
// through loss and latency, recovers by itself, and in the end Kafka holds
// every reading, the first copy of each stream in order, duplicates only as
// repeated seqs.
//
// The agent reaches the broker through a delay proxy (this kernel has no
// netem): an iptables REDIRECT sends its connections to 127.0.0.1:broker to
// the proxy, which dials the broker from 127.0.0.3. Faults are iptables rules
// on the proxy's port, so they hit only the agent's side.
func TestAgentThroughNetworkFaultsLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent through a minute and a half of network faults")
	}
	if !testenv.InNetns(t) {
		return
	}
	const tags = 20
	mb := startSim(t, tags, 50)
	broker := testenv.StartKfake(t, testenv.KafkaOpts{Persist: true})
	proxy := testenv.StartDelayProxy(t, broker.Addr, "127.0.0.3")
	_, bport, _ := net.SplitHostPort(broker.Addr)
	_, pport, _ := net.SplitHostPort(proxy.Addr)
	testenv.IPTables(t, "nat", "OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", bport, "!", "-s", "127.0.0.3",
		"-j", "REDIRECT", "--to-ports", pport)

	dir := t.TempDir()
	bin := testenv.BuildAgent(t, nil)
	cfg := writeConfig(t, dir, broker.Addr, mb.Addr(), tags, 20*time.Millisecond, defaultBuffer, "") // 1,000 readings/s
	a := startAgent(t, cfg, bin)
	a.WaitMetric(t, "streamforge_forward_acked_records_total", 60*time.Second, func(v float64) bool { return v >= 1000 })
	caughtUp := func(v float64) bool { return v >= 0 && v < 500 }
	drop := func(extra ...string) func() {
		in := testenv.IPTables(t, "filter", append([]string{"INPUT", "-i", "lo", "-p", "tcp", "--dport", pport}, append(extra, "-j", "DROP")...)...)
		out := testenv.IPTables(t, "filter", append([]string{"INPUT", "-i", "lo", "-p", "tcp", "--sport", pport}, append(extra, "-j", "DROP")...)...)
		return func() { in(); out() }
	}

	t.Run("half-open-cut", func(t *testing.T) {
		before := a.Metric("streamforge_buffer_records")
		dropped := testenv.IPTablesDropped(t)
		heal := drop()
		start := time.Now()
		a.WaitMetric(t, "streamforge_buffer_records", 60*time.Second, func(v float64) bool { return v > before+5000 })
		time.Sleep(10 * time.Second) // longer than the delivery timeout: messages time out in librdkafka
		if testenv.IPTablesDropped(t) == dropped {
			t.Error("the cut dropped no packet")
		}
		heal()
		healed := time.Now()
		a.WaitMetric(t, "streamforge_buffer_records", 180*time.Second, caughtUp)
		t.Logf("cut for %s; caught up %s after it healed", healed.Sub(start).Round(100*time.Millisecond),
			time.Since(healed).Round(100*time.Millisecond))
	})

	// During loss and latency delivery goes on: acknowledged readings keep
	// growing at the rate they come in, give or take.
	degraded := func(t *testing.T, name string, apply func() func(), inEffect func() bool) {
		acked := a.Metric("streamforge_forward_acked_records_total")
		undo := apply()
		time.Sleep(20 * time.Second) // the fault lasts this long; the rate is measured over it
		if !inEffect() {
			t.Errorf("%s was not in effect", name)
		}
		during := a.Metric("streamforge_forward_acked_records_total") - acked
		undo()
		start := time.Now()
		a.WaitMetric(t, "streamforge_buffer_records", 180*time.Second, caughtUp)
		t.Logf("%s for 20 s: %v readings acknowledged meanwhile (1,000/s come in); caught up %s after", name, during,
			time.Since(start).Round(100*time.Millisecond))
		if during < 5000 {
			t.Errorf("%s: only %v readings delivered in 20 s", name, during)
		}
	}
	t.Run("loss-30pct", func(t *testing.T) {
		dropped := testenv.IPTablesDropped(t)
		degraded(t, "30% loss", func() func() { return drop("-m", "statistic", "--mode", "random", "--probability", "0.3") },
			func() bool { return testenv.IPTablesDropped(t) > dropped })
	})
	t.Run("latency-2s", func(t *testing.T) {
		degraded(t, "2 s uplink latency", func() func() {
			proxy.SetDelay(2 * time.Second)
			return func() { proxy.SetDelay(0) }
		}, func() bool {
			// A metadata request through the proxy takes the delay.
			start := time.Now()
			_, _, err := kafkatest.Leaders(context.Background(), kafkatest.Conn{Brokers: broker.Addr}, "telemetry.raw")
			return err == nil && time.Since(start) >= 2*time.Second
		})
	})

	if t.Failed() {
		return
	}
	_ = mb.Close()
	a.WaitMetric(t, "streamforge_buffer_records", 120*time.Second, func(v float64) bool { return v == 0 })
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
	if rep.Streams != tags {
		t.Errorf("%d streams, want %d", rep.Streams, tags)
	}
	t.Logf("%d readings of %d streams in Kafka, %d duplicates (repeated seqs)", rep.Unique, rep.Streams, rep.Duplicates)
}
