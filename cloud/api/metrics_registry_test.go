package api_test

import (
	"strings"
	"testing"
)

// TestTwoServersKeepTheirOwnMetrics: each server serves the registry it
// was given, so two control planes in one process neither panic on
// registration nor show each other's requests and login failures.
func TestTwoServersKeepTheirOwnMetrics(t *testing.T) {
	a, b := newEnv(t, "", ""), newEnv(t, "", "")
	wantStatus(t, a.do("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": "wrong password!!"}), 401)
	const failed = `streamforge_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"} 1`
	for _, c := range []struct {
		name     string
		e        *env
		want     bool
		failures string
	}{{"a", a, true, "streamforge_login_failures_total 1"}, {"b", b, false, "streamforge_login_failures_total 0"}} {
		r := c.e.do("GET", "/metrics", "", nil)
		wantStatus(t, r, 200)
		body := string(r.raw)
		if strings.Contains(body, failed) != c.want {
			t.Errorf("server %s: failed login counted = %v, want %v", c.name, !c.want, c.want)
		}
		if !strings.Contains(body, c.failures) {
			t.Errorf("server %s: metrics lack %q", c.name, c.failures)
		}
		if !strings.Contains(body, "streamforge_password_hashes_total") {
			t.Errorf("server %s: metrics lack the hashing pool", c.name)
		}
	}
}
