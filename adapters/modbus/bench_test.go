package modbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	gmodbus "github.com/goburrow/modbus"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/internal/simtest"
)

// benchTags is 50 float32 tags: 100 registers, one request per poll.
const benchTags = 50

// BenchmarkRawGoburrow is the floor: one goburrow client reading 100
// holding registers back to back from the sim.
func BenchmarkRawGoburrow(b *testing.B) {
	s := startSim(b, benchTags)
	h := gmodbus.NewTCPClientHandler(s.Addr())
	h.Timeout = time.Second
	defer h.Close()
	c := gmodbus.NewClient(h)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.ReadHoldingRegisters(0, 2*benchTags); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkAdapter polls the same 100 registers through the adapter as fast
// as it can (interval 1 ns, every value emitted) into a counting sink; one
// op is one poll of 50 tags.
func BenchmarkAdapter(b *testing.B) {
	s := startSim(b, benchTags)
	tags := make([]modbus.Tag, benchTags)
	for i := range tags {
		tags[i] = modbus.Tag{Name: fmt.Sprint("t", i), Register: modbus.HoldingRegister, Address: uint16(2 * i),
			Type: adapters.TypeFloat32, Group: "g"}
	}
	a, err := modbus.New("gw", modbus.Config{Name: "mb", Devices: []modbus.Device{{Name: "plc", TCP: s.Addr(), UnitID: 1,
		PollGroups: []modbus.PollGroup{{Name: "g", Interval: 1, Always: true}}, Tags: tags}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	sink := simtest.NewCountingSink(int64(b.N) * benchTags)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.ResetTimer()
	go func() { a.Run(ctx, sink); close(done) }()
	<-sink.Done
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64(b.N*benchTags)/b.Elapsed().Seconds(), "readings/s")
}
