package buffer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/internal/testenv"
)

// BenchmarkPut measures committed readings per second with concurrent
// writers (adapters' poll groups) putting batches; 1,000 streams.
//
//	go test -run '^$' -bench BenchmarkPut -benchtime 200000x ./agent/buffer/
func BenchmarkPut(b *testing.B) {
	for _, writers := range []int{1, 4, 16, 64} {
		for _, batch := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("writers=%d/batch=%d", writers, batch), func(b *testing.B) {
				buf := open(b, b.TempDir(), Options{MaxBytes: 4 << 30})
				puts := max(b.N/batch, 1)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for w := range writers {
					wg.Go(func() {
						tmpl := make([]adapters.Reading, batch)
						for i := range tmpl {
							tmpl[i] = reading(fmt.Sprint("plc", w%10), fmt.Sprint("tag", (w/10*batch+i)%100), float64(i))
						}
						rs := make([]adapters.Reading, batch)
						for next.Add(1) <= int64(puts) {
							copy(rs, tmpl)
							if err := buf.Put(context.Background(), rs); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(puts*batch)/time.Since(start).Seconds(), "readings/s")
			})
		}
	}
}

// BenchmarkDrain measures Read plus Ack of a backlog in the forwarder's
// batch size (2,000).
//
//	go test -run '^$' -bench BenchmarkDrain -benchtime 200000x ./agent/buffer/
func BenchmarkDrain(b *testing.B) {
	buf := open(b, b.TempDir(), Options{MaxBytes: 4 << 30})
	rs := make([]adapters.Reading, 1000)
	for n := 0; n < b.N; n += len(rs) {
		for i := range rs {
			rs[i] = reading(fmt.Sprint("plc", i%10), fmt.Sprint("tag", i%100), float64(n+i))
		}
		if err := buf.Put(context.Background(), rs); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	var after uint64
	var recs []Record
	drained := 0
	for {
		var err error
		recs, err = buf.Read(recs, after, 2000)
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		ids := make([]uint64, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		if err := buf.Ack(ids...); err != nil {
			b.Fatal(err)
		}
		after = ids[len(ids)-1]
		drained += len(recs)
	}
	b.ReportMetric(float64(drained)/time.Since(start).Seconds(), "readings/s")
}

// BenchmarkPutWhileDraining is the buffer's share of the data path: four
// adapter-like writers each put 500 streams per cycle while a consumer
// reads and acknowledges in the forwarder's way; it reports readings/s end
// to end and the mean commit (one transaction, two fsyncs) duration.
//
//	go test -run '^$' -bench BenchmarkPutWhileDraining -benchtime 600000x ./agent/buffer/
func BenchmarkPutWhileDraining(b *testing.B) {
	reg := prometheus.NewRegistry()
	buf := open(b, b.TempDir(), Options{MaxBytes: 4 << 30, Registerer: reg})
	const writers, streams = 4, 500
	cycles := max(b.N/(writers*streams), 1)
	total := writers * streams * cycles
	drained := make(chan error, 1)
	go func() { drained <- drain(buf, total) }()
	b.ResetTimer()
	began, cpu0 := time.Now(), testenv.CPUTime(b)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			tmpl := make([]adapters.Reading, streams)
			for s := range tmpl {
				tmpl[s] = reading(fmt.Sprint("plc", w), fmt.Sprintf("t%03d", s), 0.0)
			}
			batch := make([]adapters.Reading, streams)
			for range cycles {
				copy(batch, tmpl)
				if err := buf.Put(context.Background(), batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := <-drained; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total)/time.Since(began).Seconds(), "readings/s")
	b.ReportMetric(float64(testenv.CPUTime(b)-cpu0)/float64(total), "cpu-ns/reading")
	commits := metric(b, reg, "streamforge_buffer_commit_seconds", nil)
	b.ReportMetric(histogramSum(b, reg, "streamforge_buffer_commit_seconds")/commits*1000, "ms/commit")
}

// drain reads and acknowledges until n records went through.
func drain(buf *Buffer, n int) error {
	var after uint64
	var recs []Record
	for done := 0; done < n; {
		if err := buf.Wait(context.Background(), after); err != nil {
			return err
		}
		var err error
		recs, err = buf.Read(recs, after, 10000)
		if err != nil {
			return err
		}
		ids := make([]uint64, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		if err := buf.Ack(ids...); err != nil {
			return err
		}
		after = ids[len(ids)-1]
		done += len(recs)
	}
	return nil
}

func histogramSum(b *testing.B, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	b.Fatalf("no histogram %s", name)
	return 0
}
