package api_test

import (
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/api"
)

// TestMetricsCountRoutesAndLoginFailures: /metrics (loopback, no token
// configured) shows requests by route pattern and status, latency, and
// login failures.
func TestMetricsCountRoutesAndLoginFailures(t *testing.T) {
	e := newEnv(t, "", "")
	e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": "wrong password!!"})
	tok := e.login(adminEmail, adminPassword)
	e.do("GET", "/api/v1/users/someone@example.com", tok, nil)
	r := e.do("GET", "/metrics", "", nil)
	wantStatus(t, r, 200)
	body := string(r.raw)
	for _, want := range []string{
		`streamforge_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"}`,
		`streamforge_http_requests_total{method="GET",route="/api/v1/users/:email",status="404"}`,
		`streamforge_http_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/login"`,
		"streamforge_login_failures_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "someone@example.com") {
		t.Error("metrics carry a raw path")
	}
}

func TestMetricsTokenRequiredWhenConfigured(t *testing.T) {
	e := newEnv(t, "", "", func(o *api.Options, _ *api.Deps) { o.MetricsToken = "scrape-secret-123" })
	wantError(t, e.do("GET", "/metrics", "", nil), 401, "metrics")
	wantStatus(t, e.do("GET", "/metrics", "scrape-secret-123", nil), 200)
}

func TestReadyzFailsWithoutDatabase(t *testing.T) {
	e := newEnv(t, "", "")
	wantStatus(t, e.do("GET", "/readyz", "", nil), 200)
	e.store.Close()
	wantError(t, e.do("GET", "/readyz", "", nil), 503, "database unreachable")
	wantStatus(t, e.do("GET", "/healthz", "", nil), 200)
}
