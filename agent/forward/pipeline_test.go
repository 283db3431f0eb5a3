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

var _ Source = (*buffer.Buffer)(nil)

func openBuffer(t testing.TB) *buffer.Buffer {
	t.Helper()
	buf, err := buffer.Open(filepath.Join(t.TempDir(), "buffer.db"), buffer.Options{MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = buf.Close() })
	return buf
}

// put writes n readings for each of streams streams, in batches as an
// adapter's poll cycle would, from writers goroutines. Device and tag names
// are built once, as an adapter holds them in its configuration.
func put(t testing.TB, buf *buffer.Buffer, writers, streams, n int) {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			device := fmt.Sprintf("plc%d", w)
			tags := make([]string, streams)
			for s := range tags {
				tags[s] = fmt.Sprintf("t%03d", s)
			}
			batch := make([]adapters.Reading, streams)
			for i := range n {
				now := time.Now()
				for s := range batch {
					batch[s] = adapters.Reading{GatewayID: "gw1", Device: device, Tag: tags[s],
						Type: adapters.TypeFloat32, Value: float64(i) / 4, SourceTime: now}
				}
				if err := buf.Put(context.Background(), batch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func waitDrained(t testing.TB, buf *buffer.Buffer, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for buf.Stats().Records > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d records left in the buffer after %s", buf.Stats().Records, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDurableBufferToKafka(t *testing.T) {
	b := testenv.StartKfake(t, testenv.KafkaOpts{})
	buf := openBuffer(t)
	start(t, Config{Brokers: b.Addr}, buf, quietLog(t))
	put(t, buf, 4, 50, 100) // 4 devices x 50 tags x 100 cycles, concurrently
	waitDrained(t, buf, 60*time.Second)
	want := map[string]uint64{}
	for w := range 4 {
		for s := range 50 {
			want[fmt.Sprintf("gw1/plc%d/t%03d", w, s)] = 100
		}
	}
	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: b.Addr}, "telemetry.raw", time.Minute,
		func(r []kafkatest.Record) bool { return len(r) >= 20000 })
	if err != nil {
		t.Fatal(err)
	}
	rep, err := kafkatest.Check(recs, want, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Duplicates != 0 {
		t.Errorf("%d duplicates", rep.Duplicates)
	}
}

// BenchmarkPipeline: readings/s from concurrent adapter-like writers through
// the durable buffer (group commit, fsync) to a kfake broker process, until
// every reading is delivered and acknowledged.
func BenchmarkPipeline(b *testing.B) {
	broker := testenv.StartKfake(b, testenv.KafkaOpts{})
	buf := openBuffer(b)
	f, err := New(Config{Brokers: broker.Addr, Window: 100000, ReadBatch: 10000}, buf, quietLog(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = f.Run(ctx) }()
	const writers, streams = 4, 500
	cycles := max(b.N/(writers*streams), 1)
	b.ResetTimer()
	began, cpu0 := time.Now(), testenv.CPUTime(b)
	put(b, buf, writers, streams, cycles)
	waitDrained(b, buf, 10*time.Minute)
	b.StopTimer()
	b.ReportMetric(float64(writers*streams*cycles)/time.Since(began).Seconds(), "readings/s")
	// The buffer, the forwarder and librdkafka; the broker is another process.
	b.ReportMetric(float64(testenv.CPUTime(b)-cpu0)/float64(writers*streams*cycles), "cpu-ns/reading")
}

// BenchmarkBacklogDrain: readings/s while a backlog of b.N readings (an
// outage's worth: 6,000,000x is ten minutes at 10,000 readings/s) drains from
// the durable buffer to a kfake broker process, with no drain-rate cap.
func BenchmarkBacklogDrain(b *testing.B) {
	broker := testenv.StartKfake(b, testenv.KafkaOpts{})
	buf := openBuffer(b)
	const writers, streams = 4, 500
	put(b, buf, writers, streams, max(b.N/(writers*streams), 1))
	backlog := buf.Stats().Records
	f, err := New(Config{Brokers: broker.Addr, Window: 100000, ReadBatch: 10000}, buf, quietLog(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	began, cpu0 := time.Now(), testenv.CPUTime(b)
	go func() { _ = f.Run(ctx) }()
	waitDrained(b, buf, 30*time.Minute)
	b.StopTimer()
	b.ReportMetric(float64(backlog)/time.Since(began).Seconds(), "readings/s")
	b.ReportMetric(float64(testenv.CPUTime(b)-cpu0)/float64(backlog), "cpu-ns/reading")
}
