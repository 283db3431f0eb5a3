package opcua_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/adapters/sim"
)

// BenchmarkSubscription counts data change notifications through one
// subscription: the sim changes 10,000 variables 10 times a second (100,000
// changes/s offered), published every 100 ms. gopcua's server sends at most
// one value per item per publish whatever the queue size, so the offered
// rate is items x publishes per second. One op is one reading; the time
// includes connecting and creating the monitored items.
func BenchmarkSubscription(b *testing.B) {
	const items = 10000
	s := startSim(b, items, 10)
	nodes := make([]opcua.Node, items)
	for i, sig := range sim.Signals(items) {
		nodes[i] = opcua.Node{Name: sig.Name, NodeID: sim.NodeID(sig.Name), Subscription: "all"}
	}
	a, err := opcua.New("gw", opcua.Config{Name: "ua", Servers: []opcua.Server{{Name: "sim", Endpoint: s.Endpoint(),
		Insecure: true, Nodes: nodes, Subscriptions: []opcua.Subscription{{Name: "all", PublishingInterval: 100 * ms, QueueSize: 1}},
	}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	sink := sim.NewCountingSink(int64(b.N))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.ResetTimer()
	go func() { a.Run(ctx, sink); close(done) }()
	<-sink.Done
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}
