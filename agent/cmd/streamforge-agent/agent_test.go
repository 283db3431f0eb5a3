package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	bin := buildAgent(t)
	cfgPath, dir, broker := startDataPath(t)

	agent := startAgent(t, bin, cfgPath)
	waitMetric(t, agent, `streamforge_adapter_device_connected{adapter="line1",device="plc1"}`, 1)
	waitMetric(t, agent, `streamforge_adapter_device_connected{adapter="ua",device="ua1"}`, 1)
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 100)

	broker.Stop()
	waitMetric(t, agent, "streamforge_buffer_records", 200)
	agent.stop(t)

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
	waitMetricBelow(t, agent, "streamforge_buffer_records", float64(backlog/4))
	agent.stop(t)
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

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "streamforge-agent")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startDataPath starts the Modbus and OPC UA simulators and a kfake broker,
// and writes an agent.yaml reading the one into the other. It returns the
// config's path, its directory and the broker.
func startDataPath(t *testing.T) (cfgPath, dir string, broker *testenv.Broker) {
	t.Helper()
	cfgPath, dir, broker, _ = startDataPathSims(t)
	return cfgPath, dir, broker
}

// startDataPathSims is startDataPath that also returns the Modbus
// simulator, for tests that stop and restart it.
func startDataPathSims(t *testing.T) (cfgPath, dir string, broker *testenv.Broker, mb *sim.Modbus) {
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
	broker = testenv.StartKfake(t, testenv.KafkaOpts{})
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

type agentProc struct {
	cmd         *exec.Cmd
	metrics     string
	done        chan error
	mu          sync.Mutex
	log         bytes.Buffer
	lastMetrics string // the data path restarts on a new config, on a new port if listen is :0
}

// refreshMetrics follows the metrics endpoint to where the newest data
// path serves it.
func (a *agentProc) refreshMetrics(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastMetrics != "" {
		a.metrics = a.lastMetrics
	}
}

var metricsRE = regexp.MustCompile(`metrics=(127\.0\.0\.1:\d+)`)

func startAgent(t *testing.T, bin, cfg string) *agentProc {
	t.Helper()
	a := &agentProc{cmd: exec.Command(bin, "run", "--config", cfg), done: make(chan error, 1)}
	return a.start(t)
}

// start runs the prepared command and waits for its metrics address.
func (a *agentProc) start(t *testing.T) *agentProc {
	t.Helper()
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			a.mu.Lock()
			a.log.WriteString(sc.Text() + "\n")
			a.mu.Unlock()
			if m := metricsRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
				a.mu.Lock()
				a.lastMetrics = m[1]
				a.mu.Unlock()
			}
		}
		a.done <- a.cmd.Wait()
	}()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logTail())
			if d := os.Getenv("STREAMFORGE_TEST_LOG_DIR"); d != "" {
				a.mu.Lock()
				_ = os.WriteFile(filepath.Join(d, "agent-"+strconv.Itoa(a.cmd.Process.Pid)+".log"), a.log.Bytes(), 0o600)
				a.mu.Unlock()
			}
		}
	})
	select {
	case a.metrics = <-addr:
	case err := <-a.done:
		t.Fatalf("agent exited at start: %v\n%s", err, a.logTail())
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not start\n%s", a.logTail())
	}
	return a
}

func (a *agentProc) logTail() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.log.String()
	return s[max(0, len(s)-6000):]
}

// stop sends SIGTERM and requires a clean exit.
func (a *agentProc) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("agent exit after SIGTERM: %v\n%s", err, a.logTail())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent still running 30s after SIGTERM\n%s", a.logTail())
	}
}

// waitMetric polls /metrics until the series (name with its labels, as
// exposed) reaches at least want.
func waitMetric(t *testing.T, a *agentProc, series string, want float64) {
	t.Helper()
	waitFor(t, a, series, ">=", want, func(v float64) bool { return v >= want })
}

// waitMetricBelow polls /metrics until the series is present and below want.
func waitMetricBelow(t *testing.T, a *agentProc, series string, want float64) {
	t.Helper()
	waitFor(t, a, series, "<", want, func(v float64) bool { return v >= 0 && v < want })
}

func waitFor(t *testing.T, a *agentProc, series, op string, want float64, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got float64
	for time.Now().Before(deadline) {
		a.refreshMetrics(t)
		if got = scrape(t, a.metrics, series); ok(got) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s = %v, want %s %v\n%s", series, got, op, want, a.logTail())
}

func scrape(t *testing.T, addr, series string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return v
		}
	}
	return -1
}
