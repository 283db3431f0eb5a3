// Package rollout runs a staged rollout end to end: the control plane,
// agents, a simulated PLC and Kafka-protocol brokers as processes.
package rollout

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

// rolloutView is what the journey reads of GET .../rollouts/{rid}.
type rolloutView struct {
	ID       uint64
	State    string
	Reason   string
	Gateways []struct {
		GatewayID     string `json:"gateway_id"`
		Status        string
		Error         string
		ConfigVersion int  `json:"config_version"`
		RolledBack    bool `json:"rolled_back"`
	}
}

func (r rolloutView) statuses() string {
	var b []string
	for _, g := range r.Gateways {
		b = append(b, g.GatewayID+":"+g.Status)
	}
	return strings.Join(b, " ")
}

// TestStagedRolloutStopsAndRollsBackOnRealAgents is the rollout journey
// with real processes: the control plane (its rollout engine), three
// agents reading a Modbus simulator, two Kafka-protocol brokers. Version 1
// of a pipeline goes to a canary, then to the other two once the canary's
// heartbeat reports it applied. Version 2 moves the data to a SCRAM
// broker whose password is a ${secret:kafka-password} reference: gw-3
// does not define that secret, so its agent refuses the config, its
// heartbeat says why, and the rollout stops by itself. One call rolls it
// back, and every agent ends on version 1's document again.
func TestStagedRolloutStopsAndRollsBackOnRealAgents(t *testing.T) {
	bin := testenv.BuildAgent(t, nil)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 3}, &tok)

	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(8), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	plain := testenv.StartKfake(t, testenv.KafkaOpts{})
	const password = "Scram-rollout-pass-42"
	secure := testenv.StartKfake(t, testenv.KafkaOpts{SCRAMUser: "edge", SCRAMPassword: password})

	var agents []*testenv.Agent
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("gw-%d", i)
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "agent.yaml")
		local := fmt.Sprintf("gateway_id: %s\ndata_dir: %s\nmetrics: {listen: \"127.0.0.1:0\"}\nkafka: {brokers: %q}\n"+
			"control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n", id, filepath.Join(dir, "data"), plain.Addr)
		if err := os.WriteFile(cfgPath, []byte(local), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"CONTROL_PLANE_URL=" + cloud.URL, "CONTROL_PLANE_GATEWAY_ID=" + id, "CONTROL_PLANE_ENROLLMENT_TOKEN=" + tok.Token}
		if i < 3 {
			env = append(env, "STREAMFORGE_SECRET_KAFKA_PASSWORD="+password)
		}
		agents = append(agents, testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfgPath,
			Args: []string{"--insecure-software-identity"}, Env: env}))
		testenv.Eventually(t, time.Minute, id+" enrollment", func() bool {
			var g map[string]any
			return cloud.Call("GET", "/api/v1/gateways/"+id, admin, nil, &g) == 200 && g["status"] == "pending"
		})
		if st := cloud.Call("POST", "/api/v1/gateways/"+id+"/approve", admin, nil, nil); st != 200 {
			t.Fatalf("approve %s: %d", id, st)
		}
	}
	logs := func() string {
		var b strings.Builder
		for i, a := range agents {
			fmt.Fprintf(&b, "--- gw-%d\n%s\n", i+1, a.Log())
		}
		return b.String() + "--- cloud\n" + cloud.Log()
	}

	kafka := func(brokers string, security map[string]any) map[string]any {
		k := map[string]any{"brokers": brokers, "telemetry_topic": "rollout.telemetry", "events_topic": "rollout.events",
			"linger": "5ms", "flush_timeout": "2s", "retry_backoff": "500ms"}
		if security != nil {
			k["security"] = security
		}
		return k
	}
	spec := func(k map[string]any) map[string]any {
		return map[string]any{"kafka": k, "adapters": []any{map[string]any{"type": "modbus", "name": "line1", "devices": []any{map[string]any{
			"name": "plc1", "tcp": mb.Addr(),
			"poll_groups": []any{map[string]any{"name": "fast", "interval": "100ms", "always": true}},
			"tags":        []any{map[string]any{"name": "counter", "register": "holding_register", "address": 2, "type": "uint32", "poll_group": "fast"}},
		}}}}}
	}
	if st := cloud.Call("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line1", "spec": spec(kafka(plain.Addr, nil))}, nil); st != 201 {
		t.Fatalf("create pipeline: %d", st)
	}
	targets := []string{"gw-1", "gw-2", "gw-3"}
	start := func(version int) uint64 {
		var ro rolloutView
		if st := cloud.Call("POST", "/api/v1/pipelines/line1/rollouts", admin, map[string]any{"version": version, "gateways": targets,
			"canary": 1, "apply_timeout": "45s"}, &ro); st != 201 {
			t.Fatalf("start rollout of v%d: %d %+v", version, st, ro)
		}
		return ro.ID
	}
	get := func(rid uint64) rolloutView {
		var ro rolloutView
		if st := cloud.Call("GET", fmt.Sprintf("/api/v1/pipelines/line1/rollouts/%d", rid), admin, nil, &ro); st != 200 {
			t.Fatalf("get rollout %d: %d", rid, st)
		}
		return ro
	}
	waitState := func(rid uint64, state string, seen func(rolloutView)) rolloutView {
		t.Helper()
		var ro rolloutView
		ok := testenv.Within(time.Minute, func() bool {
			ro = get(rid)
			if seen != nil {
				seen(ro)
			}
			if ro.State != state && ro.State != "running" && ro.State != "rolling_back" {
				t.Fatalf("rollout %d ended %s (%s), want %s: %s\n%s", rid, ro.State, ro.Reason, state, ro.statuses(), logs())
			}
			return ro.State == state
		})
		if !ok {
			t.Fatalf("timed out waiting for rollout state %s: %s\n%s", state, ro.statuses(), logs())
		}
		return ro
	}

	// v1: the canary alone first, then the rest.
	r1 := start(1)
	canaryAlone := false
	ro := waitState(r1, "done", func(ro rolloutView) {
		canaryAlone = canaryAlone || ro.statuses() == "gw-1:pending gw-2:waiting gw-3:waiting" ||
			ro.statuses() == "gw-1:applied gw-2:waiting gw-3:waiting"
		if ro.Gateways[0].Status == "waiting" && ro.Gateways[1].Status != "waiting" {
			t.Fatalf("a wave before the canary: %s", ro.statuses())
		}
	})
	if !canaryAlone || ro.statuses() != "gw-1:applied gw-2:applied gw-3:applied" {
		t.Fatalf("v1 rollout: canary seen alone %v; %s", canaryAlone, ro.statuses())
	}
	v1Doc := currentConfig(t, cloud, admin, "gw-1")

	// v2 needs a secret gw-3 lacks: the rollout stops at the wave.
	scram := map[string]any{"protocol": "sasl_plaintext", "mechanism": "SCRAM-SHA-512", "username": "edge", "password": "${secret:kafka-password}"}
	if st := cloud.Call("PUT", "/api/v1/pipelines/line1", admin, map[string]any{"base_version": 1, "spec": spec(kafka(secure.Addr, scram))}, nil); st != 200 {
		t.Fatalf("save v2: %d", st)
	}
	r2 := start(2)
	ro = waitState(r2, "stopped", nil)
	if ro.statuses() != "gw-1:applied gw-2:applied gw-3:failed" || !strings.Contains(ro.Gateways[2].Error, "kafka-password") ||
		!strings.Contains(ro.Reason, "gw-3") {
		t.Fatalf("v2 rollout stopped: %s; %q; %q", ro.statuses(), ro.Reason, ro.Gateways[2].Error)
	}
	if doc := currentConfig(t, cloud, admin, "gw-1"); !strings.Contains(doc.doc, secure.Addr) {
		t.Fatalf("gw-1 does not run v2: %s", doc.doc)
	}

	// One call rolls back; every agent applies version 1's document again.
	if st := cloud.Call("POST", fmt.Sprintf("/api/v1/pipelines/line1/rollouts/%d/rollback", r2), admin, nil, nil); st != 202 {
		t.Fatalf("rollback: %d", st)
	}
	ro = waitState(r2, "rolled_back", nil)
	for _, g := range ro.Gateways {
		cur := currentConfig(t, cloud, admin, g.GatewayID)
		if !g.RolledBack || g.Status != "applied" || cur.doc != v1Doc.doc || cur.applied != g.ConfigVersion || cur.version != g.ConfigVersion {
			t.Errorf("%s after rollback: %+v; config v%d applied v%d %s", g.GatewayID, g, cur.version, cur.applied, cur.doc)
		}
	}
	var audit struct {
		Records []struct {
			EventType string `json:"event_type"`
		}
	}
	cloud.Call("GET", "/api/v1/audit?event_type=rollout.&limit=50", admin, nil, &audit)
	var events []string
	for _, r := range audit.Records {
		events = append(events, r.EventType)
	}
	for _, want := range []string{"rollout.create", "rollout.done", "rollout.stop", "rollout.rollback", "rollout.rolled_back"} {
		if !strings.Contains(strings.Join(events, ","), want) {
			t.Errorf("audit lacks %s: %v", want, events)
		}
	}
}

type gatewayConfig struct {
	doc              string
	version, applied int
}

// currentConfig returns gateway id's stored config and the version its
// heartbeat reports applied.
func currentConfig(t *testing.T, cloud *testenv.Cloud, token, id string) gatewayConfig {
	t.Helper()
	var cfg struct {
		Version int
		Config  map[string]any
	}
	if st := cloud.Call("GET", "/api/v1/gateways/"+id+"/config", token, nil, &cfg); st != 200 {
		t.Fatalf("config of %s: %d", id, st)
	}
	var g struct {
		Applied int `json:"applied_config_version"`
	}
	cloud.Call("GET", "/api/v1/gateways/"+id, token, nil, &g)
	return gatewayConfig{doc: fmt.Sprint(cfg.Config), version: cfg.Version, applied: g.Applied}
}
