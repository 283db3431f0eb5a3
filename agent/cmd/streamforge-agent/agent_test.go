package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/agent/buffer"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestAgentProcessForwardsBuffersAndKeepsBacklogOnSIGTERM runs the real
// binary against the Modbus and OPC UA simulators and a kfake broker process:
// readings are delivered (acked records grow), pile up in the buffer while
// the broker is down, and stay on disk, in order, after a SIGTERM; a restart
// drains them.
func TestAgentProcessForwardsBuffersAndKeepsBacklogOnSIGTERM(t *testing.T) {
	bin := testenv.BuildAgent(t, nil)
	cfgPath, dir, broker := startDataPath(t)

	agent := startAgent(t, bin, cfgPath)
	waitMetric(t, agent, `streamforge_adapter_device_connected{adapter="line1",device="plc1"}`, 1)
	waitMetric(t, agent, `streamforge_adapter_device_connected{adapter="ua",device="ua1"}`, 1)
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 100)

	broker.Stop()
	waitMetric(t, agent, "streamforge_buffer_records", 200)
	agent.Stop(t)

	b, err := buffer.Open(filepath.Join(dir, "data", "buffer.db"), buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := b.Read(nil, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	backlog := len(recs)
	devices := map[string]bool{}
	last := map[string]uint64{}
	for _, r := range recs {
		k := r.Reading.StreamKey()
		if l, ok := last[k]; ok && r.Reading.Seq != l+1 {
			t.Fatalf("stream %s: seq %d after %d in the kept backlog", k, r.Reading.Seq, l)
		}
		last[k] = r.Reading.Seq
		devices[r.Reading.Device] = true
	}
	if backlog < 200 || !devices["plc1"] || !devices["ua1"] {
		t.Fatalf("backlog after SIGTERM: %d records from %v", backlog, devices)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	broker.Start()
	agent = startAgent(t, bin, cfgPath)
	waitMetric(t, agent, "streamforge_forward_acked_records_total", float64(backlog))
	agent.WaitMetric(t, "streamforge_buffer_records", time.Minute, func(v float64) bool { return v >= 0 && v < float64(backlog/4) })
	agent.Stop(t)
	t.Logf("backlog of %d readings kept over SIGTERM and delivered after restart", backlog)
}

func TestCheckNamesTheBadField(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(p, []byte("gateway_id: gw1\nkafka: {brokers: \"b:1\"}\nbuffer: {default_policy: spill}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	err := mainErr([]string{"check", "--config", p}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "buffer.default_policy") {
		t.Fatalf("check: %v", err)
	}
	if err := mainErr([]string{"check", "--config", "../../agent.example.yaml"}, &stderr); err != nil {
		t.Fatalf("check of the example: %v", err)
	}
	if err := mainErr([]string{"serve"}, &stderr); err == nil || !strings.Contains(stderr.String(), "usage") {
		t.Fatalf("unknown command: %v, %q", err, stderr.String())
	}
}

// startDataPath starts the Modbus and OPC UA simulators and a kfake broker,
// and writes an agent.yaml reading the one into the other. It returns the
// config's path, its directory and the broker.
func startDataPath(t *testing.T) (cfgPath, dir string, broker *testenv.Broker) {
	t.Helper()
	cfgPath, dir, broker, _ = startDataPathSims(t, testenv.KafkaOpts{})
	return cfgPath, dir, broker
}

// startDataPathWith is startDataPath with a broker started with opts.
func startDataPathWith(t *testing.T, opts testenv.KafkaOpts) (cfgPath, dir string, broker *testenv.Broker) {
	t.Helper()
	cfgPath, dir, broker, _ = startDataPathSims(t, opts)
	return cfgPath, dir, broker
}

// startDataPathSims is startDataPathWith that also returns the Modbus
// simulator, for tests that stop and restart it.
func startDataPathSims(t *testing.T, opts testenv.KafkaOpts) (cfgPath, dir string, broker *testenv.Broker, mb *sim.Modbus) {
	t.Helper()
	signals := sim.Signals(8)
	mb, err := sim.StartModbus("127.0.0.1:0", signals, 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	ua, err := sim.StartOPCUA("127.0.0.1:0", signals, 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ua.Stop)
	broker = testenv.StartKfake(t, opts)
	dir = t.TempDir()
	cfgPath = filepath.Join(dir, "agent.yaml")
	writeConfig(t, cfgPath, dir, broker.Addr, mb.Addr(), ua.Endpoint())
	return cfgPath, dir, broker, mb
}

func writeConfig(t *testing.T, path, dir, brokers, modbusAddr, uaEndpoint string) {
	t.Helper()
	cfg := fmt.Sprintf(`gateway_id: gw-test
data_dir: %s
log_level: debug
buffer: {max_bytes: 64MiB}
kafka: {brokers: "%s", linger: 5ms, flush_timeout: 2s, retry_backoff: 500ms}
metrics: {listen: "127.0.0.1:0"}
adapters:
  - type: modbus
    name: line1
    devices:
      - name: plc1
        tcp: %s
        poll_groups: [{name: fast, interval: 50ms, always: true}]
        tags:
          - {name: temperature, register: holding_register, address: 0, type: float32, poll_group: fast}
          - {name: counter, register: holding_register, address: 2, type: uint32, poll_group: fast}
          - {name: alarm, register: coil, address: 3, type: bool, poll_group: fast}
  - type: opcua
    name: ua
    servers:
      - name: ua1
        endpoint: %s
        security_policy: None
        insecure: true
        poll_groups: [{name: p, interval: 50ms}]
        nodes:
          - {name: temperature, node_id: "%s", poll_group: p}
          - {name: pressure, node_id: "%s", poll_group: p}
`, filepath.Join(dir, "data"), brokers, modbusAddr, uaEndpoint, sim.NodeID("temperature_0"), sim.NodeID("pressure_2"))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startAgent runs the agent binary on cfg (no control plane).
func startAgent(t *testing.T, bin, cfg string) *testenv.Agent {
	t.Helper()
	return testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfg})
}

// waitMetric waits until the series (name with its labels, as exposed)
// reaches at least want.
func waitMetric(t *testing.T, a *testenv.Agent, series string, want float64) {
	t.Helper()
	a.WaitMetric(t, series, time.Minute, func(v float64) bool { return v >= want })
}
