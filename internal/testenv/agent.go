package testenv

import (
	"bufio"
	"bytes"
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
)

// AgentPackage is the agent command's import path.
const AgentPackage = "github.com/streamforge/streamforge/agent/cmd/streamforge-agent"

// BuildAgent compiles the agent (cgo on; env adds GOARCH, CC, ...; args
// add go build flags such as -tags) into a temp dir and returns its path.
func BuildAgent(t testing.TB, env []string, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "streamforge-agent")
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), AgentPackage)...)
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=1"}, env...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agent %v: %v\n%s", env, err, out)
	}
	return bin
}

// AgentOptions say how to run an agent process.
type AgentOptions struct {
	// Argv is the agent binary, or an emulator and the binary
	// (qemu-aarch64-static BIN); "run --config Config" and Args follow.
	Argv   []string
	Config string
	Args   []string
	// Env is added to the test's environment (CONTROL_PLANE_URL, ...).
	Env []string
}

// Agent is a running `streamforge-agent run` process. Its metrics
// listener binds 127.0.0.1:0 and the agent logs the bound address
// ("metrics=127.0.0.1:PORT"), which Agent follows: no port is chosen by
// the test and freed for the agent to take (another process could take it
// first), and a managed agent's data path, restarted on a new config, is
// found on its new port.
type Agent struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit, once done is closed

	mu      sync.Mutex
	log     bytes.Buffer
	metrics string // the newest address the agent reported
}

var metricsRE = regexp.MustCompile(`metrics=(127\.0\.0\.1:\d+)`)

// agentStartLimit is how long an agent may take to report its metrics
// address: a cold arm64 binary under qemu-user takes seconds.
const agentStartLimit = 60 * time.Second

// StartAgent starts the agent and waits for its metrics address. The
// process is killed when the test ends; its log is printed (and kept in
// $STREAMFORGE_TEST_LOG_DIR) when the test failed.
func StartAgent(t testing.TB, o AgentOptions) *Agent {
	t.Helper()
	argv := append(append(append([]string{}, o.Argv...), "run", "--config", o.Config), o.Args...)
	a := &Agent{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	a.cmd.Env = append(os.Environ(), o.Env...)
	// A test binary killed by its timeout takes the agent with it.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reported := make(chan struct{}, 1)
	go a.follow(stderr, reported)
	t.Cleanup(func() {
		a.Kill()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.Tail())
			if d := os.Getenv("STREAMFORGE_TEST_LOG_DIR"); d != "" {
				_ = os.WriteFile(filepath.Join(d, "agent-"+strconv.Itoa(a.Pid())+".log"), []byte(a.Log()), 0o600)
			}
		}
	})
	select {
	case <-reported:
	case <-a.done:
		t.Fatalf("agent exited at start: %v\n%s", a.err, a.Tail())
	case <-time.After(agentStartLimit):
		t.Fatalf("agent did not report its metrics address within %s\n%s", agentStartLimit, a.Tail())
	}
	return a
}

// follow keeps the agent's log and its newest metrics address until the
// process exits.
func (a *Agent) follow(stderr io.Reader, reported chan<- struct{}) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		a.mu.Lock()
		a.log.WriteString(line + "\n")
		if m := metricsRE.FindStringSubmatch(line); m != nil {
			a.metrics = m[1]
			select {
			case reported <- struct{}{}:
			default:
			}
		}
		a.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, stderr) // a line too long for the scanner
	a.err = a.cmd.Wait()
	close(a.done)
}

// MetricsAddr is the newest metrics address the agent reported.
func (a *Agent) MetricsAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.metrics
}

// Pid is the process id.
func (a *Agent) Pid() int { return a.cmd.Process.Pid }

// Log is everything the agent logged so far.
func (a *Agent) Log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

// Tail is the end of the log, for failure messages.
func (a *Agent) Tail() string {
	s := a.Log()
	return s[max(0, len(s)-6000):]
}

// Kill sends SIGKILL and waits for the exit.
func (a *Agent) Kill() {
	_ = a.cmd.Process.Kill()
	<-a.done
}

// agentStopLimit is how long a SIGTERM may take: the forwarder's flush
// timeout plus closing the producer, with room for a loaded machine.
const agentStopLimit = 60 * time.Second

// Stop sends SIGTERM and requires a clean exit.
func (a *Agent) Stop(t testing.TB) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		if a.err != nil {
			t.Fatalf("agent exit after SIGTERM: %v\n%s", a.err, a.Tail())
		}
	case <-time.After(agentStopLimit):
		t.Fatalf("agent still running %s after SIGTERM\n%s", agentStopLimit, a.Tail())
	}
}

// Metric reads one series (name with its labels, as exposed) from the
// agent's /metrics: -1 when the endpoint or the series is not there.
func (a *Agent) Metric(series string) float64 {
	exposition, ok := a.exposition()
	if !ok {
		return -1
	}
	return MetricValue(exposition, series)
}

// MetricSum adds up every series of the metric name (all its label sets)
// on the agent's /metrics: -1 when the endpoint is not there.
func (a *Agent) MetricSum(name string) float64 {
	exposition, ok := a.exposition()
	if !ok {
		return -1
	}
	var sum float64
	for line := range strings.Lines(exposition) {
		if rest, ok := strings.CutPrefix(line, name+"{"); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest[strings.LastIndexByte(rest, ' '):]), 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

func (a *Agent) exposition() (string, bool) {
	resp, err := http.Get("http://" + a.MetricsAddr() + "/metrics")
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), true
}

// MetricValue is the value of series (name with its labels, as exposed)
// in a Prometheus text exposition: -1 when it is absent or not a number.
func MetricValue(exposition, series string) float64 {
	for line := range strings.Lines(exposition) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return v
			}
		}
	}
	return -1
}

// WaitMetric waits until ok(value of series), failing t after limit with
// the last value and the agent's log.
func (a *Agent) WaitMetric(t testing.TB, series string, limit time.Duration, ok func(float64) bool) {
	t.Helper()
	var v float64
	if !Within(limit, func() bool { v = a.Metric(series); return ok(v) }) {
		t.Fatalf("%s = %v after %s\n%s", series, v, limit, a.Tail())
	}
}

// Eventually waits until cond holds, failing t after limit with what and
// the agent's log.
func (a *Agent) Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s\n%s", limit, what, a.Tail())
	}
}
