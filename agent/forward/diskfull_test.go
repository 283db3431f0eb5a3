package forward

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/agent/buffer"
	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// seqRecorder puts batches into a buffer and remembers each stream's last seq.
type seqRecorder struct {
	mu   sync.Mutex
	last map[string]uint64
}

func (s *seqRecorder) put(t testing.TB, buf *buffer.Buffer, batch []adapters.Reading) {
	if err := buf.Put(context.Background(), batch); err != nil {
		t.Error(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		s.last[r.StreamKey()] = max(s.last[r.StreamKey()], r.Seq)
	}
}

func batchOf(streams, cycle int) []adapters.Reading {
	out := make([]adapters.Reading, streams)
	for s := range out {
		out[s] = adapters.Reading{GatewayID: "gw1", Device: "plc1", Tag: fmt.Sprintf("t%02d", s),
			Type: adapters.TypeFloat64, Value: float64(cycle), SourceTime: time.Now()}
	}
	return out
}

// The broker comes back while the disk is full: the buffer cannot delete
// what Kafka confirmed (the deletes share commits with the adapters' Puts,
// which the full disk holds). The delivered records must not be sent again:
// no producer recreation, and not one duplicate once the disk has space.
func TestBrokerBackWhileDiskFullSendsNoDuplicates(t *testing.T) {
	dir := testenv.SmallDisk(t, 16<<20)
	broker := testenv.StartKfake(t, testenv.KafkaOpts{Persist: true})
	broker.Stop()
	buf, err := buffer.Open(filepath.Join(dir, "buffer.db"), buffer.Options{MaxBytes: 1 << 30, NoReserve: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = buf.Close() })
	f, _ := start(t, Config{Brokers: broker.Addr, Window: 5000, DeliveryTimeout: 5 * time.Second}, buf, quietLog(t))

	rec := &seqRecorder{last: map[string]uint64{}}
	const streams = 20
	for cycle := range 1000 { // 20,000 readings of backlog
		rec.put(t, buf, batchOf(streams, cycle))
	}
	filler := testenv.FillDisk(t, dir, 0)
	stopFeed := make(chan struct{})
	fed := make(chan struct{})
	go func() { // an adapter going on polling: the full disk holds its Puts
		defer close(fed)
		for cycle := 1000; ; cycle++ {
			select {
			case <-stopFeed:
				return
			case <-time.After(10 * time.Millisecond):
			}
			rec.put(t, buf, batchOf(streams, cycle))
		}
	}()
	broker.Start()
	waitUntil(t, "deliveries while the disk is full", func() bool {
		s := buf.Stats()
		return s.DiskFull && s.PendingDeletes >= 10000
	})
	filler.Free(t, 0)
	close(stopFeed)
	<-fed
	waitDrained(t, buf, 60*time.Second)

	total := 0
	for _, v := range rec.last {
		total += int(v)
	}
	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: broker.Addr}, "telemetry.raw", 60*time.Second,
		func(r []kafkatest.Record) bool { return kafkatest.Unique(r) >= total })
	if err != nil {
		t.Fatal(err)
	}
	rep, err := kafkatest.Check(recs, rec.last, nil)
	if err != nil {
		t.Fatal(err)
	}
	recreated := value(t, f.metrics.recreations.WithLabelValues("buffer"))
	t.Logf("%d readings, %d duplicates, %v producer recreations for buffer errors", rep.Unique, rep.Duplicates, recreated)
	if rep.Duplicates != 0 || recreated != 0 {
		t.Errorf("%d duplicates and %v producer recreations after the broker came back to a full disk", rep.Duplicates, recreated)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
