package api_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/api"
)

// TestOpenAPICoversEveryRoute fails when a served route is missing from
// the OpenAPI document, or the document names a route that is not served.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newEnv(t, "", "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r := e.do("GET", "/api/v1/openapi.json", "", nil)
	wantStatus(t, r, 200)
	if err := json.Unmarshal(r.raw, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	served := map[string]bool{}
	for _, rt := range e.srv.App().GetRoutes(true) {
		if rt.Method == "HEAD" || rt.Path == "/" {
			continue
		}
		path := param.ReplaceAllString(rt.Path, "{$1}")
		key := strings.ToLower(rt.Method) + " " + path
		served[key] = true
		if _, ok := doc.Paths[path][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("route %s %s is missing from openapi.json", rt.Method, path)
		}
	}
	// The dashboard's GET / shares its path with the middleware, which the
	// loop above skips.
	served["get /"] = true
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" && !served[method+" "+path] {
				t.Errorf("openapi.json documents %s %s, which is not served", method, path)
			}
		}
	}
	if !json.Valid(api.OpenAPIDocument()) {
		t.Fatal("embedded document is not valid JSON")
	}
}
