package api_test

import (
	"context"
	"strings"
	"testing"
)

// TestGatewayAccessConfinesAdmins: an Admin whose gateway_access is one
// site reads no audit record about another site's gateways or enrollment
// tokens, sees and makes enrollment tokens only for its own site, and can
// neither widen its own gateway_access nor make or manage an account that
// reaches further. Each row is one attempt; the unrestricted Admin's
// answers show the records and tokens exist.
func TestGatewayAccessConfinesAdmins(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		ctx := context.Background()
		admin := e.login(adminEmail, adminPassword)
		tokA, valueA := e.enrollmentToken(admin, 1, "Plant A")
		tokB, valueB := e.enrollmentToken(admin, 1, "Plant B")
		for id, value := range map[string]string{"gw-a1": valueA, "gw-b1": valueB} {
			if _, err := e.gateway(id).Enroll(ctx, value, "edge", nil); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, e.do("POST", "/api/v1/gateways/"+id+"/approve", admin, nil), 200)
			wantStatus(t, e.do("PUT", "/api/v1/gateways/"+id+"/config", admin, map[string]any{"config": map[string]any{"log_level": "info"}}), 200)
		}
		siteAdmin := e.user("site-admin@example.com", []string{"Admin"}, "Plant A")
		const self = "/api/v1/users/site-admin@example.com"

		// mentions reports whether an answer names any of the other site's
		// gateway or token.
		mentions := func(r resp) bool {
			return strings.Contains(string(r.raw), "gw-b1") || strings.Contains(string(r.raw), tokB)
		}
		cases := []struct {
			name         string
			token        string
			method, path string
			body         any
			status       int
			check        func(r resp) bool // nil: status only
		}{
			{"ok-audit-of-own-site", siteAdmin, "GET", "/api/v1/audit?resource_id=gw-a1", nil, 200,
				func(r resp) bool { return len(r.body["records"].([]any)) > 0 }},
			{"fail-audit-of-other-sites-gateway", siteAdmin, "GET", "/api/v1/audit?resource_id=gw-b1", nil, 200,
				func(r resp) bool { return len(r.body["records"].([]any)) == 0 }},
			{"fail-audit-of-other-sites-token", siteAdmin, "GET", "/api/v1/audit?resource_id=" + tokB, nil, 200,
				func(r resp) bool { return len(r.body["records"].([]any)) == 0 }},
			{"fail-audit-unfiltered", siteAdmin, "GET", "/api/v1/audit?limit=500", nil, 200,
				func(r resp) bool { return !mentions(r) && strings.Contains(string(r.raw), "gw-a1") }},
			{"fail-soc2-report-of-other-site", siteAdmin, "GET", "/api/v1/audit/compliance/soc2", nil, 200,
				func(r resp) bool { return !mentions(r) && strings.Contains(string(r.raw), "gw-a1") }},
			{"fail-gdpr-report-of-other-site", siteAdmin, "GET", "/api/v1/audit/compliance/gdpr?user=" + adminEmail, nil, 200,
				func(r resp) bool { return !mentions(r) && strings.Contains(string(r.raw), "gw-a1") }},
			{"ok-unrestricted-admin-reads-other-site", admin, "GET", "/api/v1/audit?resource_id=gw-b1", nil, 200,
				func(r resp) bool { return len(r.body["records"].([]any)) > 0 }},
			{"fail-list-other-sites-tokens", siteAdmin, "GET", "/api/v1/enrollment-tokens", nil, 200,
				func(r resp) bool { return !mentions(r) && strings.Contains(string(r.raw), tokA) }},
			{"ok-unrestricted-admin-lists-all-tokens", admin, "GET", "/api/v1/enrollment-tokens", nil, 200,
				func(r resp) bool { return mentions(r) }},
			{"fail-create-token-for-other-site", siteAdmin, "POST", "/api/v1/enrollment-tokens",
				map[string]any{"expires_in": "1h", "max_uses": 1, "site": "Plant B"}, 400, nil},
			{"fail-create-token-without-site", siteAdmin, "POST", "/api/v1/enrollment-tokens",
				map[string]any{"expires_in": "1h", "max_uses": 1}, 400, nil},
			{"ok-create-token-for-own-site", siteAdmin, "POST", "/api/v1/enrollment-tokens",
				map[string]any{"expires_in": "1h", "max_uses": 1, "site": "Plant A"}, 201, nil},
			{"fail-revoke-other-sites-token", siteAdmin, "DELETE", "/api/v1/enrollment-tokens/" + tokB, nil, 404, nil},
			{"fail-widen-own-access-to-all", siteAdmin, "PATCH", self, map[string]any{"gateway_access": []string{"*"}}, 403, nil},
			{"fail-widen-own-access-to-other-site", siteAdmin, "PATCH", self, map[string]any{"gateway_access": []string{"Plant A", "Plant B"}}, 403, nil},
			{"fail-widen-own-access-to-other-sites-gateway", siteAdmin, "PATCH", self, map[string]any{"gateway_access": []string{"Plant A", "gw-b1"}}, 403, nil},
			{"fail-create-unrestricted-admin", siteAdmin, "POST", "/api/v1/users", map[string]any{"email": "helper@example.com",
				"password": "a long enough password 1", "roles": []string{"Admin"}, "gateway_access": []string{"*"}}, 403, nil},
			{"fail-change-unrestricted-admins-password", siteAdmin, "PATCH", "/api/v1/users/" + adminEmail,
				map[string]any{"password": "taken over password 1"}, 403, nil},
			{"fail-disable-unrestricted-admin", siteAdmin, "POST", "/api/v1/users/" + adminEmail + "/disable", nil, 403, nil},
			{"fail-delete-unrestricted-admin", siteAdmin, "DELETE", "/api/v1/users/" + adminEmail, nil, 403, nil},
			{"ok-grant-own-sites-gateway", siteAdmin, "POST", "/api/v1/users", map[string]any{"email": "viewer@example.com",
				"password": "a long enough password 2", "roles": []string{"Viewer"}, "gateway_access": []string{"gw-a1"}}, 201, nil},
			{"ok-unrestricted-admin-widens", admin, "PATCH", "/api/v1/users/viewer@example.com",
				map[string]any{"gateway_access": []string{"Plant A", "Plant B"}}, 200, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.do(c.method, c.path, c.token, c.body)
				wantStatus(t, r, c.status)
				if c.check != nil && !c.check(r) {
					t.Fatalf("answer: %s", r.raw)
				}
			})
		}
		if got := e.records(admin, "event_type=authorization.denied&user=site-admin@example.com"); len(got) < 6 {
			t.Fatalf("refused grants audited %d times, want one per refusal", len(got))
		}
	})
}

// TestSiteAdminCannotGrantAnotherSiteThroughAGatewayNamedLikeIt: a
// gateway_access entry matches a gateway id and a site name alike. An
// Admin confined to North enrolled (with a North token) a gateway whose id
// is "South", the name of another site, and granted a new account
// ["South"] as "a gateway of mine": that account then saw every South
// gateway. An entry the granter does not hold itself may name one of its
// gateways only if no gateway or enrollment token is at a site of that
// name; the refusal is a 403, audited.
func TestSiteAdminCannotGrantAnotherSiteThroughAGatewayNamedLikeIt(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		e.siteGateways(admin, map[string]string{"gw-south": "South", "gw-north": "North"})
		e.enrollmentToken(admin, 1, "East") // a site with no gateway yet
		northAdmin := e.user("north-admin@example.com", []string{"Admin"}, "North")
		for _, id := range []string{"South", "East", "gw-north-2"} {
			_, value := e.enrollmentToken(northAdmin, 1, "North")
			if _, err := e.gateway(id).Enroll(context.Background(), value, "edge", nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			name   string
			access []string
			status int
		}{
			{"fail-gateway-named-like-a-site", []string{"South"}, 403},
			{"fail-gateway-named-like-a-tokens-site", []string{"East"}, 403},
			{"ok-own-gateway", []string{"gw-north-2"}, 201},
			{"ok-own-site", []string{"North"}, 201},
		} {
			t.Run(c.name, func(t *testing.T) {
				email := strings.ToLower(c.access[0]) + "-user@example.com"
				r := e.do("POST", "/api/v1/users", northAdmin, map[string]any{
					"email": email, "password": passwordOf(email), "roles": []string{"Viewer"}, "gateway_access": c.access})
				wantStatus(t, r, c.status)
				if c.status == 403 {
					if recs := e.records(admin, "event_type=authorization.denied&resource_id="+email); len(recs) != 1 {
						t.Fatalf("refusal records: %v", recs)
					}
				}
			})
		}
	})
}
