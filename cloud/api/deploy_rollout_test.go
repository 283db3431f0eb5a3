package api_test

import (
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// TestDeployLeavesGatewaysOfARunningRolloutAlone: a one-shot deploy to a
// gateway that a running rollout holds wrote a newer config beside it,
// which the rollout then counted as its own version applied. Such a
// gateway's result is now the error, nothing is written to it, and the
// deploy's other gateways are written as before; a config PUT to it is a
// 409. A caller without access
// to the gateway is told "gateway not found", whatever holds it.
func TestDeployLeavesGatewaysOfARunningRolloutAlone(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		e.approvedGateway(admin, "gw-1")
		e.approvedGateway(admin, "gw-2")
		wantStatus(t, e.do("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line", "spec": spec("1s")}), 201)
		wantStatus(t, e.do("POST", "/api/v1/pipelines/line/rollouts", admin, map[string]any{"gateways": []string{"gw-1"}}), 201)

		r := e.do("POST", "/api/v1/pipelines/line/deploy", admin, map[string]any{"gateways": []string{"gw-1", "gw-2"}})
		wantStatus(t, r, 200)
		res := map[string]map[string]any{}
		for _, x := range r.body["results"].([]any) {
			m := x.(map[string]any)
			res[m["gateway_id"].(string)] = m
		}
		if res["gw-1"]["error"] != "in a running rollout: wait for it to end or roll it back" || res["gw-1"]["config_version"] != nil {
			t.Fatalf("gw-1 (in the rollout): %s", r.raw)
		}
		if res["gw-2"]["config_version"] != float64(1) {
			t.Fatalf("gw-2: %s", r.raw)
		}
		if c := e.do("GET", "/api/v1/gateways/gw-1/config", admin, nil); c.status != 404 {
			t.Fatalf("gw-1's config was written beside its rollout: %d %s", c.status, c.raw)
		}
		// Nor does a config PUT write beside the rollout.
		cfg := map[string]any{"config": map[string]any{"log_level": "info"}}
		wantError(t, e.do("PUT", "/api/v1/gateways/gw-1/config", admin, cfg), 409, "in a running rollout")
		wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-2/config", admin, cfg), 200)
		// A confined Admin learns nothing of a gateway outside its access,
		// rollout or not: "gateway not found", as from the write.
		other := e.user("other@example.com", []string{rbac.Admin}, "gw-2")
		r = e.do("POST", "/api/v1/pipelines/line/deploy", other, map[string]any{"gateways": []string{"gw-1"}})
		if res := r.body["results"].([]any); r.status != 200 || res[0].(map[string]any)["error"] != "gateway not found" {
			t.Fatalf("a confined admin's deploy to a gateway outside its access: %s", r.raw)
		}
	})
}
