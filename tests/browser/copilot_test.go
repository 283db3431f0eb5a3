package browser

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/agent/conntest"
	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestCopilotJourney: in Chromium, an Admin creates the Copilot's service
// account and issues its token; the Copilot proposes two changes with it
// (through the API); an Engineer approves one and rejects the other with a
// reason in the proposals queue, and tests the pipeline's Modbus device
// (a simulator) from the pipeline page; the Admin revokes the token. The
// pages pass axe-core. The API then shows the approved version with
// approved_by in its audit record, and the rejection's reason.
func TestCopilotJourney(t *testing.T) {
	dir := requireBrowser(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	if st := cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "eng@example.com", "password": "Cobalt-meadow-lantern-42",
		"roles": []string{"Engineer"}, "gateway_access": []string{"gw-ct-01"}}, nil); st != 201 {
		t.Fatalf("create engineer: %d", st)
	}
	gw := enrolledGateway(t, cloud, admin, "gw-ct-01")
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(4), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	eng := cloud.Login("eng@example.com", "Cobalt-meadow-lantern-42")
	spec := map[string]any{"kafka": map[string]any{"brokers": "127.0.0.1:9092"},
		"adapters": []any{map[string]any{"type": "modbus", "name": "line1", "devices": []any{map[string]any{
			"name": "plc1", "tcp": mb.Addr(), "timeout": "500ms",
			"poll_groups": []any{map[string]any{"name": "fast", "interval": "1s"}},
			"tags":        []any{map[string]any{"name": "fixture", "register": "holding_register", "address": sim.FixtureBase, "type": "uint16", "poll_group": "fast"}},
		}}}}}
	if st := cloud.Call("POST", "/api/v1/pipelines", eng, map[string]any{"id": "line1", "spec": spec}, nil); st != 201 {
		t.Fatalf("create pipeline: %d", st)
	}
	answerConnectionTests(t, gw)

	out := journey(t, dir, []string{"MODE=copilot", "BASE=" + cloud.URL, "EMAIL=eng@example.com", "PASSWORD=Cobalt-meadow-lantern-42",
		"ADMIN_EMAIL=" + testenv.CloudAdminEmail, "ADMIN_PASSWORD=" + testenv.CloudAdminPassword, "GATEWAY=gw-ct-01", "PIPELINE=line1",
		"SHOTS=" + screenshotDir(t)}, nil)
	if !strings.Contains(out, "OK copilot") || !strings.Contains(out, "REVOKED 401") {
		t.Fatalf("copilot journey:\n%s", out)
	}
	var recs struct{ Records []map[string]any }
	cloud.Call("GET", "/api/v1/audit?event_type=pipeline.update&resource_id=line1", admin, nil, &recs)
	if len(recs.Records) != 1 || recs.Records[0]["user"] != "sa:copilot" || recs.Records[0]["approved_by"] != "eng@example.com" {
		t.Fatalf("pipeline.update records: %v", recs.Records)
	}
	cloud.Call("GET", "/api/v1/audit?event_type=proposal.reject&resource_id=line1", admin, nil, &recs)
	if len(recs.Records) != 1 || recs.Records[0]["reason"] != "The PLC cannot answer every 100 ms." {
		t.Fatalf("proposal.reject records: %v", recs.Records)
	}
}

// answerConnectionTests stands in for the agent's control plane loop:
// it polls the config, and when the answer says tests wait, probes with
// the agent's own connection test code and posts the results. (The whole
// agent process does the same in tests/pipelines.)
func answerConnectionTests(t *testing.T, gw *controlplane.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	runner := conntest.Runner{GatewayID: gw.GatewayID, Log: slog.New(slog.DiscardHandler)}
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := gw.FetchConfig(ctx); err != nil || !gw.ConnectionTestsWaiting() {
				continue
			}
			tests, err := gw.ConnectionTests(ctx)
			if err != nil {
				continue
			}
			for _, ct := range tests {
				_ = gw.ConnectionTestResult(ctx, ct.ID, runner.Run(ct))
			}
		}
	}()
}
