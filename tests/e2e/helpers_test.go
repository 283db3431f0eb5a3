// Package e2e runs the real agent binary (host and arm64 under qemu) against
// the simulated PLCs and a Kafka-protocol broker process, and checks what
// arrives in Kafka.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/testenv"
)

// startSim starts the Modbus simulator with n signals changing rate times a second.
func startSim(t testing.TB, n int, rate float64) *sim.Modbus {
	t.Helper()
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(n), rate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	return mb
}

// defaultBuffer is the buffer section most tests use.
const defaultBuffer = "{max_bytes: 256MiB}"

// writeConfig writes an agent config that polls tags float32 holding
// registers of the Modbus device at modbusAddr every interval, reporting
// every poll (tags readings per interval), with the given buffer section
// and extra kafka settings.
func writeConfig(t testing.TB, dir, brokers, modbusAddr string, tags int, interval time.Duration, buffer, kafka string) string {
	return writeDevicesConfig(t, dir, brokers, modbusAddr, 1, tags, interval, buffer, kafka)
}

// writeDevicesConfig is writeConfig with devices devices (plc1, plc2, ...)
// of tags tags each, all at modbusAddr (one connection each, polled
// side by side, as a gateway polls several PLCs): devices*tags readings
// per interval.
func writeDevicesConfig(t testing.TB, dir, brokers, modbusAddr string, devices, tags int, interval time.Duration, buffer, kafka string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `gateway_id: gw-e2e
data_dir: %s
log_level: info
buffer: %s
kafka: {brokers: "%s", linger: 5ms, flush_timeout: 2s, retry_backoff: 500ms, delivery_timeout: 5s%s}
metrics: {listen: "127.0.0.1:0"}
adapters:
  - type: modbus
    name: line1
    devices:
`, filepath.Join(dir, "data"), buffer, brokers, kafka)
	for d := 1; d <= devices; d++ {
		fmt.Fprintf(&b, `      - name: plc%d
        tcp: %s
        timeout: 500ms
        poll_groups: [{name: fast, interval: %s, always: true}]
        tags:
`, d, modbusAddr, interval)
		for i := range tags {
			fmt.Fprintf(&b, "          - {name: s%03d, register: holding_register, address: %d, type: float32, poll_group: fast}\n", i, 2*i)
		}
	}
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAgent runs argv (the agent binary, or qemu and the binary) with
// "run --config cfg" and waits for its metrics address.
func startAgent(t testing.TB, cfg string, argv ...string) *testenv.Agent {
	t.Helper()
	return testenv.StartAgent(t, testenv.AgentOptions{Argv: argv, Config: cfg})
}
