package api_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// copilotToken has an Admin create a Copilot service account and issue it
// a token; it returns the token (shown once).
func (e *env) copilotToken(admin, name string) string {
	e.t.Helper()
	r := e.do("POST", "/api/v1/service-accounts", admin, map[string]any{"name": name, "roles": []string{rbac.Copilot}, "description": "AI assistant"})
	if r.status != 201 {
		e.t.Fatalf("create service account %s: %d %s", name, r.status, r.raw)
	}
	r = e.do("POST", "/api/v1/service-accounts/"+name+"/tokens", admin, map[string]any{"expires_in": "24h"})
	if r.status != 201 {
		e.t.Fatalf("issue token for %s: %d %s", name, r.status, r.raw)
	}
	return r.body["token"].(string)
}

// TestCopilotProposalJourneys, over HTTP with the Copilot's service
// account token: the Copilot reads the topology and proposes pipeline
// changes but cannot apply, deploy, delete or approve; an Engineer
// approves one (a new version whose pipeline.update record names the
// Copilot as user and the Engineer in approved_by), rejects another with a
// reason, and a proposal made on an older version is refused as stale.
// Revoking the token locks the Copilot out at once.
func TestCopilotProposalJourneys(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		eng := e.user("eng@example.com", []string{rbac.Engineer})
		cp := e.copilotToken(admin, "copilot")
		if !strings.HasPrefix(cp, "sfsa_") {
			t.Fatalf("token %q", cp)
		}
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "well12", "spec": spec("1s")}), 201)

		me := e.do("GET", "/api/v1/auth/me", cp, nil)
		if me.status != 200 || me.body["email"] != "sa:copilot" {
			t.Fatalf("me: %d %s", me.status, me.raw)
		}
		for _, p := range []string{"/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/password"} {
			wantError(t, e.do("POST", p, cp, map[string]any{}), 403, "not a session")
		}
		for _, p := range []string{"/api/v1/pipelines", "/api/v1/pipelines/well12", "/api/v1/gateways", "/api/v1/proposals"} {
			wantStatus(t, e.do("GET", p, cp, nil), 200)
		}
		wantError(t, e.do("PUT", "/api/v1/pipelines/well12", cp, map[string]any{"spec": spec("2s")}), 403, "pipelines:update")
		wantError(t, e.do("DELETE", "/api/v1/pipelines/well12", cp, nil), 403, "pipelines:delete")
		wantError(t, e.do("POST", "/api/v1/pipelines/well12/deploy", cp, map[string]any{"gateways": []string{"gw-1"}}), 403, "configs:deploy")
		wantError(t, e.do("POST", "/api/v1/service-accounts", cp, map[string]any{"name": "x", "roles": []string{"Engineer"}}), 403, "users:manage")

		// Approve.
		wantError(t, e.do("POST", "/api/v1/proposals", cp, map[string]any{"pipeline_id": "well12", "spec": spec("500ms")}), 400, "rationale: required")
		wantError(t, e.do("POST", "/api/v1/proposals", cp, map[string]any{"pipeline_id": "well12", "rationale": "x", "spec": spec("1s")}), 400, "changes nothing")
		r := e.do("POST", "/api/v1/proposals", cp, map[string]any{"pipeline_id": "well12", "rationale": "poll faster: the level swings within a second",
			"spec": spec("500ms")})
		wantStatus(t, r, 201)
		first := r.body["id"].(float64)
		if r.body["status"] != "pending" || r.body["proposed_by"] != "sa:copilot" || len(r.body["changes"].([]any)) != 1 {
			t.Fatalf("proposal: %s", r.raw)
		}
		path := "/api/v1/proposals/" + ftoa(first)
		wantError(t, e.do("POST", path+"/approve", cp, nil), 403, "pipelines:update")
		q := e.do("GET", "/api/v1/proposals?status=pending", eng, nil)
		if ps := q.body["proposals"].([]any); len(ps) != 1 {
			t.Fatalf("queue: %s", q.raw)
		}
		a := e.do("POST", path+"/approve", eng, nil)
		wantStatus(t, a, 200)
		if a.body["status"] != "approved" || a.body["applied_version"].(float64) != 2 || a.body["decided_by"] != "eng@example.com" {
			t.Fatalf("approved: %s", a.raw)
		}
		wantError(t, e.do("POST", path+"/approve", eng, nil), 409, "already")
		v2 := e.do("GET", "/api/v1/pipelines/well12/versions/2", eng, nil)
		if v2.body["created_by"] != "sa:copilot" || !strings.Contains(string(v2.raw), `"interval":"500ms"`) {
			t.Fatalf("version 2: %s", v2.raw)
		}
		recs := e.records(admin, "event_type=pipeline.update&resource_id=well12")
		if len(recs) != 1 || recs[0]["user"] != "sa:copilot" || recs[0]["approved_by"] != "eng@example.com" {
			t.Fatalf("pipeline.update records: %v", recs)
		}

		// Reject.
		r = e.do("POST", "/api/v1/proposals", cp, map[string]any{"pipeline_id": "well12", "rationale": "even faster", "spec": spec("100ms")})
		wantStatus(t, r, 201)
		path = "/api/v1/proposals/" + ftoa(r.body["id"].(float64))
		wantError(t, e.do("POST", path+"/reject", eng, map[string]any{"reason": " "}), 400, "reason: required")
		rj := e.do("POST", path+"/reject", eng, map[string]any{"reason": "the PLC cannot answer every 100 ms"})
		if rj.status != 200 || rj.body["status"] != "rejected" || rj.body["reason"] != "the PLC cannot answer every 100 ms" {
			t.Fatalf("reject: %d %s", rj.status, rj.raw)
		}
		wantError(t, e.do("POST", path+"/approve", eng, nil), 409, "already")
		if p := e.do("GET", "/api/v1/pipelines/well12", eng, nil); p.body["version"].(float64) != 2 {
			t.Fatalf("a rejected proposal changed the pipeline: %s", p.raw)
		}
		if recs := e.records(admin, "event_type=proposal.reject&resource_id=well12"); len(recs) != 1 || recs[0]["reason"] != "the PLC cannot answer every 100 ms" {
			t.Fatalf("proposal.reject records: %v", recs)
		}

		// Stale: the pipeline moved on after the proposal.
		r = e.do("POST", "/api/v1/proposals", cp, map[string]any{"pipeline_id": "well12", "rationale": "slower", "spec": spec("2s")})
		wantStatus(t, r, 201)
		path = "/api/v1/proposals/" + ftoa(r.body["id"].(float64))
		wantStatus(t, e.do("PUT", "/api/v1/pipelines/well12", eng, map[string]any{"base_version": 2, "spec": spec("750ms")}), 200)
		wantError(t, e.do("POST", path+"/approve", eng, nil), 409, "newer version")
		if g := e.do("GET", path, eng, nil); g.body["status"] != "pending" {
			t.Fatalf("a refused approval left the proposal %s", g.raw)
		}

		// Revocation locks the Copilot out at once.
		toks := e.do("GET", "/api/v1/service-accounts/copilot/tokens", admin, nil)
		if strings.Contains(string(toks.raw), strings.SplitN(cp, ".", 2)[1]) {
			t.Fatalf("token list shows the secret: %s", toks.raw)
		}
		id := toks.body["tokens"].([]any)[0].(map[string]any)["id"].(float64)
		wantStatus(t, e.do("DELETE", "/api/v1/service-accounts/copilot/tokens/"+ftoa(id), admin, nil), 204)
		wantError(t, e.do("GET", "/api/v1/pipelines", cp, nil), 401, "invalid or expired token")
		audit := e.do("GET", "/api/v1/audit?resource_id=copilot", admin, nil)
		if strings.Contains(string(audit.raw), strings.SplitN(cp, ".", 2)[1]) || len(audit.body["records"].([]any)) != 3 {
			t.Fatalf("service account audit (create, token, revoke; never the secret): %s", audit.raw)
		}
	})
}

// Service accounts refuse what would make a token too powerful or
// malformed: 400 naming the field.
func TestBadServiceAccounts(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	for _, c := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"fail-admin-role", map[string]any{"name": "bot", "roles": []string{"Admin"}}, "roles: a service account cannot be an Admin"},
		{"fail-unknown-role", map[string]any{"name": "bot", "roles": []string{"Root"}}, "roles: unknown role"},
		{"fail-no-role", map[string]any{"name": "bot"}, "roles: at least one role"},
		{"fail-bad-name", map[string]any{"name": "Bot One", "roles": []string{"Copilot"}}, "name:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/api/v1/service-accounts", admin, c.body), 400, c.want)
		})
	}
	e.copilotToken(admin, "bot")
	wantError(t, e.do("POST", "/api/v1/service-accounts", admin, map[string]any{"name": "bot", "roles": []string{"Copilot"}}), 409, "exists")
	wantError(t, e.do("POST", "/api/v1/service-accounts/bot/tokens", admin, map[string]any{"expires_in": "9000h"}), 400, "expires_in")
	wantError(t, e.do("POST", "/api/v1/service-accounts/bot/tokens", admin, map[string]any{"expires_in": "soon"}), 400, "expires_in")
	wantError(t, e.do("POST", "/api/v1/service-accounts/nobody/tokens", admin, nil), 404, "no such service account")
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
