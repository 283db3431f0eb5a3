// Package pipelines runs pipelines end to end: the control plane, the
// agent, a simulated PLC and a Kafka-protocol broker as processes.
package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestPipelineDeployedToARealAgent runs the control plane, the agent, a
// Modbus simulator and a Kafka-protocol broker as processes. The local
// agent.yaml holds only identity and control plane settings; an Engineer
// creates a pipeline through the API (the Modbus device, its tags and the
// Kafka topics), an Admin deploys it, the agent verifies the signed bundle
// and applies it, its heartbeat reports the config version (the
// deployment shows "applied"), and the pipeline's readings arrive in the
// pipeline's topic.
func TestPipelineDeployedToARealAgent(t *testing.T) {
	bin := buildAgent(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok)
	cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "eng@example.com", "password": "Quartz-lantern-field-7",
		"roles": []string{"Engineer"}}, nil)

	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(8), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	broker := testenv.StartKfake(t, testenv.KafkaOpts{})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.yaml")
	// Locally only what a pipeline may not set, and a broker (the agent
	// needs one to start before its first config).
	local := fmt.Sprintf("gateway_id: gw-test\ndata_dir: %s\nmetrics: {listen: \"127.0.0.1:0\"}\nkafka: {brokers: %q}\n"+
		"control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n", filepath.Join(dir, "data"), broker.Addr)
	if err := os.WriteFile(cfgPath, []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	startAgent(t, bin, []string{"CONTROL_PLANE_URL=" + cloud.URL, "CONTROL_PLANE_GATEWAY_ID=gw-test", "CONTROL_PLANE_ENROLLMENT_TOKEN=" + tok.Token},
		"run", "--config", cfgPath, "--insecure-software-identity")
	eventually(t, "enrollment", func() bool {
		var g map[string]any
		return cloud.Call("GET", "/api/v1/gateways/gw-test", admin, nil, &g) == 200 && g["status"] == "pending"
	})
	if st := cloud.Call("POST", "/api/v1/gateways/gw-test/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}

	eng := cloud.Login("eng@example.com", "Quartz-lantern-field-7")
	spec := map[string]any{
		"kafka": map[string]any{"brokers": broker.Addr, "telemetry_topic": "pipeline.telemetry", "events_topic": "pipeline.events",
			"linger": "5ms", "flush_timeout": "2s", "retry_backoff": "500ms"},
		"adapters": []any{map[string]any{"type": "modbus", "name": "line1", "devices": []any{map[string]any{
			"name": "plc1", "tcp": mb.Addr(),
			"poll_groups": []any{map[string]any{"name": "fast", "interval": "50ms", "always": true}},
			"tags":        []any{map[string]any{"name": "pipeline_counter", "register": "holding_register", "address": 2, "type": "uint32", "poll_group": "fast"}},
		}}}},
	}
	var created map[string]any
	if st := cloud.Call("POST", "/api/v1/pipelines", eng, map[string]any{"id": "line1", "spec": spec}, &created); st != 201 {
		t.Fatalf("create pipeline: %d %v", st, created)
	}
	var dep struct {
		Results []struct {
			GatewayID     string `json:"gateway_id"`
			ConfigVersion int    `json:"config_version"`
			Error         string
		}
	}
	if st := cloud.Call("POST", "/api/v1/pipelines/line1/deploy", admin, map[string]any{"gateways": []string{"gw-test"}}, &dep); st != 200 ||
		len(dep.Results) != 1 || dep.Results[0].Error != "" || dep.Results[0].ConfigVersion < 1 {
		t.Fatalf("deploy: %d %+v", st, dep)
	}
	want := float64(dep.Results[0].ConfigVersion)
	eventually(t, "the pipeline's config version in the heartbeat", func() bool {
		var g map[string]any
		cloud.Call("GET", "/api/v1/gateways/gw-test", admin, nil, &g)
		return g["applied_config_version"] == want
	})
	var ds struct{ Deployments []struct{ Status string } }
	if cloud.Call("GET", "/api/v1/pipelines/line1/deployments", eng, nil, &ds); len(ds.Deployments) != 1 || ds.Deployments[0].Status != "applied" {
		t.Fatalf("deployments: %+v", ds)
	}

	recs := readTopic(t, broker.Addr, "pipeline.telemetry", 20)
	for _, r := range recs {
		if r.GatewayID != "gw-test" || r.Device != "plc1" || r.Tag != "pipeline_counter" {
			t.Fatalf("record not from the pipeline's tag: %+v", r)
		}
	}
}

// reading is the part of a telemetry record (docs/record-schema.md) that
// says where it came from.
type reading struct {
	GatewayID string `json:"gateway_id"`
	Device    string `json:"device"`
	Tag       string `json:"tag"`
}

// readTopic consumes topic from its start until it has n records (or a
// minute has passed).
func readTopic(t *testing.T, brokers, topic string, n int) []reading {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []reading
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records in a minute", topic, len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var rd reading
			if err := json.Unmarshal(r.Value, &rd); err != nil {
				t.Errorf("%s@%d: %v", topic, r.Offset, err)
			}
			out = append(out, rd)
		})
	}
	return out
}

// buildAgent compiles the agent into a temp dir.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "streamforge-agent")
	cmd := exec.Command("go", "build", "-o", bin, "./agent/cmd/streamforge-agent")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the agent: %v\n%s", err, out)
	}
	return bin
}

// logBuffer keeps a process's output for the failure message.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startAgent starts the agent with env added to the test's; it is stopped
// when the test ends, and its log shown if the test failed.
func startAgent(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	log := &logBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // a test killed by its timeout takes it along
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", log)
		}
	})
}

// eventually waits up to a minute for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
