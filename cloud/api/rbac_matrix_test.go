package api_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// route is an authenticated route and the permission it needs ("" = any
// authenticated user), declared here independently of the router.
type route struct {
	method, path, perm string
	body               any
}

var protectedRoutes = []route{
	{"POST", "/api/v1/auth/refresh", "", nil},
	{"GET", "/api/v1/auth/me", "", nil},
	{"POST", "/api/v1/auth/password", "", map[string]any{"current_password": "not it", "new_password": "x"}},
	{"POST", "/api/v1/users", rbac.UsersManage, map[string]any{"email": "new-%s@example.com", "password": "violet-harbor-quartz-17", "roles": []string{"Viewer"}}},
	{"GET", "/api/v1/users", rbac.UsersManage, nil},
	{"GET", "/api/v1/users/target@example.com", rbac.UsersManage, nil},
	{"PATCH", "/api/v1/users/target@example.com", rbac.UsersManage, map[string]any{"gateway_access": []string{"gw-%s"}}},
	{"POST", "/api/v1/users/target@example.com/disable", rbac.UsersManage, nil},
	{"POST", "/api/v1/users/target@example.com/enable", rbac.UsersManage, nil},
	{"DELETE", "/api/v1/users/target@example.com", rbac.UsersManage, nil},
	{"GET", "/api/v1/audit", rbac.AuditRead, nil},
	{"GET", "/api/v1/audit/verify", rbac.AuditRead, nil},
	{"GET", "/api/v1/audit/compliance/gdpr?user=target@example.com", rbac.AuditRead, nil},
	{"GET", "/api/v1/audit/compliance/soc2", rbac.AuditRead, nil},
	{"GET", "/api/v1/audit/compliance/iso27001", rbac.AuditRead, nil},
	{"POST", "/api/v1/enrollment-tokens", rbac.GatewaysManage, map[string]any{"expires_in": "1h", "max_uses": 1}},
	{"GET", "/api/v1/enrollment-tokens", rbac.GatewaysManage, nil},
	{"DELETE", "/api/v1/enrollment-tokens/et_none", rbac.GatewaysManage, nil},
	{"GET", "/api/v1/gateways", rbac.GatewaysRead, nil},
	{"GET", "/api/v1/fleet/overview", rbac.GatewaysRead, nil},
	{"GET", "/api/v1/gateways/gw-target", rbac.GatewaysRead, nil},
	{"GET", "/api/v1/gateways/gw-target/health", rbac.GatewaysRead, nil},
	{"GET", "/api/v1/gateways/gw-target/logs?level=warn", rbac.LogsRead, nil}, // gateway logs (issue #13)
	{"GET", "/api/v1/gateways/gw-target/config", rbac.ConfigsRead, nil},
	{"PUT", "/api/v1/gateways/gw-target/config", rbac.ConfigsDeploy, map[string]any{"config": map[string]any{"log_level": "debug"}}},
	{"POST", "/api/v1/gateways/gw-target/approve", rbac.GatewaysManage, nil},
	{"POST", "/api/v1/gateways/gw-target/reject", rbac.GatewaysManage, nil},
	{"POST", "/api/v1/gateways/gw-target/disable", rbac.GatewaysManage, nil},
	{"POST", "/api/v1/gateways/gw-target/enable", rbac.GatewaysManage, nil},
	{"DELETE", "/api/v1/gateways/gw-target", rbac.GatewaysManage, nil},
	{"POST", "/api/v1/gateways/claim", rbac.GatewaysClaim, map[string]any{"gateway_id": "gw-target", "claim_code": "00000-00000-0", "site": "s"}},
	{"GET", "/api/v1/alarms", rbac.DashboardsRead, nil},
	{"POST", "/api/v1/alarms/9999/acknowledge", rbac.AlarmsAck, nil},
	// pipelines (#12)
	{"GET", "/api/v1/pipelines", rbac.PipelinesRead, nil},
	{"POST", "/api/v1/pipelines", rbac.PipelinesCreate, map[string]any{"id": "pl-%s", "spec": map[string]any{"kafka": map[string]any{"brokers": "k:1"}}}},
	{"POST", "/api/v1/pipelines/validate", rbac.PipelinesCreate, map[string]any{"spec": map[string]any{"kafka": map[string]any{"brokers": "k:1"}}}},
	{"GET", "/api/v1/pipelines/pl-target", rbac.PipelinesRead, nil},
	{"PUT", "/api/v1/pipelines/pl-target", rbac.PipelinesUpdate, map[string]any{"spec": map[string]any{"kafka": map[string]any{"brokers": "k:1"}}}},
	{"GET", "/api/v1/pipelines/pl-target/versions", rbac.PipelinesRead, nil},
	{"GET", "/api/v1/pipelines/pl-target/versions/1", rbac.PipelinesRead, nil},
	{"GET", "/api/v1/pipelines/pl-target/diff?from=1&to=1", rbac.PipelinesRead, nil},
	{"POST", "/api/v1/pipelines/pl-target/deploy", rbac.ConfigsDeploy, map[string]any{"gateways": []string{"gw-target"}}},
	{"GET", "/api/v1/pipelines/pl-target/deployments", rbac.PipelinesRead, nil},
	// staged rollouts (#12)
	{"POST", "/api/v1/pipelines/pl-target/rollouts", rbac.ConfigsDeploy, map[string]any{"gateways": []string{"gw-target"}}},
	{"GET", "/api/v1/pipelines/pl-target/rollouts", rbac.PipelinesRead, nil},
	{"GET", "/api/v1/pipelines/pl-target/rollouts/1", rbac.PipelinesRead, nil},
	{"POST", "/api/v1/pipelines/pl-target/rollouts/1/rollback", rbac.ConfigsDeploy, nil},
	{"DELETE", "/api/v1/pipelines/pl-target", rbac.PipelinesDelete, nil},
	// secrets (#12)
	{"GET", "/api/v1/secrets", rbac.SecretsRead, nil},
	{"POST", "/api/v1/secrets", rbac.SecretsManage, map[string]any{"name": "s-%s", "value": "matrix-value"}},
	{"GET", "/api/v1/secrets/s-target", rbac.SecretsRead, nil},
	{"PUT", "/api/v1/secrets/s-target", rbac.SecretsManage, map[string]any{"value": "matrix-value-2"}},
	{"DELETE", "/api/v1/secrets/s-target", rbac.SecretsManage, nil},
	// service accounts, Copilot proposals, connection tests (#12)
	{"POST", "/api/v1/service-accounts", rbac.UsersManage, map[string]any{"name": "sa-%s", "roles": []string{"Copilot"}}},
	{"GET", "/api/v1/service-accounts", rbac.UsersManage, nil},
	{"GET", "/api/v1/service-accounts/sa-target", rbac.UsersManage, nil},
	{"POST", "/api/v1/service-accounts/sa-target/tokens", rbac.UsersManage, map[string]any{"expires_in": "1h"}},
	{"GET", "/api/v1/service-accounts/sa-target/tokens", rbac.UsersManage, nil},
	{"DELETE", "/api/v1/service-accounts/sa-target/tokens/9999", rbac.UsersManage, nil},
	{"DELETE", "/api/v1/service-accounts/sa-target", rbac.UsersManage, nil},
	{"POST", "/api/v1/proposals", rbac.SuggestionsCreate, map[string]any{"pipeline_id": "pl-target", "rationale": "faster", "spec": map[string]any{"kafka": map[string]any{"brokers": "k:1"}}}},
	{"GET", "/api/v1/proposals", rbac.PipelinesRead, nil},
	{"GET", "/api/v1/proposals/9999", rbac.PipelinesRead, nil},
	{"POST", "/api/v1/proposals/9999/approve", rbac.PipelinesUpdate, nil},
	{"POST", "/api/v1/proposals/9999/reject", rbac.PipelinesUpdate, map[string]any{"reason": "no"}},
	{"POST", "/api/v1/pipelines/pl-target/test-connection", rbac.PipelinesTest, map[string]any{"gateway_id": "gw-target", "adapter": "a", "device": "d", "poll_group": "g"}},
	{"GET", "/api/v1/connection-tests/9999", rbac.PipelinesRead, nil},
	{"POST", "/api/v1/auth/logout", "", nil},
}

// mtlsOnlyRoutes exist on the gateway listener alone (a gateway
// certificate and its token): on the plain listener they are 404 for
// everyone. secret_delivery_test.go tests them there.
var mtlsOnlyRoutes = []route{
	{"GET", "/api/v1/gateways/gw-target/secrets", "", nil}, // secrets (#12)
}

// gatewayRoutes take a gateway token, never a user's.
var gatewayRoutes = []route{
	{"POST", "/api/v1/gateways/token/renew", "", map[string]any{"gateway_id": "gw-target", "nonce": "n", "signature": "c2ln"}},
	{"GET", "/api/v1/gateways/gw-target/config/current", "", nil},
	{"POST", "/api/v1/gateways/gw-target/heartbeat", "", map[string]any{"status": "ok"}},
	{"POST", "/api/v1/gateways/gw-target/ak-certificate", "", nil},
	{"POST", "/api/v1/gateways/gw-target/logs", "", map[string]any{"entries": []any{}}}, // gateway logs (issue #13)
	// connection tests (#12)
	{"GET", "/api/v1/gateways/gw-target/connection-tests", "", nil},
	{"POST", "/api/v1/gateways/gw-target/connection-tests/1/result", "", map[string]any{"error": "x"}},
}

// publicRoutes need no user token (metrics has its own guard).
var publicRoutes = []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /api/v1/openapi.json", "POST /api/v1/auth/login",
	"POST /api/v1/gateways/register", "POST /api/v1/gateways/enroll", "POST /api/v1/gateways/enroll/challenge", "POST /api/v1/gateways/activate",
	"POST /api/v1/gateways/token/challenge",
	"POST /api/v1/gateways/token", "GET /claim", "GET /claim.js", "GET /claim.css", "GET /ui/:file",
	"POST /internal/step-ca/authorize"} // gateway listener only; step-ca's certificate and signature

// withBody fills a route's %s placeholders so each request is unique.
func withBody(b any, tag string) any {
	m, ok := b.(map[string]any)
	if !ok {
		return b
	}
	out := map[string]any{}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			if strings.Contains(x, "%s") {
				v = fmt.Sprintf(x, tag)
			}
		case []string:
			c := slices.Clone(x)
			for i := range c {
				if strings.Contains(c[i], "%s") {
					c[i] = fmt.Sprintf(c[i], tag)
				}
			}
			v = c
		}
		out[k] = v
	}
	return out
}

// TestRBACMatrix sends every route as every role: the answer is 403 with
// "Missing permission: <perm>" exactly when the role's permissions (the
// spec's table) lack the route's permission, and no route answers 401/403
// to a role that holds it.
func TestRBACMatrix(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		for _, role := range rbac.Roles() {
			t.Run(role, func(t *testing.T) {
				email := "role-" + strings.ToLower(role) + "@example.com"
				// The gateway the PATCH row grants: a user may grant only
				// what it has (TestGatewayAccessConfinesAdmins).
				tok := e.user(email, []string{role}, "gw-"+strings.ToLower(role))
				admin := e.login(adminEmail, adminPassword)
				e.do("POST", "/api/v1/users", admin, map[string]any{"email": "target@example.com", "password": "violet-harbor-quartz-17", "roles": []string{"Viewer"}})
				for _, rt := range protectedRoutes {
					r := e.do(rt.method, rt.path, tok, withBody(rt.body, strings.ToLower(role)))
					allowed := rt.perm == "" || slices.Contains(rbac.RolePermissions(role), rt.perm)
					switch {
					case allowed && (r.status == 401 || r.status == 403 || r.status >= 500):
						t.Errorf("%s %s as %s: %d %s, want allowed", rt.method, rt.path, role, r.status, r.raw)
					case !allowed:
						if r.status != 403 || r.body["error"] != "Missing permission: "+rt.perm {
							t.Errorf("%s %s as %s: %d %s, want 403 Missing permission: %s", rt.method, rt.path, role, r.status, r.raw, rt.perm)
						}
					}
					if rt.path == "/api/v1/auth/refresh" && r.status == 200 {
						tok = r.body["token"].(string) // the old token is revoked by refresh
					}
				}
			})
		}
		t.Run("unauthenticated", func(t *testing.T) {
			for _, rt := range protectedRoutes {
				wantError(t, e.do(rt.method, rt.path, "", withBody(rt.body, "anon")), 401, "authentication required")
			}
		})
		t.Run("user-token-refused-on-gateway-routes", func(t *testing.T) {
			admin := e.login(adminEmail, adminPassword)
			for _, rt := range gatewayRoutes {
				wantError(t, e.do(rt.method, rt.path, admin, rt.body), 401, "invalid or expired token")
			}
		})
		t.Run("mtls-only-routes-absent-on-the-plain-listener", func(t *testing.T) {
			admin := e.login(adminEmail, adminPassword)
			for _, rt := range mtlsOnlyRoutes {
				wantError(t, e.do(rt.method, rt.path, admin, rt.body), 404, "no such route")
			}
		})
		t.Run("every-route-is-in-the-matrix", func(t *testing.T) {
			known := slices.Clone(publicRoutes)
			pattern := strings.NewReplacer("target@example.com", ":email", "gw-target", ":id", "et_none", ":id", "alarms/9999", "alarms/:id",
				"pl-target", ":id", "/versions/1", "/versions/:version", "s-target", ":name",
				"sa-target", ":name", "tokens/9999", "tokens/:token", "proposals/9999", "proposals/:id", // #12 Copilot
				"connection-tests/9999", "connection-tests/:id", "connection-tests/1/result", "connection-tests/:test/result",
				"/rollouts/1", "/rollouts/:rid")
			for _, rt := range slices.Concat(protectedRoutes, gatewayRoutes, mtlsOnlyRoutes) {
				known = append(known, rt.method+" "+strings.SplitN(pattern.Replace(rt.path), "?", 2)[0])
			}
			for _, r := range e.srv.App().GetRoutes(true) {
				if r.Method == "HEAD" || r.Path == "/" {
					continue
				}
				if !slices.Contains(known, r.Method+" "+r.Path) {
					t.Errorf("route %s %s is not in the RBAC matrix test", r.Method, r.Path)
				}
			}
		})
	})
}

// TestDenialsAreAudited: a 403 leaves an authorization.denied record.
func TestDenialsAreAudited(t *testing.T) {
	e := newEnv(t, "", "")
	tok := e.user("viewer@example.com", []string{rbac.Viewer})
	wantStatus(t, e.do("GET", "/api/v1/users", tok, nil), 403)
	admin := e.login(adminEmail, adminPassword)
	r := e.do("GET", "/api/v1/audit?event_type=authorization.denied&user=viewer@example.com", admin, nil)
	wantStatus(t, r, 200)
	recs, _ := r.body["records"].([]any)
	if len(recs) != 1 {
		t.Fatalf("want 1 denial record, got %s", r.raw)
	}
}
