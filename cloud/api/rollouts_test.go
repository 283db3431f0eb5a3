package api_test

import (
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// TestRolloutAPI: a rollout is planned and shown per gateway, bad input is
// a 400 naming the field, and rollback is one call (once).
func TestRolloutAPI(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		eng := e.user("eng@example.com", []string{rbac.Engineer}, "*") // deployments and rollouts show gateways within it
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "north", "spec": spec("1s")}), 201)
		// Real gateways: one that does not exist fails at once and is held
		// by no rollout (TestRolloutNamingOtherSitesGatewaysHoldsNothing).
		for _, id := range []string{"gw-a", "gw-b", "gw-c"} {
			e.approvedGateway(admin, id)
		}

		for _, c := range []struct {
			name string
			body map[string]any
			msg  string
		}{
			{"fail-no-targets", map[string]any{}, "gateways:"},
			{"fail-canary-not-a-size", map[string]any{"gateways": []string{"gw-a"}, "canary": "ten"}, "canary: want a count"},
			{"fail-canary-a-boolean", map[string]any{"gateways": []string{"gw-a"}, "canary": true}, "canary: want a count"},
			{"fail-wave-over-100-percent", map[string]any{"gateways": []string{"gw-a"}, "wave": "150%"}, "wave: want a percentage"},
			{"fail-timeout-too-short", map[string]any{"gateways": []string{"gw-a"}, "apply_timeout": "1ms"}, "apply_timeout:"},
			{"fail-unknown-field", map[string]any{"gateways": []string{"gw-a"}, "canaries": 2}, "canaries"},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, e.do("POST", "/api/v1/pipelines/north/rollouts", admin, c.body), 400, c.msg)
			})
		}
		wantError(t, e.do("POST", "/api/v1/pipelines/south/rollouts", admin, map[string]any{"gateways": []string{"gw-a"}}), 404, "no such pipeline")
		wantError(t, e.do("GET", "/api/v1/pipelines/north/rollouts/x", eng, nil), 400, "rollout:")
		wantError(t, e.do("GET", "/api/v1/pipelines/north/rollouts/99", eng, nil), 404, "no such rollout")

		r := e.do("POST", "/api/v1/pipelines/north/rollouts", admin, map[string]any{"gateways": []string{"gw-a", "gw-b", "gw-c"},
			"canary": 1, "wave": "33%", "failure_threshold": "34%", "apply_timeout": "2m"})
		wantStatus(t, r, 201)
		if r.body["state"] != "running" || r.body["waves"].(float64) != 3 || r.body["max_failures"].(float64) != 2 || len(r.body["gateways"].([]any)) != 3 {
			t.Fatalf("created: %s", r.raw)
		}
		wantError(t, e.do("POST", "/api/v1/pipelines/north/rollouts", admin, map[string]any{"gateways": []string{"gw-c"}}), 409, "another running rollout")
		list := e.do("GET", "/api/v1/pipelines/north/rollouts", eng, nil)
		if ros := list.body["rollouts"].([]any); len(ros) != 1 || ros[0].(map[string]any)["counts"].(map[string]any)["waiting"].(float64) != 3 {
			t.Fatalf("list: %s", list.raw)
		}
		wantStatus(t, e.do("POST", "/api/v1/pipelines/north/rollouts/1/rollback", admin, nil), 202)
		wantError(t, e.do("POST", "/api/v1/pipelines/north/rollouts/1/rollback", admin, nil), 409, "already rolled back")
		a := e.do("GET", "/api/v1/audit?event_type=rollout.rollback", admin, nil)
		if recs := a.body["records"].([]any); len(recs) != 1 {
			t.Fatalf("rollback audit: %s", a.raw)
		}
	})
}
