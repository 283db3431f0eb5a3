package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// siteGateways enrolls and approves each gateway at its site (id: site).
func (e *env) siteGateways(admin string, sites map[string]string) {
	e.t.Helper()
	for id, site := range sites {
		_, value := e.enrollmentToken(admin, 1, site)
		if _, err := e.gateway(id).Enroll(context.Background(), value, "edge", nil); err != nil {
			e.t.Fatal(err)
		}
		if r := e.do("POST", "/api/v1/gateways/"+id+"/approve", admin, nil); r.status != 200 {
			e.t.Fatalf("approve %s: %d %s", id, r.status, r.raw)
		}
	}
}

// TestGatewayAccessScopesDeploymentsAndRollouts: a user confined to one
// site reads a pipeline's deployments and rollouts without learning the
// other site's gateways (their ids, statuses or errors), as the gateway
// routes answer "not found" for them; an unrestricted reader sees both.
func TestGatewayAccessScopesDeploymentsAndRollouts(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		e.siteGateways(admin, map[string]string{"gw-north": "North", "gw-south": "South"})
		wantStatus(t, e.do("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line", "spec": spec("1s")}), 201)
		wantStatus(t, e.do("POST", "/api/v1/pipelines/line/deploy", admin, map[string]any{"gateways": []string{"gw-north", "gw-south"}}), 200)
		wantStatus(t, e.do("POST", "/api/v1/pipelines/line/rollouts", admin, map[string]any{"gateways": []string{"gw-north", "gw-south"}}), 201)

		north := e.user("north@example.com", []string{rbac.Engineer}, "North")
		nobody := e.user("nobody@example.com", []string{rbac.Viewer}, "Elsewhere")
		for _, c := range []struct {
			name, token, path string
			see, hide         []string
			waiting           float64 // the rollout's waiting count shown
		}{
			{"ok-unrestricted-deployments", admin, "/api/v1/pipelines/line/deployments", []string{"gw-north", "gw-south"}, nil, -1},
			{"fail-other-sites-deployments", north, "/api/v1/pipelines/line/deployments", []string{"gw-north"}, []string{"gw-south"}, -1},
			{"fail-no-sites-deployments", nobody, "/api/v1/pipelines/line/deployments", nil, []string{"gw-north", "gw-south"}, -1},
			{"ok-unrestricted-rollout", admin, "/api/v1/pipelines/line/rollouts/1", []string{"gw-north", "gw-south"}, nil, 2},
			{"fail-other-sites-rollout", north, "/api/v1/pipelines/line/rollouts/1", []string{"gw-north"}, []string{"gw-south"}, 1},
			{"fail-no-sites-rollout", nobody, "/api/v1/pipelines/line/rollouts/1", nil, []string{"gw-north", "gw-south"}, 0},
			{"ok-unrestricted-rollout-list", admin, "/api/v1/pipelines/line/rollouts", nil, nil, 2},
			{"fail-other-sites-rollout-list", north, "/api/v1/pipelines/line/rollouts", nil, nil, 1},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.do("GET", c.path, c.token, nil)
				wantStatus(t, r, 200)
				for _, id := range c.see {
					if !strings.Contains(string(r.raw), `"`+id+`"`) {
						t.Errorf("%s missing from %s", id, r.raw)
					}
				}
				for _, id := range c.hide {
					if strings.Contains(string(r.raw), id) {
						t.Errorf("%s shown to a user without access to it: %s", id, r.raw)
					}
				}
				if c.waiting < 0 {
					return
				}
				ro := r.body
				if list, ok := r.body["rollouts"].([]any); ok {
					ro = list[0].(map[string]any)
				}
				if got, _ := ro["counts"].(map[string]any)["waiting"].(float64); got != c.waiting {
					t.Errorf("waiting count %v, want %v: %s", got, c.waiting, r.raw)
				}
			})
		}
	})
}

// TestSiteAdminsAuditShowsNoOtherSitesDeployments: the records of a
// deploy, a rollout or a connection test name gateways in their changes
// (and a stopped rollout's reason names the failed ones), under the
// pipeline or the rollout as resource. An Admin confined to one site reads
// such records only when it made them itself (they name only what it
// asked for), never another's naming the other site's gateways; the
// unrestricted Admin reads them all.
func TestSiteAdminsAuditShowsNoOtherSitesDeployments(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		e.siteGateways(admin, map[string]string{"gw-a1": "Plant A", "gw-b1": "Plant B"})
		both := []string{"gw-a1", "gw-b1"}
		wantStatus(t, e.do("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line", "spec": spec("1s")}), 201)
		wantStatus(t, e.do("POST", "/api/v1/pipelines/line/deploy", admin, map[string]any{"gateways": both}), 200)
		wantStatus(t, e.do("POST", "/api/v1/pipelines/line/rollouts", admin, map[string]any{"gateways": both}), 201)
		wantStatus(t, e.do("POST", "/api/v1/pipelines/line/test-connection", admin,
			map[string]any{"gateway_id": "gw-b1", "adapter": "line1", "device": "plc1", "poll_group": "fast"}), 202)

		siteAdmin := e.user("site-admin@example.com", []string{rbac.Admin}, "Plant A")
		wantStatus(t, e.do("POST", "/api/v1/pipelines/line/deploy", siteAdmin, map[string]any{"gateways": []string{"gw-a1"}}), 200)
		for _, c := range []struct {
			name, token, path string
			wantB1, wantOwn   bool
		}{
			{"ok-unrestricted", admin, "/api/v1/audit?limit=500", true, true},
			{"fail-site-admin-list", siteAdmin, "/api/v1/audit?limit=500", false, true},
			{"fail-site-admin-by-resource", siteAdmin, "/api/v1/audit?resource_id=line", false, true},
			{"fail-site-admin-soc2", siteAdmin, "/api/v1/audit/compliance/soc2", false, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.do("GET", c.path, c.token, nil)
				wantStatus(t, r, 200)
				if got := strings.Contains(string(r.raw), "gw-b1"); got != c.wantB1 {
					t.Errorf("names gw-b1: %v, want %v: %.2000s", got, c.wantB1, r.raw)
				}
				own := strings.Contains(string(r.raw), "site-admin@example.com") && strings.Contains(string(r.raw), "pipeline.deploy")
				if own != c.wantOwn {
					t.Errorf("shows the site admin's own deploy: %v, want %v", own, c.wantOwn)
				}
			})
		}
	})
}

// TestRolloutNamingOtherSitesGatewaysHoldsNothing: a rollout holds its
// gateways until it ends, and its targets were taken as listed. An Admin
// confined to one site could list another site's gateways: they were
// held (that site's own rollouts got 409 for as long as it ran, up to a
// day), and a 409 told it they were in a rollout. Such gateways, like ones
// that do not exist, now fail at once ("not written: gateway not found")
// and are held by nothing, and the confined Admin can still roll back.
func TestRolloutNamingOtherSitesGatewaysHoldsNothing(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		e.siteGateways(admin, map[string]string{"gw-north": "North", "gw-south": "South"})
		wantStatus(t, e.do("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line", "spec": spec("1s")}), 201)
		north := e.user("north@example.com", []string{rbac.Admin}, "North")

		r := e.do("POST", "/api/v1/pipelines/line/rollouts", north, map[string]any{"gateways": []string{"gw-north", "gw-south", "gw-ghost"}})
		wantStatus(t, r, 201)
		if r.body["counts"].(map[string]any)["waiting"] != float64(1) || strings.Contains(string(r.raw), "gw-south") {
			t.Fatalf("the confined admin's rollout: %s", r.raw)
		}
		// gw-south is not held: its own site's rollout starts.
		south := e.do("POST", "/api/v1/pipelines/line/rollouts", admin, map[string]any{"gateways": []string{"gw-south"}})
		wantStatus(t, south, 201)
		// Listing gw-south (now in a running rollout) answers as listing a
		// gateway that does not exist.
		for _, gw := range []string{"gw-south", "gw-nowhere"} {
			wantStatus(t, e.do("POST", "/api/v1/pipelines/line/rollouts", north, map[string]any{"gateways": []string{gw}}), 201)
		}
		g := e.do("GET", "/api/v1/pipelines/line/rollouts/1", admin, nil)
		for _, x := range g.body["gateways"].([]any) {
			m := x.(map[string]any)
			if m["gateway_id"] != "gw-north" && (m["status"] != "failed" || m["error"] != "not written: gateway not found") {
				t.Fatalf("a gateway outside the creator's access: %v", m)
			}
		}
		wantStatus(t, e.do("POST", "/api/v1/pipelines/line/rollouts/1/rollback", north, nil), 202)
	})
}
