package api_test

import "testing"

// TestHeadIsServedWhereGetIs: monitors and load balancers probe with HEAD;
// every GET route answers it as GET would, without a body, and with the
// same authentication (no token: 401, not a 200 that says nothing).
func TestHeadIsServedWhereGetIs(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/api/v1/gateways", "", 401},
		{"/api/v1/gateways", admin, 200},
		{"/api/v1/pipelines", admin, 200},
		{"/api/v1/no-such-route", admin, 404},
	} {
		r := e.do("HEAD", c.path, c.token, nil)
		if r.status != c.want || len(r.raw) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes, want %d and no body", c.path, r.status, len(r.raw), c.want)
		}
	}
}
