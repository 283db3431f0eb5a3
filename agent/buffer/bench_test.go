package buffer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
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
	drained := 0
	for {
		recs, err := buf.Read(after, 2000)
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
