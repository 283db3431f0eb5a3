package api_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// BenchmarkGatewayPollAndHeartbeat: approved gateways polling an unchanged
// config (304) and sending heartbeats, on PostgreSQL, 64 at a time. The
// fleet benchmark (scripts/bench-fleet.sh) is the end-to-end figure; this
// one isolates the server's cost per request.
func BenchmarkGatewayPollAndHeartbeat(b *testing.B) {
	e := newEnv(b, testenv.PostgresURL(b), "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	_, value := e.enrollmentToken(admin, 64, "")
	gws := make([]*controlplane.Client, 64)
	for i := range gws {
		gws[i] = e.gateway("gw-bench-" + string(rune('a'+i/26)) + string(rune('a'+i%26)))
		if _, err := gws[i].Enroll(ctx, value, "h", nil); err != nil {
			b.Fatal(err)
		}
		e.do("POST", "/api/v1/gateways/"+gws[i].GatewayID+"/approve", admin, nil)
		e.do("PUT", "/api/v1/gateways/"+gws[i].GatewayID+"/config", admin, map[string]any{"config": map[string]any{"log_level": "debug"}})
		if _, err := gws[i].ObtainToken(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := gws[i].FetchConfig(ctx); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := gws[int(next.Add(1))%len(gws)]
		for pb.Next() {
			if cfg, err := c.FetchConfig(ctx); err != nil || cfg != nil {
				b.Fatalf("poll: %v %v", cfg, err)
			}
			if err := c.Heartbeat(ctx, wire.Heartbeat{Status: "ok"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
