package audit

import "testing"

// BenchmarkAppend measures committed appends per second, one append per
// transaction: serially, and from parallel goroutines contending for the
// chain head; and Verify's speed over the chain they built.
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) { benchBackend(b, be) })
	}
}

func benchBackend(b *testing.B, be backend) {
	e := Event{
		EventType: "pipeline.update", User: "bob@example.com", IPAddress: "10.0.1.50", Resource: "pipeline",
		ResourceID: "offshore_well_12", Action: "update", Result: ResultSuccess,
		Changes: map[string]Change{"poll_interval_ms": {Old: 1000, New: 500}},
	}
	db := be.open(b, be.new(b))
	migrate(b, db)
	if be.name == "postgres" {
		sqlDB, _ := db.DB()
		sqlDB.SetMaxOpenConns(16)
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := Append(db, e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := Append(db, e); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	})
	b.Run("verify", func(b *testing.B) {
		var n int64
		for b.Loop() {
			rep, err := Verify(repo(db))
			if err != nil || !rep.OK {
				b.Fatalf("verify: %+v %v", rep, err)
			}
			n += rep.Checked
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	})
}
