package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// records lists audit records matching query, as the admin.
func (e *env) records(admin, query string) []map[string]any {
	e.t.Helper()
	r := e.do("GET", "/api/v1/audit?"+query, admin, nil)
	wantStatus(e.t.(*testing.T), r, 200)
	var out []map[string]any
	for _, x := range r.body["records"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestSecurityEventsAreAudited: each security-relevant action leaves a
// record with the spec's fields, and no password or token is in any.
func TestSecurityEventsAreAudited(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		start := time.Now().UTC().Add(-time.Second)
		wantStatus(t, e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": "not the admin password"}), 401)
		admin := e.login(adminEmail, adminPassword)
		secret := "audited-user-password-1"
		wantStatus(t, e.do("POST", "/api/v1/users", admin, map[string]any{"email": "bob@example.com", "password": secret, "roles": []string{rbac.Viewer}}), 201)
		bob := e.login("bob@example.com", secret)
		wantStatus(t, e.do("GET", "/api/v1/users", bob, nil), 403)
		wantStatus(t, e.do("PATCH", "/api/v1/users/bob@example.com", admin, map[string]any{"roles": []string{rbac.Engineer}, "password": "a-brand-new-password"}), 200)
		wantStatus(t, e.do("POST", "/api/v1/users/bob@example.com/disable", admin, nil), 200)
		wantStatus(t, e.do("POST", "/api/v1/users/bob@example.com/enable", admin, nil), 200)
		wantStatus(t, e.do("DELETE", "/api/v1/users/bob@example.com", admin, nil), 204)
		r := e.do("POST", "/api/v1/auth/refresh", admin, nil)
		wantStatus(t, r, 200)
		admin = r.body["token"].(string)

		all := e.records(admin, "limit=500")
		byType := map[string]map[string]any{}
		for _, rec := range all {
			if rec["user"] != "system" { // not the bootstrap record
				byType[rec["event_type"].(string)] = rec // newest first: keeps the oldest
			}
			raw := fmt.Sprint(rec)
			for _, s := range []string{secret, "a-brand-new-password", adminPassword, admin, bob, "not the admin password"} {
				if strings.Contains(raw, s) {
					t.Fatalf("audit record holds a secret: %v", rec)
				}
			}
		}
		for _, typ := range []string{"authentication.failure", "authentication.success", "user.create", "user.update",
			"user.disable", "user.enable", "user.delete", "authorization.denied", "auth.refresh"} {
			rec, ok := byType[typ]
			if !ok {
				t.Errorf("no %s record", typ)
				continue
			}
			ts, err := time.Parse(time.RFC3339Nano, rec["timestamp"].(string))
			if err != nil || ts.Before(start) || !strings.HasSuffix(rec["timestamp"].(string), "Z") {
				t.Errorf("%s: timestamp %v is not a recent UTC time", typ, rec["timestamp"])
			}
			if rec["ip_address"] != "127.0.0.1" || rec["user_agent"] == "" || rec["result"] == "" || rec["hash"] == "" {
				t.Errorf("%s: missing fields: %v", typ, rec)
			}
		}
		upd := byType["user.update"]
		changes := upd["changes"].(map[string]any)
		roles := changes["roles"].(map[string]any)
		if fmt.Sprint(roles["old"]) != "[Viewer]" || fmt.Sprint(roles["new"]) != "[Engineer]" || upd["user"] != adminEmail || upd["resource_id"] != "bob@example.com" {
			t.Errorf("user.update record: %v", upd)
		}
		if byType["authentication.failure"]["reason"] != "invalid_credentials" {
			t.Errorf("failure record: %v", byType["authentication.failure"])
		}

		// Filters and pagination.
		for _, rec := range e.records(admin, "event_type=user.") {
			if !strings.HasPrefix(rec["event_type"].(string), "user.") {
				t.Errorf("event_type prefix filter let through %v", rec["event_type"])
			}
		}
		if got := e.records(admin, "resource_id=bob@example.com&event_type=user.d"); len(got) != 2 {
			t.Errorf("resource_id + prefix filter: %d records, want user.disable and user.delete", len(got))
		}
		if got := e.records(admin, "user=bob@example.com"); len(got) != 2 { // his login and his denial
			t.Errorf("user filter: %d records, want 2", len(got))
		}
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if got := e.records(admin, "from="+future); len(got) != 0 {
			t.Errorf("from filter in the future: %d records", len(got))
		}
		page1 := e.do("GET", "/api/v1/audit?limit=3", admin, nil)
		cursor := fmt.Sprint(page1.body["next_cursor"])
		page2 := e.records(admin, "limit=3&cursor="+cursor)
		if len(page1.body["records"].([]any)) != 3 || len(page2) != 3 || page2[0]["seq"].(float64) >= page1.body["records"].([]any)[2].(map[string]any)["seq"].(float64) {
			t.Errorf("pagination broken: cursor %s", cursor)
		}
		wantError(t, e.do("GET", "/api/v1/audit?from=yesterday", admin, nil), 400, "RFC 3339")

		v := e.do("GET", "/api/v1/audit/verify", admin, nil)
		if v.body["ok"] != true {
			t.Errorf("verify: %s", v.raw)
		}
	})
}

// TestComplianceQueries: the spec's GDPR, SOC 2 and ISO 27001 queries.
func TestComplianceQueries(t *testing.T) {
	e := newEnv(t, "", "", withTrustedProxy("127.0.0.1/32"))
	for i := 0; i < 6; i++ {
		e.loginFrom("198.51.100.66", "mallory@example.com", "guess number "+fmt.Sprint(i))
	}
	admin := e.login(adminEmail, adminPassword)
	wantStatus(t, e.do("POST", "/api/v1/users", admin, map[string]any{"email": "carol@example.com", "password": "violet-harbor-quartz-17", "roles": []string{rbac.Operator}}), 201)

	iso := e.do("GET", "/api/v1/audit/compliance/iso27001", admin, nil)
	wantStatus(t, iso, 200)
	if !strings.Contains(string(iso.raw), "mallory@example.com") || strings.Contains(string(iso.raw), adminEmail) {
		t.Errorf("iso27001: %s", iso.raw)
	}
	soc := e.do("GET", "/api/v1/audit/compliance/soc2", admin, nil)
	if !strings.Contains(string(soc.raw), `"user.create"`) || strings.Contains(string(soc.raw), "authentication.failure") {
		t.Errorf("soc2: %s", soc.raw)
	}
	gdpr := e.do("GET", "/api/v1/audit/compliance/gdpr?user="+adminEmail, admin, nil)
	if !strings.Contains(string(gdpr.raw), "authentication.success") || strings.Contains(string(gdpr.raw), "mallory") {
		t.Errorf("gdpr: %s", gdpr.raw)
	}
	wantError(t, e.do("GET", "/api/v1/audit/compliance/gdpr", admin, nil), 400, "user")
}
