// Package e2e runs the real agent binary (host and arm64 under qemu) against
// the simulated PLCs and a Kafka-protocol broker process, and checks what
// arrives in Kafka.
package e2e

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
)

// build compiles the agent for the given target into dir (cached by go).
func build(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "streamforge-agent")
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...),
		"github.com/streamforge/streamforge/agent/cmd/streamforge-agent")...)
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=1"}, env...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agent %v: %v\n%s", env, err, out)
	}
	return bin
}

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
// and extra kafka settings (", key: value" pairs or "").
func writeConfig(t testing.TB, dir, brokers, modbusAddr string, tags int, interval time.Duration, buffer, kafka string) string {
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
      - name: plc1
        tcp: %s
        timeout: 500ms
        poll_groups: [{name: fast, interval: %s, always: true}]
        tags:
`, filepath.Join(dir, "data"), buffer, brokers, kafka, modbusAddr, interval)
	for i := range tags {
		fmt.Fprintf(&b, "          - {name: s%03d, register: holding_register, address: %d, type: float32, poll_group: fast}\n", i, 2*i)
	}
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// agent is a running agent process.
type agent struct {
	cmd     *exec.Cmd
	metrics string
	done    chan struct{}
	err     error
	mu      sync.Mutex
	log     bytes.Buffer
}

var metricsRE = regexp.MustCompile(`metrics=(127\.0\.0\.1:\d+)`)

// startAgent runs argv (the agent binary, or qemu and the binary) with
// "run --config cfg" and waits for its metrics address.
func startAgent(t testing.TB, cfg string, argv ...string) *agent {
	t.Helper()
	a := &agent{cmd: exec.Command(argv[0], append(argv[1:], "run", "--config", cfg)...), done: make(chan struct{})}
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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
			}
		}
		a.err = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.tail())
		}
	})
	select {
	case a.metrics = <-addr:
	case <-a.done:
		t.Fatalf("agent exited at start: %v\n%s", a.err, a.tail())
	case <-time.After(60 * time.Second):
		t.Fatalf("agent did not start\n%s", a.tail())
	}
	return a
}

func (a *agent) tail() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.log.String()
	return s[max(0, len(s)-5000):]
}

// kill sends SIGKILL and waits for the exit.
func (a *agent) kill() {
	_ = a.cmd.Process.Kill()
	<-a.done
}

// stop sends SIGTERM and requires a clean exit.
func (a *agent) stop(t testing.TB) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		if a.err != nil {
			t.Fatalf("agent exit after SIGTERM: %v\n%s", a.err, a.tail())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("agent still running 60s after SIGTERM\n%s", a.tail())
	}
}

// metric reads one series from the agent's /metrics (-1 when unreachable).
func (a *agent) metric(t testing.TB, series string) float64 {
	resp, err := http.Get("http://" + a.metrics + "/metrics")
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

// waitMetric polls until ok(value of series) or the limit passes.
func (a *agent) waitMetric(t testing.TB, series string, limit time.Duration, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var v float64
	for time.Now().Before(deadline) {
		if v = a.metric(t, series); ok(v) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s = %v after %s\n%s", series, v, limit, a.tail())
}
