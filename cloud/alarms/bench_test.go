package alarms

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/store"
)

// BenchmarkEvaluate: one evaluation over a fleet of 1,000 approved
// gateways with 10 heartbeats each (SQLite), one device down in every
// tenth. It is what every cloud replica runs each STREAMFORGE_ALARM_INTERVAL.
func BenchmarkEvaluate(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	var gws []store.Gateway
	var hbs []store.GatewayHeartbeat
	for i := range 1000 {
		id := fmt.Sprintf("gw-%04d", i)
		gws = append(gws, store.Gateway{ID: id, Site: "s", Status: store.GatewayApproved, EnrolledAt: now.Add(-time.Hour), HardwareInfo: map[string]string{}})
		for j := range 10 {
			adapters := `[{"name":"line1","device":"plc1","connected":true}]`
			if i%10 == 0 {
				adapters = `[{"name":"line1","device":"plc1","connected":false}]`
			}
			hbs = append(hbs, store.GatewayHeartbeat{GatewayID: id, ReceivedAt: now.Add(-time.Duration(10-j) * time.Second), Status: "ok", Adapters: adapters})
		}
	}
	if err := st.DB.CreateInBatches(gws, 200).Error; err != nil {
		b.Fatal(err)
	}
	if err := st.DB.CreateInBatches(hbs, 500).Error; err != nil {
		b.Fatal(err)
	}
	ev, err := NewEvaluator(st, Config{RaiseAfter: time.Nanosecond}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := ev.Evaluate(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if open, _ := st.OpenAlarms(ctx); len(open) != 100 {
		b.Fatalf("%d open alarms, want 100 (one device down in every tenth gateway)", len(open))
	}
}
