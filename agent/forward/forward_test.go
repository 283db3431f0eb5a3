package forward

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// start runs a forwarder until the test ends (or stop is called).
func start(t *testing.T, cfg Config, src Source, log *slog.Logger) (*Forwarder, func()) {
	t.Helper()
	f, err := New(cfg, src, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return 30s after cancel")
		}
		done <- nil
	}
	t.Cleanup(func() {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		default:
			stop()
		}
	})
	return f, stop
}

// checkTopic reads topic until every reading of src is there and checks order.
func checkTopic(t *testing.T, conn kafkatest.Conn, src *memSource, first map[string]uint64) kafkatest.Report {
	t.Helper()
	want := src.Last()
	total := 0
	for k, v := range want {
		total += int(v - max(first[k], 1) + 1)
	}
	recs, err := kafkatest.Read(context.Background(), conn, "telemetry.raw", 60*time.Second,
		func(r []kafkatest.Record) bool { return len(r) >= total && kafkatest.Unique(r) >= total })
	if err != nil {
		t.Fatal(err)
	}
	rep, err := kafkatest.Check(recs, want, first)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestDeliversEveryReadingOncePerStreamInOrder(t *testing.T) {
	b := testenv.StartKfake(t, testenv.KafkaOpts{})
	src := newMemSource()
	src.Put(readings("plc1", 20, 300)...)
	f, _ := start(t, Config{Brokers: b.Addr, Compression: "zstd", ReadBatch: 500, Window: 1000}, src, nil)
	src.Put(readings("plc2", 5, 200)...) // live data while forwarding
	if err := src.waitEmpty(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	rep := checkTopic(t, kafkatest.Conn{Brokers: b.Addr}, src, nil)
	if rep.Duplicates != 0 {
		t.Errorf("%d duplicates without any failure", rep.Duplicates)
	}
	// Events: the first reading of each stream, then every change to bad and back.
	wantEvents := 25 + 20*(2*30-1) + 5*(2*20-1)
	evs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: b.Addr}, "events.raw", 30*time.Second,
		func(r []kafkatest.Record) bool { return len(r) >= wantEvents })
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs[:5] {
		if e.Body.Schema != EventSchema || e.Body.Event != "quality_change" || e.Body.PrevQuality == e.Body.Quality {
			t.Fatalf("event %+v", e.Body)
		}
	}
	if got := value(t, f.metrics.acked); got != float64(20*300+5*200) {
		t.Errorf("acked metric %v", got)
	}
}

func TestBrokerLosingStateIsFatalAndProducerIsRecreatedWithoutLoss(t *testing.T) {
	b := testenv.StartKfake(t, testenv.KafkaOpts{}) // no data dir: a restart forgets the producer
	src := newMemSource()
	f, _ := start(t, Config{Brokers: b.Addr, DeliveryTimeout: 3 * time.Second}, src, nil)
	src.Put(readings("plc1", 10, 100)...)
	if err := src.waitEmpty(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	b.Stop()
	after := src.Last()
	src.Put(readings("plc1", 10, 100)...) // queued while the broker is down
	b.Start()
	for range 10 {
		src.Put(readings("plc1", 10, 20)...)
		time.Sleep(50 * time.Millisecond)
	}
	if err := src.waitEmpty(60 * time.Second); err != nil {
		t.Fatalf("%v (last error: %s)", err, f.LastError())
	}
	rec := value(t, f.metrics.recreations.WithLabelValues("fatal")) +
		value(t, f.metrics.recreations.WithLabelValues("stalled"))
	if rec < 1 {
		t.Errorf("no producer recreation after the broker lost its state (last error %q)", f.LastError())
	}
	// The new broker holds everything put after the restart, in order; the
	// first records may repeat ones whose reports were lost.
	first := map[string]uint64{}
	for k, v := range after {
		first[k] = v + 1
	}
	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: b.Addr}, "telemetry.raw", 60*time.Second,
		func(r []kafkatest.Record) bool { return kafkatest.Unique(r) >= 10*300 })
	if err != nil {
		t.Fatal(err)
	}
	var kept []kafkatest.Record
	for _, r := range recs {
		if r.Body.Seq >= first[r.Key] {
			kept = append(kept, r)
		}
	}
	if _, err := kafkatest.Check(kept, src.Last(), first); err != nil {
		t.Fatal(err)
	}
	t.Logf("recreations %v, last error %q", rec, f.LastError())
}
