package run

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/agent/buffer"
	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/internal/testenv"
)

// stopWatcher is a forwarder that delivers nothing and notes how many
// records the buffer held when its context ended.
type stopWatcher struct {
	buf     *buffer.Buffer
	atStop  chan uint64
	started chan struct{}
}

func (w *stopWatcher) Run(ctx context.Context) error {
	close(w.started)
	<-ctx.Done()
	w.atStop <- w.buf.Stats().Records
	return nil
}

// TestShutdownStopsAdaptersBeforeTheForwarder runs the agent against the
// Modbus simulator and checks that nothing was written to the buffer after
// the forwarder was told to stop, and that everything stays on disk.
func TestShutdownStopsAdaptersBeforeTheForwarder(t *testing.T) {
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(4), 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	dir := t.TempDir()
	cfg, err := config.Parse(modbusConfig(dir, mb.Addr(), "10ms", counterTag, ""))
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
	<-w.started
	testenv.Eventually(t, 20*time.Second, "20 readings in the buffer", func() bool { return a.buf.Stats().Records >= 20 })
	body := string(testenv.Get(t, "http://"+a.MetricsAddr()+"/metrics"))
	for _, want := range []string{`streamforge_adapter_device_connected{adapter="m",device="plc1"} 1`, "streamforge_buffer_records "} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	atStop := <-w.atStop
	b, err := buffer.Open(filepath.Join(dir, "buffer.db"), buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n := b.Stats().Records; n < 20 || n != atStop {
		t.Fatalf("%d records on disk, %d when the forwarder stopped: adapters wrote after it", n, atStop)
	}
}

// TestFullBufferAppliesTheConfiguredPolicy: with nothing delivered, a small
// buffer fills; the drop_oldest rule from agent.yaml keeps it within bounds
// and the drops show on the metrics endpoint.
func TestFullBufferAppliesTheConfiguredPolicy(t *testing.T) {
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(8), 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	cfg, err := config.Parse(modbusConfig(t.TempDir(), mb.Addr(), "5ms",
		`{name: a, register: holding_register, address: 0, type: float32, poll_group: g},
		 {name: b, register: holding_register, address: 2, type: uint32, poll_group: g}`,
		"buffer: {max_bytes: 4KiB, streams: [{name: plc, device: plc1, policy: drop_oldest}]}"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.fwd = &stopWatcher{buf: a.buf, atStop: make(chan uint64, 1), started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	testenv.Eventually(t, 20*time.Second, "50 drop_oldest drops", func() bool { return a.buf.Stats().Drops["plc/drop_oldest"] >= 50 })
	st := a.buf.Stats()
	body := string(testenv.Get(t, "http://"+a.MetricsAddr()+"/metrics"))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st.Drops["plc/drop_oldest"] < 50 || st.Bytes > 4096 {
		t.Fatalf("stats %+v: want drops and at most 4096 bytes", st)
	}
	if !strings.Contains(body, `streamforge_buffer_dropped_readings_total{policy="drop_oldest",stream="plc"}`) {
		t.Error("drop counter missing from /metrics")
	}
}

// counterTag is the sim's counter signal as a tag of modbusConfig.
const counterTag = `{name: counter, register: holding_register, address: 2, type: uint32, poll_group: g}`

// modbusConfig is an agent.yaml with its buffer in dir that polls tags (YAML
// flow maps) of the Modbus sim at addr every interval, plus extra top-level
// settings. Kafka is out of reach: the tests give the agent a forwarder of
// their own.
func modbusConfig(dir, addr, interval, tags, extra string) []byte {
	return fmt.Appendf(nil, `gateway_id: gw1
data_dir: %s
kafka: {brokers: "127.0.0.1:1"}
metrics: {listen: "127.0.0.1:0"}
adapters:
  - type: modbus
    name: m
    devices:
      - name: plc1
        tcp: %s
        poll_groups: [{name: g, interval: %s, always: true}]
        tags: [%s]
%s
`, dir, addr, interval, tags, extra)
}
