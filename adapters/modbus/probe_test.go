package modbus_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
)

// TestProbeReadsOneGroupBesideTheRunningAdapter: a probe of a simulated
// PLC returns every tag of the group (the fixture's 0x1234 among them)
// while an adapter polls the same PLC, which keeps delivering; a probe of
// an address where nothing listens returns the connection error.
func TestProbeReadsOneGroupBesideTheRunningAdapter(t *testing.T) {
	s := startSim(t, 4)
	dev := fixtureDevice("plc1", s.Addr())
	cfg := modbus.Config{Name: "line1", Devices: []modbus.Device{dev}}
	_, col := run(t, cfg)
	before := func(r adapters.Reading) bool { return r.Tag == "count" }
	if !col.WaitFor(2, before, 10*time.Second) {
		t.Fatal("the adapter delivers nothing")
	}

	rs, err := modbus.Probe("gw1", cfg, "plc1", "fast", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if len(rs) != len(dev.Tags) {
		t.Fatalf("probe read %d tags, want %d", len(rs), len(dev.Tags))
	}
	for _, r := range rs {
		if r.Tag == "u16" && (r.Value != uint64(0x1234) || r.Quality != adapters.QualityGood) {
			t.Fatalf("u16: %+v", r)
		}
	}
	n := col.Count(before)
	if !col.WaitFor(n+2, before, 10*time.Second) {
		t.Fatal("the adapter stopped delivering after the probe")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg.Devices[0].TCP = dead
	if _, err := modbus.Probe("gw1", cfg, "plc1", "fast", slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("probe of a closed port: %v", err)
	}
	if _, err := modbus.Probe("gw1", cfg, "plc1", "slow", slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), `no poll group "slow"`) {
		t.Fatalf("probe of a missing group: %v", err)
	}
}
