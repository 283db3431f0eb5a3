package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

func (e *env) countRecords(t *testing.T, eventType string) int {
	t.Helper()
	var n int64
	if err := e.store.DB.Table("audit_log").Where("event_type = ?", eventType).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func isoFailures(t *testing.T, e *env, now time.Time) map[string]int64 {
	t.Helper()
	rows, err := audit.ISO27001FailedLogins(store.NewAuditRepo(e.store.DB), now)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.User] = r.Failures
	}
	return out
}

// TestAnonymousLoginFloodIsAggregatedButCounted: failed and throttled
// logins from one source are recorded as the first attempt plus, when the
// window closes, one record with the count of the rest; guessing many
// names from one source collapses into one tally too. The ISO 27001
// failed-login report still counts every attempt, before and after the
// window closes, and the chain verifies.
func TestAnonymousLoginFloodIsAggregatedButCounted(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "", withTrustedProxy("127.0.0.1/32"))
		clk := &clock{}
		e.users.Now = clk.now
		const src = "203.0.113.44"
		for i := 0; i < 40; i++ {
			e.loginFrom(src, "mallory@example.com", fmt.Sprintf("guess %d", i))
		}
		for i := 0; i < 60; i++ {
			e.loginFrom(src, fmt.Sprintf("user%d@example.com", i), "guess")
		}
		// 100 attempts: mallory's first failure and first throttled attempt,
		// and at most TallyUsersPerSource names plus "(various)".
		if n := e.countRecords(t, "authentication.failure"); n > 2+audit.TallyUsersPerSource+1 {
			t.Fatalf("%d records for 100 attempts from one source", n)
		}
		if got := isoFailures(t, e, clk.now())["mallory@example.com"]; got != 40 {
			t.Fatalf("ISO 27001 counts %d failures of mallory, want 40", got)
		}
		clk.advance(audit.TallyWindow + time.Second)
		if err := store.NewAuditRepo(e.store.DB).CloseTallies(clk.now()); err != nil {
			t.Fatal(err)
		}
		if err := store.NewAuditRepo(e.store.DB).CloseTallies(clk.now()); err != nil { // twice: no double records
			t.Fatal(err)
		}
		iso := isoFailures(t, e, clk.now())
		if iso["mallory@example.com"] != 40 || iso["(various)"] < 5 {
			t.Fatalf("after the window closed, ISO 27001 counts %v", iso)
		}
		if n := e.countRecords(t, "authentication.failure"); n > 2*(2+audit.TallyUsersPerSource+1) {
			t.Fatalf("%d records after closing the window", n)
		}
		if r, err := audit.Verify(store.NewAuditRepo(e.store.DB)); err != nil || !r.OK {
			t.Fatalf("chain: %+v %v", r, err)
		}
	})
}

// TestRefusedCredentialsAreAudited: every kind of refused credential
// leaves a credential.refused record naming the reason, and a gateway
// outside a user's gateway_access an authorization.denied one; repeats
// from one source are tallied, not recorded one by one.
func TestRefusedCredentialsAreAudited(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	viewer := e.user("viewer@example.com", []string{rbac.Viewer})
	c := *claimsOf(t, viewer)
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	c.NotBefore = c.IssuedAt
	expired, err := e.keys.Sign(&c)
	if err != nil {
		t.Fatal(err)
	}
	forged := viewer[:len(viewer)-4] + "AAAA"
	revoked := e.login("viewer@example.com", passwordOf("viewer@example.com"))
	wantStatus(t, e.do("POST", "/api/v1/auth/logout", revoked, nil), 204)
	login := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword})
	cookie := api.SessionCookie + "=" + login.body["token"].(string)

	_, value := e.enrollmentToken(admin, 1, "South")
	if _, err := e.gateway("gw-south").Enroll(context.Background(), value, "h", nil); err != nil {
		t.Fatal(err)
	}
	north := e.user("north@example.com", []string{rbac.Admin}, "North")

	cases := []struct {
		name, event, reason string
		send                func() resp
		status              int
	}{
		{"forged-token", "credential.refused", "token_forged", func() resp { return e.do("GET", "/api/v1/auth/me", forged, nil) }, 401},
		{"expired-token", "credential.refused", "token_expired", func() resp { return e.do("GET", "/api/v1/auth/me", expired, nil) }, 401},
		{"revoked-token", "credential.refused", "token_revoked", func() resp { return e.do("GET", "/api/v1/auth/me", revoked, nil) }, 401},
		{"missing-csrf", "credential.refused", "csrf_token_missing", func() resp {
			return e.do("POST", "/api/v1/auth/logout", "", nil, "Cookie", cookie)
		}, 403},
		{"invalid-gateway-token", "credential.refused", "gateway_token_", func() resp {
			return e.do("POST", "/api/v1/gateways/gw-south/heartbeat", "not-a-token", map[string]any{})
		}, 401},
		{"gateway-outside-access", "authorization.denied", "outside the caller's gateway_access", func() resp {
			return e.do("GET", "/api/v1/gateways/gw-south", north, nil)
		}, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.countRecords(t, c.event)
			for i := 0; i < 5; i++ {
				wantStatus(t, c.send(), c.status)
			}
			page, err := audit.Query(store.NewAuditRepo(e.store.DB), audit.Filter{EventTypePrefix: c.event, Limit: 1})
			if err != nil || len(page.Records) == 0 || !strings.Contains(page.Records[0].Reason, c.reason) {
				t.Fatalf("newest %s record: %+v %v", c.event, page.Records, err)
			}
			if n := e.countRecords(t, c.event) - before; n != 1 {
				t.Fatalf("5 refusals from one source made %d records, want 1 (the rest tallied)", n)
			}
		})
	}
	// A nonexistent gateway is not a refusal: nothing to audit.
	before := e.countRecords(t, "authorization.denied")
	wantStatus(t, e.do("GET", "/api/v1/gateways/gw-nowhere", north, nil), 404)
	if e.countRecords(t, "authorization.denied") != before {
		t.Fatal("a missing gateway was audited as out of scope")
	}
}
