package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestConnectionTestRequestsAndResults: a test request naming a source the
// pipeline lacks is 400 naming the field, one for a gateway outside the
// Engineer's gateway_access 404; a good one is flagged on the gateway's
// next config poll (even with no config deployed), handed out once, and
// its result is refused when malformed, from another gateway, or twice.
func TestConnectionTestRequestsAndResults(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		gw := e.approvedGateway(admin, "gw-1")
		other := e.approvedGateway(admin, "gw-2")
		eng := e.user("eng@example.com", []string{rbac.Engineer}, "gw-1")
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "p1", "spec": spec("1s")}), 201)
		ask := func(gateway, adapter, device, group string) resp {
			return e.do("POST", "/api/v1/pipelines/p1/test-connection", eng,
				map[string]any{"gateway_id": gateway, "adapter": adapter, "device": device, "poll_group": group})
		}
		wantError(t, ask("gw-1", "nope", "plc1", "fast"), 400, `adapter: the pipeline version has no adapter "nope"`)
		wantError(t, ask("gw-1", "line1", "nope", "fast"), 400, `device: adapter "line1" has no device "nope"`)
		wantError(t, ask("gw-1", "line1", "plc1", "slow"), 400, `poll_group: device "plc1" has no poll group "slow"`)
		wantError(t, ask("gw-1", "line1", "plc1", ""), 400, "poll_group: required")
		wantError(t, ask("gw-2", "line1", "plc1", "fast"), 404, "")
		wantError(t, e.do("POST", "/api/v1/pipelines/p9/test-connection", eng, map[string]any{"gateway_id": "gw-1", "adapter": "line1", "device": "plc1", "poll_group": "fast"}), 404, "no such pipeline")

		ctx := context.Background()
		if _, err := gw.FetchConfig(ctx); err != nil || gw.ConnectionTestsWaiting() {
			t.Fatalf("flagged with no test waiting: %v", err)
		}
		r := ask("gw-1", "line1", "plc1", "fast")
		wantStatus(t, r, 202)
		id := ftoa(r.body["id"].(float64))
		if _, err := gw.FetchConfig(ctx); err != nil || !gw.ConnectionTestsWaiting() {
			t.Fatalf("the config poll does not flag the waiting test: %v", err)
		}
		tests, err := gw.ConnectionTests(ctx)
		if err != nil || len(tests) != 1 || tests[0].Device != "plc1" || tests[0].PollGroup != "fast" ||
			!strings.Contains(string(tests[0].Adapter), `"tcp":"127.0.0.1:5020"`) {
			t.Fatalf("tests: %+v %v", tests, err)
		}
		if again, err := gw.ConnectionTests(ctx); err != nil || len(again) != 0 {
			t.Fatalf("a test handed out twice: %+v %v", again, err)
		}
		if g := e.do("GET", "/api/v1/connection-tests/"+id, eng, nil); g.body["status"] != "sent" {
			t.Fatalf("after the gateway took it: %s", g.raw)
		}
		for _, c := range []struct {
			name string
			gw   *controlplane.Client
			res  wire.ConnectionTestResult
			want string
		}{
			{"fail-empty", gw, wire.ConnectionTestResult{}, "values: a result has values or an error"},
			{"fail-long-error", gw, wire.ConnectionTestResult{Error: strings.Repeat("x", 5000)}, "error: at most 4096 bytes"},
			{"fail-other-gateway", other, wire.ConnectionTestResult{Error: "x"}, "no such connection test"},
		} {
			t.Run(c.name, func(t *testing.T) {
				if err := c.gw.ConnectionTestResult(ctx, tests[0].ID, c.res); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("got %v, want %q", err, c.want)
				}
			})
		}
		ok := wire.ConnectionTestResult{Values: []wire.ConnectionTestValue{{Tag: "t", Type: "float32", Value: 21.5, Quality: "good"}}}
		if err := gw.ConnectionTestResult(ctx, tests[0].ID, ok); err != nil {
			t.Fatal(err)
		}
		if err := gw.ConnectionTestResult(ctx, tests[0].ID, ok); !controlplane.IsStatus(err, 409) {
			t.Fatalf("a second result: %v", err)
		}
		g := e.do("GET", "/api/v1/connection-tests/"+id, eng, nil)
		if g.body["status"] != "done" || !strings.Contains(string(g.raw), `"value":21.5`) {
			t.Fatalf("result: %s", g.raw)
		}
		outsider := e.user("eng2@example.com", []string{rbac.Engineer}, "gw-2")
		wantError(t, e.do("GET", "/api/v1/connection-tests/"+id, outsider, nil), 404, "no such connection test")
		if recs := e.records(admin, "event_type=pipeline.test&resource_id=p1"); len(recs) != 1 || recs[0]["user"] != "eng@example.com" {
			t.Fatalf("pipeline.test records: %v", recs)
		}
	})
}
