package api_test

import (
	"testing"
)

// TestDeployLeavesGatewaysOfARunningRolloutAlone: a one-shot deploy to a
// gateway that a running rollout holds wrote a newer config beside it,
// which the rollout then counted as its own version applied. Such a
// gateway's result is now the error, nothing is written to it, and the
// deploy's other gateways are written as before.
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
	})
}
