package api_test

import (
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// TestProposalsNeedASecondPerson: whoever holds both the Copilot's
// suggestions:create and pipelines:update (a service account an Admin gave
// Copilot and Engineer, or such a user) cannot approve its own proposal:
// that would be an unreviewed change recorded as reviewed (approved_by
// naming its author). Another Engineer approves it; the author may still
// withdraw (reject) its own.
func TestProposalsNeedASecondPerson(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		eng := e.user("eng@example.com", []string{rbac.Engineer}, "*")
		both := e.user("both@example.com", []string{rbac.Engineer, rbac.Copilot}, "*")
		wantStatus(t, e.do("POST", "/api/v1/service-accounts", admin, map[string]any{"name": "bot", "roles": []string{rbac.Copilot, rbac.Engineer}}), 201)
		tr := e.do("POST", "/api/v1/service-accounts/bot/tokens", admin, map[string]any{"expires_in": "1h"})
		wantStatus(t, tr, 201)
		bot := tr.body["token"].(string)
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "line", "spec": spec("1s")}), 201)

		for i, author := range []struct{ name, token string }{{"service-account", bot}, {"user", both}} {
			t.Run(author.name, func(t *testing.T) {
				r := e.do("POST", "/api/v1/proposals", author.token, map[string]any{"pipeline_id": "line", "rationale": "faster",
					"spec": spec([]string{"500ms", "250ms"}[i])})
				wantStatus(t, r, 201)
				path := "/api/v1/proposals/" + ftoa(r.body["id"].(float64))
				wantError(t, e.do("POST", path+"/approve", author.token, nil), 403, "approved by someone other than its author")
				if g := e.do("GET", path, eng, nil); g.body["status"] != "pending" {
					t.Fatalf("a refused self-approval decided the proposal: %s", g.raw)
				}
				if recs := e.records(admin, "event_type=pipeline.update&resource_id=line"); len(recs) != i {
					t.Fatalf("a refused self-approval changed the pipeline: %v", recs)
				}
				a := e.do("POST", path+"/approve", eng, nil)
				wantStatus(t, a, 200)
				if a.body["decided_by"] != "eng@example.com" {
					t.Fatalf("approved: %s", a.raw)
				}
			})
		}
		r := e.do("POST", "/api/v1/proposals", bot, map[string]any{"pipeline_id": "line", "rationale": "slower", "spec": spec("2s")})
		wantStatus(t, r, 201)
		wantStatus(t, e.do("POST", "/api/v1/proposals/"+ftoa(r.body["id"].(float64))+"/reject", bot, map[string]any{"reason": "withdrawn"}), 200)
	})
}

// TestProposalForADeletedPipelineIsNotApplied: a proposal names its
// pipeline and base version. The pipeline deleted and another created
// under the same id, its version 1 matched the proposal's base, so
// approving applied the old proposal's whole document over the new
// pipeline. It is refused (409) and changes nothing.
func TestProposalForADeletedPipelineIsNotApplied(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		eng := e.user("eng@example.com", []string{rbac.Engineer}, "*")
		cp := e.copilotToken(admin, "copilot")
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "line", "spec": spec("1s")}), 201)
		r := e.do("POST", "/api/v1/proposals", cp, map[string]any{"pipeline_id": "line", "rationale": "faster", "spec": spec("500ms")})
		wantStatus(t, r, 201)
		path := "/api/v1/proposals/" + ftoa(r.body["id"].(float64))
		wantStatus(t, e.do("DELETE", "/api/v1/pipelines/line", admin, nil), 204)
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "line", "spec": spec("5s")}), 201)

		wantError(t, e.do("POST", path+"/approve", eng, nil), 409, "deleted")
		p := e.do("GET", "/api/v1/pipelines/line", eng, nil)
		if p.body["version"] != float64(1) || !strings.Contains(string(p.raw), `"interval":"5s"`) {
			t.Fatalf("the new pipeline changed: %s", p.raw)
		}
		wantStatus(t, e.do("POST", path+"/reject", eng, map[string]any{"reason": "its pipeline is gone"}), 200)
	})
}
