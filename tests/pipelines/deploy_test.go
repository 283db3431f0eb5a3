// Package pipelines runs pipelines end to end: the control plane, the
// agent, a simulated PLC and a Kafka-protocol broker as processes.
package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/kafkatest"
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
	bin := testenv.BuildAgent(t, nil)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok)
	cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "eng@example.com", "password": "Quartz-lantern-field-7",
		"roles": []string{"Engineer"}, "gateway_access": []string{"gw-test"}}, nil) // deployments show gateways within it

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
	testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfgPath, Args: []string{"--insecure-software-identity"},
		Env: []string{"CONTROL_PLANE_URL=" + cloud.URL, "CONTROL_PLANE_GATEWAY_ID=gw-test", "CONTROL_PLANE_ENROLLMENT_TOKEN=" + tok.Token}})
	testenv.Eventually(t, time.Minute, "enrollment", func() bool {
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
	testenv.Eventually(t, time.Minute, "the pipeline's config version in the heartbeat", func() bool {
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

	// Version 2 passes every check but cannot start on this gateway: its
	// buffer needs far more disk than there is. The agent goes back to
	// version 1, which goes on delivering; the heartbeat keeps reporting
	// version 1 with the reason, so the deployment shows failed, never
	// applied.
	spec["buffer"] = map[string]any{"max_bytes": "8TiB"}
	if st := cloud.Call("PUT", "/api/v1/pipelines/line1", eng, map[string]any{"base_version": 1, "spec": spec}, nil); st != 200 {
		t.Fatalf("update pipeline: %d", st)
	}
	if st := cloud.Call("POST", "/api/v1/pipelines/line1/deploy", admin, map[string]any{"gateways": []string{"gw-test"}}, &dep); st != 200 ||
		len(dep.Results) != 1 || dep.Results[0].Error != "" {
		t.Fatalf("deploy v2: %d %+v", st, dep)
	}
	bad := dep.Results[0].ConfigVersion
	type deployment struct {
		ConfigVersion int `json:"config_version"`
		Status, Error string
	}
	var deps struct{ Deployments []deployment }
	var failed deployment
	testenv.Eventually(t, time.Minute, "the failure to start in the deployment's status", func() bool {
		deps.Deployments = nil
		cloud.Call("GET", "/api/v1/pipelines/line1/deployments", eng, nil, &deps)
		for _, d := range deps.Deployments {
			if d.ConfigVersion == bad {
				failed = d
			}
		}
		return failed.Status == "failed"
	})
	if !strings.Contains(failed.Error, fmt.Sprintf("config v%d failed to start", bad)) || !strings.Contains(failed.Error, "disk space") {
		t.Fatalf("deployment of v%d: %+v, want its failure to start", bad, failed)
	}
	var g map[string]any
	cloud.Call("GET", "/api/v1/gateways/gw-test", admin, nil, &g)
	if g["applied_config_version"] != want {
		t.Fatalf("the gateway reports config version %v after v%d failed to start, want %v", g["applied_config_version"], bad, want)
	}
	// Version 1 runs again: new readings arrive after the failure.
	before := countTopic(t, broker.Addr, "pipeline.telemetry")
	testenv.Eventually(t, time.Minute, "readings from version 1 after the failure", func() bool {
		return countTopic(t, broker.Addr, "pipeline.telemetry") > before+20
	})
}

// countTopic is the number of records in topic (its partitions' end offsets).
func countTopic(t *testing.T, brokers, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kafkatest.EndOffsets(ctx, kafkatest.Conn{Brokers: brokers}, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, o := range ends {
		n += o
	}
	return n
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
