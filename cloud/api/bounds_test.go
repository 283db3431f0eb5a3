package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestIDsBeyondTheDatabaseRange: a numeric id in a path past what the
// database's 64-bit signed integers hold is a 400 naming it (it was a 500:
// SQLite refuses uint64 values with the high bit set), and the largest one
// it holds is a plain 404 (or an empty page, for a cursor).
func TestIDsBeyondTheDatabaseRange(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		wantStatus(t, e.do("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line", "spec": spec("1s")}), 201)
		wantStatus(t, e.do("POST", "/api/v1/service-accounts", admin, map[string]any{"name": "bot", "roles": []string{"Copilot"}}), 201)
		e.approvedGateway(admin, "gw-1")
		for _, c := range []struct {
			method, path, field string
			largest             int // the answer to the largest id the database holds
		}{
			{"GET", "/api/v1/proposals/%s", "id", 404},
			{"POST", "/api/v1/proposals/%s/approve", "id", 404},
			{"GET", "/api/v1/connection-tests/%s", "id", 404},
			{"GET", "/api/v1/pipelines/line/rollouts/%s", "rollout", 404},
			{"POST", "/api/v1/pipelines/line/rollouts/%s/rollback", "rollout", 404},
			{"DELETE", "/api/v1/service-accounts/bot/tokens/%s", "token", 404},
			{"POST", "/api/v1/alarms/%s/acknowledge", "id", 404}, // alarms (#13): the same 500
			{"GET", "/api/v1/alarms?cursor=%s", "cursor", 200},
			{"GET", "/api/v1/gateways/gw-1/health?cursor=%s", "cursor", 200},
		} {
			t.Run(c.method+" "+c.path, func(t *testing.T) {
				for _, big := range []string{"9223372036854775808", "18446744073709551615"} {
					wantError(t, e.do(c.method, fmt.Sprintf(c.path, big), admin, nil), 400, c.field+":")
				}
				wantStatus(t, e.do(c.method, fmt.Sprintf(c.path, "9223372036854775807"), admin, nil), c.largest)
			})
		}
	})
}

// TestDescriptionsAreBounded: a pipeline's or a secret's description is
// stored, listed and copied into the audit record of each change, so one
// over 1024 bytes is a 400 naming it (a 900 kB one was stored), on
// create and on update, and nothing is written.
func TestDescriptionsAreBounded(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	long := strings.Repeat("d", 1025)
	wantStatus(t, e.do("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line", "description": strings.Repeat("d", 1024), "spec": spec("1s")}), 201)
	wantStatus(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "pw", "value": "v"}), 201)
	for _, c := range []struct {
		method, path string
		body         map[string]any
	}{
		{"POST", "/api/v1/pipelines", map[string]any{"id": "other", "description": long, "spec": spec("1s")}},
		{"PUT", "/api/v1/pipelines/line", map[string]any{"description": long, "spec": spec("2s")}},
		{"POST", "/api/v1/secrets", map[string]any{"name": "other", "value": "v", "description": long}},
		{"PUT", "/api/v1/secrets/pw", map[string]any{"value": "v2", "description": long}},
	} {
		wantError(t, e.do(c.method, c.path, admin, c.body), 400, "description: at most 1024 bytes")
	}
	if r := e.do("GET", "/api/v1/pipelines/line", admin, nil); r.body["version"].(float64) != 1 {
		t.Fatalf("a refused update wrote a version: %s", r.raw)
	}
	if r := e.do("GET", "/api/v1/secrets/pw", admin, nil); r.body["version"].(float64) != 1 {
		t.Fatalf("a refused update changed the secret: %s", r.raw)
	}
	for _, p := range []string{"/api/v1/pipelines/other", "/api/v1/secrets/other"} {
		wantStatus(t, e.do("GET", p, admin, nil), 404)
	}
}

// TestABodyThatIsNoObjectSaysSo: a list, string or number as the whole
// body was "field  has the wrong type" (an empty field name).
func TestABodyThatIsNoObjectSaysSo(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	for _, body := range []string{`[]`, `"spec"`, `42`, `true`} {
		for _, p := range []string{"/api/v1/pipelines", "/api/v1/pipelines/validate", "/api/v1/secrets", "/api/v1/service-accounts"} {
			wantError(t, e.do("POST", p, admin, body), 400, "invalid JSON body: the body must be a JSON object")
		}
	}
}

// TestSecretNamesThatNoURLCanCarry: "." and ".." were accepted as secret
// names, but clients (browsers, curl) resolve them out of the path of
// PUT or DELETE /api/v1/secrets/{name}: such a secret could be created
// and never changed or deleted. They are a 400 naming the field.
func TestSecretNamesThatNoURLCanCarry(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	for _, name := range []string{".", "..", "..."} {
		wantError(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": name, "value": "v"}), 400, "name:")
	}
	wantStatus(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": ".hidden.pw", "value": "v"}), 201)
	if r := e.do("GET", "/api/v1/secrets", admin, nil); len(r.body["secrets"].([]any)) != 1 {
		t.Fatalf("secrets: %s", r.raw)
	}
}

// TestConfigVersionsCannotOverflow: a heartbeat reporting config version
// 2^63-1 was taken, and the next deploy (one past the version reported)
// signed version -2^63, which the gateway refuses for ever. A version past
// wire.MaxConfigVersion is now a 400 naming config_version, and the next
// deploy is version 1; a deploy past the bound is a 400.
func TestConfigVersionsCannotOverflow(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	gw := e.approvedGateway(admin, "gw-1")
	tok, _ := gw.Token()
	for _, v := range []string{"9223372036854775807", "2147483648"} {
		wantError(t, e.do("POST", "/api/v1/gateways/gw-1/heartbeat", tok, `{"status":"ok","config_version":`+v+`}`), 400, "config_version: at most 2147483647")
	}
	cfg := map[string]any{"config": map[string]any{"log_level": "info"}}
	r := e.do("PUT", "/api/v1/gateways/gw-1/config", admin, cfg)
	if r.status != 200 || r.body["version"] != float64(1) {
		t.Fatalf("deploy after the refused heartbeats: %d %.300s", r.status, r.raw)
	}
	// At the bound itself, the next version would pass it: refused, not wrapped.
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-1/heartbeat", tok, `{"status":"ok","config_version":2147483647}`), 204)
	wantError(t, e.do("PUT", "/api/v1/gateways/gw-1/config", admin, cfg), 400, "config: the gateway's config versions have reached 2147483647")
}
