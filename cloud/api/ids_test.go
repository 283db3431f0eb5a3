package api_test

import (
	"fmt"
	"testing"
)

// TestIDsBeyondTheDatabaseRange: a numeric id in a path past what the
// database's 64-bit signed integers hold is a 400 naming it (it was a 500:
// SQLite refuses uint64 values with the high bit set), and the largest one
// it holds is a plain 404.
func TestIDsBeyondTheDatabaseRange(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		wantStatus(t, e.do("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line", "spec": spec("1s")}), 201)
		wantStatus(t, e.do("POST", "/api/v1/service-accounts", admin, map[string]any{"name": "bot", "roles": []string{"Copilot"}}), 201)
		for _, c := range []struct{ method, path, field string }{
			{"GET", "/api/v1/proposals/%s", "id"},
			{"POST", "/api/v1/proposals/%s/approve", "id"},
			{"GET", "/api/v1/connection-tests/%s", "id"},
			{"GET", "/api/v1/pipelines/line/rollouts/%s", "rollout"},
			{"POST", "/api/v1/pipelines/line/rollouts/%s/rollback", "rollout"},
			{"DELETE", "/api/v1/service-accounts/bot/tokens/%s", "token"},
		} {
			t.Run(c.method+" "+c.path, func(t *testing.T) {
				for _, big := range []string{"9223372036854775808", "18446744073709551615"} {
					wantError(t, e.do(c.method, fmt.Sprintf(c.path, big), admin, nil), 400, c.field+":")
				}
				wantStatus(t, e.do(c.method, fmt.Sprintf(c.path, "9223372036854775807"), admin, nil), 404)
			})
		}
	})
}
