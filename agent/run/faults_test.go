package run

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestExceptionOnlyDeviceShowsInMetricsAndHeartbeat: a Modbus device that
// answers every request with an exception (the sim, over TCP) is counted by
// code on the metrics endpoint, reported disconnected, and makes the
// heartbeat degraded with the exception as its error.
func TestExceptionOnlyDeviceShowsInMetricsAndHeartbeat(t *testing.T) {
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(4), 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	cfg, err := config.Parse(modbusConfig(t.TempDir(), mb.Addr(), "10ms",
		fmt.Sprintf(`{name: t, register: holding_register, address: %d, type: uint16, poll_group: g}`, sim.IllegalFrom), ""))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w := &stopWatcher{buf: a.buf, atStop: make(chan uint64, 1), started: make(chan struct{})}
	a.fwd = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-w.started
	testenv.Eventually(t, 20*time.Second, "5 readings in the buffer", func() bool { return a.buf.Stats().Records >= 5 })
	body := string(testenv.Get(t, "http://"+a.MetricsAddr()+"/metrics"))
	for _, want := range []string{
		`streamforge_adapter_device_connected{adapter="m",device="plc1"} 0`,
		`streamforge_adapter_device_faults_total{adapter="m",code="illegal_data_address",device="plc1",tag="t"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `streamforge_adapter_device_errors_total{adapter="m",device="plc1"} 0`) {
		t.Error("device_errors_total did not move")
	}
	hb := a.Health()
	if hb.Status != "degraded" || len(hb.Adapters) != 1 || hb.Adapters[0].Connected || hb.Adapters[0].Faults == 0 ||
		!strings.Contains(hb.Adapters[0].LastError, "illegal data address") {
		t.Errorf("heartbeat %+v", hb)
	}
}
