package api_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/api"
)

// openAPIOp is the part of an OpenAPI operation these tests read.
type openAPIOp struct {
	Permission  string                     `json:"x-permission"`
	Security    *[]map[string][]string     `json:"security"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

// openAPIOps are the embedded document's operations by "METHOD /path/{param}".
type openAPIOps map[string]openAPIOp

// readOpenAPIOps reads the embedded document's operations.
func readOpenAPIOps(t *testing.T) openAPIOps {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	ops := openAPIOps{}
	for path, byMethod := range doc.Paths {
		for method, raw := range byMethod {
			if method == "parameters" {
				continue
			}
			var o openAPIOp
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[strings.ToUpper(method)+" "+path] = o
		}
	}
	return ops
}

// matrixSegment maps the concrete ids of the RBAC matrix's rows back to the
// router's parameters, as OpenAPI spells them.
var matrixSegment = strings.NewReplacer("target@example.com", "{email}", "gw-target", "{id}", "et_none", "{id}", "alarms/9999", "alarms/{id}",
	"pl-target", "{id}", "/versions/1", "/versions/{version}", "s-target", "{name}", "sa-target", "{name}", "tokens/9999", "tokens/{token}",
	"proposals/9999", "proposals/{id}", "connection-tests/9999", "connection-tests/{id}", "connection-tests/1/result", "connection-tests/{test}/result",
	"/rollouts/1", "/rollouts/{rid}")

var routeParam = regexp.MustCompile(`:([a-z_]+)`)

// docKey is a matrix row's key in openAPIOps.
func docKey(method, path string) string {
	return method + " " + routeParam.ReplaceAllString(matrixSegment.Replace(strings.SplitN(path, "?", 2)[0]), "{$1}")
}

// of is the operation of a matrix row, failing t when it is undocumented.
func (ops openAPIOps) of(t *testing.T, method, path string) (openAPIOp, string, bool) {
	t.Helper()
	key := docKey(method, path)
	o, ok := ops[key]
	if !ok {
		t.Errorf("%s: not in openapi.json", key)
	}
	return o, key, ok
}

// security names the schemes an operation accepts: "user" for the
// document's default (a session or service account token), "none" for a
// public route, else the scheme names.
func (o openAPIOp) security() string {
	if o.Security == nil {
		return "user"
	}
	if len(*o.Security) == 0 {
		return "none"
	}
	var names []string
	for _, req := range *o.Security {
		for n := range req {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// TestOpenAPIDocumentsEachRoutesAuth: the auth and permission the document
// states for a route are the ones the RBAC matrix test (an independent
// table that TestRBACMatrix checks against the server) gives it.
func TestOpenAPIDocumentsEachRoutesAuth(t *testing.T) {
	ops := readOpenAPIOps(t)
	check := func(method, path, wantSec, wantPerm string) {
		t.Helper()
		o, key, ok := ops.of(t, method, path)
		if !ok {
			return
		}
		if got := o.security(); got != wantSec {
			t.Errorf("%s: security %q in openapi.json, the route takes %q", key, got, wantSec)
		}
		if o.Permission != wantPerm {
			t.Errorf("%s: x-permission %q in openapi.json, the route needs %q", key, o.Permission, wantPerm)
		}
		if wantSec != "none" && (o.Responses["401"] == nil || o.Responses["403"] == nil) {
			t.Errorf("%s: an authenticated route must document 401 and 403", key)
		}
	}
	for _, rt := range protectedRoutes {
		check(rt.method, rt.path, "user", rt.perm)
	}
	for _, rt := range slices.Concat(gatewayRoutes, mtlsOnlyRoutes) {
		check(rt.method, rt.path, "gatewayToken", "")
	}
	for _, r := range publicRoutes {
		method, path, _ := strings.Cut(r, " ")
		check(method, path, "none", "")
	}
}

// TestOpenAPIDocumentsObservedStatuses sends every route of the RBAC
// matrix the requests a client gets wrong most (no token, a token without
// the permission, a malformed body, the wrong content type) and the
// matrix's own request as an Admin, and fails for any status the route
// answers that its OpenAPI operation does not list. A body past the limit
// is checked in the document only: the server answers 413 and closes the
// connection while the client may still be writing, so the client sees
// the 413 or a reset, by timing.
func TestOpenAPIDocumentsObservedStatuses(t *testing.T) {
	ops := readOpenAPIOps(t)
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	viewer := e.user("openapi-viewer@example.com", []string{"Viewer"})
	wantStatus(t, e.do("POST", "/api/v1/users", admin, map[string]any{"email": "target@example.com", "password": "violet-harbor-quartz-17", "roles": []string{"Viewer"}}), 201)
	documented := func(what, method, path string, r resp) {
		t.Helper()
		o, key, ok := ops.of(t, method, path)
		if !ok {
			return
		}
		if o.Responses[strconv.Itoa(r.status)] == nil {
			t.Errorf("%s (%s) answers %d (%s), which openapi.json does not list", key, what, r.status, r.raw)
		}
	}
	bodyErrors := func(method, path, token string) {
		t.Helper()
		documented("malformed JSON", method, path, e.do(method, path, token, `{"x":`))
		documented("text/plain body", method, path, e.do(method, path, token, `{}`, "Content-Type", fiber.MIMETextPlain))
		if o := ops[docKey(method, path)]; o.RequestBody != nil && o.Responses["413"] == nil {
			t.Errorf("%s: takes a body but does not list 413 (STREAMFORGE_BODY_LIMIT)", docKey(method, path))
		}
	}
	// The gateway routes as the gateway itself, and as another gateway,
	// before the Admin's rows below delete it.
	own, _ := e.approvedGateway(admin, "gw-target").Token()
	other, _ := e.approvedGateway(admin, "gw-other").Token()
	for _, rt := range gatewayRoutes {
		documented("the gateway's token", rt.method, rt.path, e.do(rt.method, rt.path, own, rt.body))
		documented("another gateway's token", rt.method, rt.path, e.do(rt.method, rt.path, other, rt.body))
		if rt.body != nil {
			bodyErrors(rt.method, rt.path, own)
		}
	}
	for _, rt := range protectedRoutes {
		documented("no token", rt.method, rt.path, e.do(rt.method, rt.path, "", withBody(rt.body, "anon")))
		documented("Viewer", rt.method, rt.path, e.do(rt.method, rt.path, viewer, withBody(rt.body, "viewer")))
		if rt.body != nil {
			bodyErrors(rt.method, rt.path, admin)
		}
		if rt.path == "/api/v1/auth/logout" || rt.path == "/api/v1/auth/refresh" {
			continue // they end the admin's session the rest of the test uses
		}
		documented("Admin", rt.method, rt.path, e.do(rt.method, rt.path, admin, withBody(rt.body, "admin")))
	}
	for _, rt := range gatewayRoutes {
		documented("a user's token", rt.method, rt.path, e.do(rt.method, rt.path, admin, rt.body))
	}
	for _, r := range publicRoutes {
		method, path, _ := strings.Cut(r, " ")
		if method == "POST" {
			bodyErrors(method, path, "")
		}
	}
}
