package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// ackedSeries counts the readings the broker acknowledged, per process.
const ackedSeries = "streamforge_forward_acked_records_total"

// agentTags is how many tags each agent reads: its streams in Kafka.
const agentTags = 4

// agentLimit is how long a step of a real agent may take (start, a
// config applied, a heartbeat through) on a machine shared with others.
const agentLimit = time.Minute

// fleetAgent is a real agent process, managed by one control plane
// replica, reading its own Modbus simulator into its own topic. The local
// agent.yaml holds no adapters and no topic: only the config the cloud
// delivered (version) makes it read and write where it does.
type fleetAgent struct {
	id, topic string
	dir       string // agent.yaml and data/
	opts      testenv.AgentOptions
	cloud     *testenv.Cloud
	proc      *testenv.Agent
	version   int
	broker    string
}

// startFleetAgents starts one agent per replica, enrolls it with token,
// approves it and deploys its config, and returns once every agent runs
// that config (heartbeat says so) and delivers readings.
func startFleetAgents(t *testing.T, replicas []*testenv.Cloud, admin, token string) []*fleetAgent {
	t.Helper()
	bin := testenv.BuildAgent(t, nil)
	broker := testenv.StartKfake(t, testenv.KafkaOpts{})
	fleet := make([]*fleetAgent, len(replicas))
	for i, r := range replicas {
		a := &fleetAgent{id: fmt.Sprintf("gw-agent-%d", i), dir: t.TempDir(), cloud: r, broker: broker.Addr}
		a.topic = "pgrestart." + a.id
		cfg := filepath.Join(a.dir, "agent.yaml")
		local := fmt.Sprintf("gateway_id: %s\ndata_dir: %s\nmetrics: {listen: \"127.0.0.1:0\"}\nkafka: {brokers: %q}\n"+
			"control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n", a.id, filepath.Join(a.dir, "data"), broker.Addr)
		if err := os.WriteFile(cfg, []byte(local), 0o600); err != nil {
			t.Fatal(err)
		}
		a.opts = testenv.AgentOptions{Argv: []string{bin}, Config: cfg, Args: []string{"--insecure-software-identity"},
			Env: []string{"CONTROL_PLANE_URL=" + r.URL, "CONTROL_PLANE_GATEWAY_ID=" + a.id, "CONTROL_PLANE_ENROLLMENT_TOKEN=" + token}}
		a.proc = testenv.StartAgent(t, a.opts)
		fleet[i] = a
	}
	for _, a := range fleet {
		a.proc.Eventually(t, agentLimit, a.id+" pending review", func() bool { return a.gateway(admin)["status"] == "pending" })
		if st := a.cloud.Call("POST", "/api/v1/gateways/"+a.id+"/approve", admin, nil, nil); st != 200 {
			t.Fatalf("approve %s: %d", a.id, st)
		}
		a.deploy(t, admin)
	}
	for _, a := range fleet {
		a.proc.Eventually(t, agentLimit, fmt.Sprintf("%s reporting config v%d", a.id, a.version),
			func() bool { return a.gateway(admin)["applied_config_version"] == float64(a.version) })
		a.proc.WaitMetric(t, ackedSeries, agentLimit, func(v float64) bool { return v >= 20 })
	}
	return fleet
}

// deploy sends the agent its data path: a Modbus device and its topic.
func (a *fleetAgent) deploy(t *testing.T, admin string) {
	t.Helper()
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(agentTags), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	var tags []any
	for i := range agentTags {
		tags = append(tags, map[string]any{"name": fmt.Sprintf("s%03d", i), "register": "holding_register", "address": 2 * i,
			"type": "float32", "poll_group": "fast"})
	}
	doc := map[string]any{
		"kafka": map[string]any{"brokers": a.broker, "telemetry_topic": a.topic, "events_topic": a.topic + ".events",
			"linger": "5ms", "flush_timeout": "2s", "retry_backoff": "500ms"},
		"adapters": []any{map[string]any{"type": "modbus", "name": "line1", "devices": []any{map[string]any{
			"name": "plc1", "tcp": mb.Addr(), "timeout": "500ms",
			"poll_groups": []any{map[string]any{"name": "fast", "interval": "50ms", "always": true}},
			"tags":        tags,
		}}}},
	}
	var out struct{ Version int }
	if st := a.cloud.Call("PUT", "/api/v1/gateways/"+a.id+"/config", admin, map[string]any{"config": doc}, &out); st != 200 || out.Version < 1 {
		t.Fatalf("deploy to %s: %d %+v", a.id, st, out)
	}
	a.version = out.Version
}

// gateway is the control plane's view of the agent's gateway.
func (a *fleetAgent) gateway(admin string) map[string]any {
	var g map[string]any
	a.cloud.Call("GET", "/api/v1/gateways/"+a.id, admin, nil, &g)
	return g
}

// firstBeatAfter is when the first heartbeat of the agent after since
// arrived, zero if none has (the gateway's last_seen_at moves only every
// 30 s, its heartbeat history with each one). It looks at the newest 100,
// 20 s of heartbeats: enough for a caller that asks as soon as one is due.
func (a *fleetAgent) firstBeatAfter(admin string, since time.Time) time.Time {
	var h struct {
		Heartbeats []struct {
			ReceivedAt time.Time `json:"received_at"`
		} `json:"heartbeats"`
	}
	a.cloud.Call("GET", "/api/v1/gateways/"+a.id+"/health?limit=100", admin, nil, &h)
	var first time.Time
	for _, b := range h.Heartbeats { // newest first
		if !b.ReceivedAt.After(since) {
			break
		}
		first = b.ReceivedAt
	}
	return first
}

func (a *fleetAgent) failedBeats() int { return strings.Count(a.proc.Log(), "heartbeat failed") }

// failedCalls are the log messages of a control plane call that failed.
var failedCalls = []string{`msg="heartbeat failed"`, `msg="config poll failed`, `msg="token request failed"`, `msg="enrollment failed`}

// failuresAfter returns the agent's log lines of control plane calls that
// failed after since: the agent's side of "no 5xx outside the outage".
func (a *fleetAgent) failuresAfter(since time.Time) []string {
	var out []string
	for line := range strings.Lines(a.proc.Log()) {
		if !slices.ContainsFunc(failedCalls, func(m string) bool { return strings.Contains(line, m) }) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err != nil || at.After(since) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// storedVersion is the last-known-good config version in the agent's state
// on disk, the one it starts on without a control plane.
func (a *fleetAgent) storedVersion(t *testing.T) int {
	t.Helper()
	st, err := controlplane.LoadState(filepath.Join(a.dir, "data", "controlplane"))
	if err != nil {
		t.Fatalf("%s state: %v", a.id, err)
	}
	if st.Config == nil {
		return 0
	}
	return st.Config.Version
}

// deliversThroughOutage checks, while the database is down, that the
// agent sees the outage (its heartbeats fail), keeps delivering readings
// and keeps its config.
func (a *fleetAgent) deliversThroughOutage(t *testing.T, beatsBefore int) {
	t.Helper()
	a.proc.Eventually(t, agentLimit, a.id+": a heartbeat failing during the outage", func() bool { return a.failedBeats() > beatsBefore })
	acked := a.proc.Metric(ackedSeries)
	a.proc.WaitMetric(t, ackedSeries, agentLimit, func(v float64) bool { return v >= acked+50 })
	if v := a.storedVersion(t); v != a.version {
		t.Errorf("%s: last-known-good config v%d during the outage, want v%d", a.id, v, a.version)
	}
}

// restartOffline restarts the agent while the control plane cannot serve
// it: it must come back on its last-known-good config from its local state
// and deliver readings before it has a token.
func (a *fleetAgent) restartOffline(t *testing.T) {
	t.Helper()
	a.proc.Stop(t)
	a.proc = testenv.StartAgent(t, a.opts)
	want := fmt.Sprintf("running on last-known-good config\" version=%d", a.version)
	a.proc.Eventually(t, agentLimit, a.id+" on its last-known-good config", func() bool { return strings.Contains(a.proc.Log(), want) })
	a.proc.WaitMetric(t, ackedSeries, agentLimit, func(v float64) bool { return v >= 50 })
	a.proc.Eventually(t, agentLimit, a.id+": a token refused during the outage", func() bool {
		return strings.Contains(a.proc.Log(), "token request failed")
	})
	if strings.Contains(a.proc.Log(), "gateway token obtained") {
		t.Fatalf("%s obtained a token during the outage:\n%s", a.id, a.proc.Tail())
	}
}

// checkDelivered stops the agent (its buffer drains) and checks its topic:
// every reading of every stream from seq 1 up to the last one its buffer
// committed, the first copies in order, duplicates only as repeated seqs.
// during counts the readings in Kafka read between from and to.
func (a *fleetAgent) checkDelivered(t *testing.T, from, to time.Time) (rep kafkatest.Report, during int) {
	t.Helper()
	a.proc.Stop(t)
	recs, err := kafkatest.ReadAll(context.Background(), kafkatest.Conn{Brokers: a.broker}, a.topic, agentLimit)
	if err != nil {
		t.Fatalf("%s: read %s: %v", a.id, a.topic, err)
	}
	want, left, err := kafkatest.BufferTail(filepath.Join(a.dir, "data", "buffer.db"), recs)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err = kafkatest.Check(append(recs, left...), want, nil); err != nil {
		t.Fatalf("%s: %v", a.id, err)
	}
	if rep.Streams != agentTags {
		t.Errorf("%s: %d streams in %s, want %d", a.id, rep.Streams, a.topic, agentTags)
	}
	for _, r := range recs {
		if st := r.Body.SourceTime; st.After(from) && st.Before(to) {
			during++
		}
	}
	return rep, during
}
