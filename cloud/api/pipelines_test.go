package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/pkg/wire"
)

// spec is a pipeline document: one Modbus device, SASL to the broker with
// its password as a reference.
func spec(interval string) map[string]any {
	return map[string]any{
		"kafka": map[string]any{"brokers": "127.0.0.1:9092",
			"security": map[string]any{"protocol": "sasl_ssl", "username": "agent", "password": "${secret:kafka-pw}"}},
		"adapters": []any{map[string]any{"type": "modbus", "name": "line1", "devices": []any{map[string]any{
			"name": "plc1", "tcp": "127.0.0.1:5020",
			"poll_groups": []any{map[string]any{"name": "fast", "interval": interval}},
			"tags":        []any{map[string]any{"name": "t", "register": "holding_register", "address": 0, "type": "float32", "poll_group": "fast"}},
		}}}},
	}
}

// TestPipelineVersionsDiffAndAudit: an Engineer creates and edits a
// pipeline; every save is a version, a stale save is refused, any two
// versions diff field by field, and each change is audited with its old
// and new values (secret fields redacted, approved_by present).
func TestPipelineVersionsDiffAndAudit(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		eng := e.user("eng@example.com", []string{rbac.Engineer})
		admin := e.login(adminEmail, adminPassword)

		r := e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "offshore_well_12", "description": "well 12", "spec": spec("1s")})
		wantStatus(t, r, 201)
		if r.body["version"].(float64) != 1 {
			t.Fatalf("create: %s", r.raw)
		}
		wantError(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "offshore_well_12", "spec": spec("1s")}), 409, "exists")

		next := spec("500ms")
		next["kafka"].(map[string]any)["security"].(map[string]any)["password"] = "${secret:kafka-pw-2}"
		r = e.do("PUT", "/api/v1/pipelines/offshore_well_12", eng, map[string]any{"base_version": 1, "spec": next, "description": "well 12, faster"})
		wantStatus(t, r, 200)
		if r.body["version"].(float64) != 2 || r.body["description"] != "well 12, faster" {
			t.Fatalf("update: %s", r.raw)
		}
		wantError(t, e.do("PUT", "/api/v1/pipelines/offshore_well_12", eng, map[string]any{"base_version": 1, "spec": spec("2s")}), 409, "newer version")
		yamlSpec := "kafka: {brokers: \"127.0.0.1:9092\"}\nlog_level: debug\n"
		r = e.do("PUT", "/api/v1/pipelines/offshore_well_12", eng, map[string]any{"base_version": 2, "spec_yaml": yamlSpec})
		if r.status != 200 || r.body["description"] != "well 12, faster" {
			t.Fatalf("update without a description: %d %s", r.status, r.raw)
		}

		vs := e.do("GET", "/api/v1/pipelines/offshore_well_12/versions", eng, nil)
		if got := vs.body["versions"].([]any); len(got) != 3 || got[0].(map[string]any)["version"].(float64) != 3 {
			t.Fatalf("versions: %s", vs.raw)
		}
		v3 := e.do("GET", "/api/v1/pipelines/offshore_well_12/versions/3", eng, nil)
		if s, _ := json.Marshal(v3.body["spec"]); string(s) != `{"kafka":{"brokers":"127.0.0.1:9092"},"log_level":"debug"}` {
			t.Fatalf("YAML version stored as %s", s)
		}

		d := e.do("GET", "/api/v1/pipelines/offshore_well_12/diff?from=1&to=2", eng, nil)
		wantStatus(t, d, 200)
		changes := map[string]map[string]any{}
		for _, c := range d.body["changes"].([]any) {
			m := c.(map[string]any)
			changes[m["path"].(string)] = m
		}
		if len(changes) != 2 || changes["adapters[0].devices[0].poll_groups[0].interval"]["old"] != "1s" ||
			changes["adapters[0].devices[0].poll_groups[0].interval"]["new"] != "500ms" ||
			changes["kafka.security.password"]["new"] != "${secret:kafka-pw-2}" {
			t.Fatalf("diff 1..2: %s", d.raw)
		}
		wantError(t, e.do("GET", "/api/v1/pipelines/offshore_well_12/diff?from=1&to=9", eng, nil), 404, "no such pipeline version")
		wantError(t, e.do("GET", "/api/v1/pipelines/offshore_well_12/diff?from=x&to=2", eng, nil), 400, "from:")

		a := e.do("GET", "/api/v1/audit?event_type=pipeline.update&resource_id=offshore_well_12", admin, nil)
		recs := a.body["records"].([]any)
		if len(recs) != 2 {
			t.Fatalf("want 2 pipeline.update records: %s", a.raw)
		}
		rec := recs[len(recs)-1].(map[string]any)
		if rec["user"] != "eng@example.com" || rec["action"] != "update" {
			t.Fatalf("first update record: %v", rec)
		}
		for _, rr := range recs {
			if _, ok := rr.(map[string]any)["approved_by"]; !ok {
				t.Fatalf("record without approved_by: %v", rr)
			}
		}
		ch := rec["changes"].(map[string]any)
		iv := ch["adapters[0].devices[0].poll_groups[0].interval"].(map[string]any)
		pw := ch["kafka.security.password"].(map[string]any)
		ver := ch["version"].(map[string]any)
		desc := ch["description"].(map[string]any)
		if iv["old"] != "1s" || iv["new"] != "500ms" || pw["old"] != "[redacted]" || pw["new"] != "[redacted]" ||
			ver["old"].(float64) != 1 || ver["new"].(float64) != 2 || desc["old"] != "well 12" || desc["new"] != "well 12, faster" {
			t.Fatalf("update record changes: %v", ch)
		}
		if strings.Contains(string(a.raw), "kafka-pw") {
			t.Fatalf("audit shows a secret field's value: %s", a.raw)
		}

		wantError(t, e.do("DELETE", "/api/v1/pipelines/offshore_well_12", eng, nil), 403, "Missing permission: pipelines:delete")
		wantStatus(t, e.do("DELETE", "/api/v1/pipelines/offshore_well_12", admin, nil), 204)
		wantError(t, e.do("GET", "/api/v1/pipelines/offshore_well_12", eng, nil), 404, "no such pipeline")
		wantError(t, e.do("GET", "/api/v1/pipelines/offshore_well_12/versions", eng, nil), 404, "no such pipeline")
	})
}

// Every way a pipeline can be bad is a row: 400 with a message naming the
// field path in the request, and nothing stored.
func TestBadPipelinesNameTheField(t *testing.T) {
	e := newEnv(t, "", "")
	eng := e.user("eng@example.com", []string{rbac.Engineer})
	literal := spec("1s")
	literal["kafka"].(map[string]any)["security"].(map[string]any)["password"] = "hunter2"
	badAddr := spec("1s")
	badAddr["adapters"].([]any)[0].(map[string]any)["devices"].([]any)[0].(map[string]any)["tags"].([]any)[0].(map[string]any)["address"] = 70000
	unknown := spec("1s")
	unknown["gateway_id"] = "gw-1"
	for _, c := range []struct {
		name string
		body any
		want string
	}{
		{"fail-literal-password", map[string]any{"id": "p1", "spec": literal}, "spec.kafka.security.password: must be a ${secret:name} or ${vault:path#key} reference"},
		{"fail-tag-address", map[string]any{"id": "p1", "spec": badAddr}, "spec.adapters[0].devices[0].tags[0].address"},
		{"fail-local-setting", map[string]any{"id": "p1", "spec": unknown}, "spec.gateway_id: unknown field"},
		{"fail-no-spec", map[string]any{"id": "p1"}, "spec: required"},
		{"fail-spec-not-object", map[string]any{"id": "p1", "spec": []int{1}}, "spec: must be a JSON object"},
		{"fail-both", map[string]any{"id": "p1", "spec": spec("1s"), "spec_yaml": "kafka: {}"}, "not both"},
		{"fail-yaml-line", map[string]any{"id": "p1", "spec_yaml": "kafka:\n  brokers: \"k:1\"\n  window: -1\n"}, "spec.kafka.window: -1 is not positive"},
		{"fail-yaml-syntax", map[string]any{"id": "p1", "spec_yaml": "kafka: [\n"}, "spec_yaml: not YAML"},
		{"fail-yaml-duplicate-key", map[string]any{"id": "p1", "spec_yaml": "kafka: {brokers: \"k:1\"}\nkafka: {brokers: \"k:2\"}\n"}, `mapping key "kafka" already defined`},
		{"fail-id", map[string]any{"id": "a/b", "spec": spec("1s")}, "id: 1-128"},
		{"fail-unknown-body-field", map[string]any{"id": "p1", "spec": spec("1s"), "colour": 1}, "colour"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/api/v1/pipelines", eng, c.body), 400, c.want)
			if c.name != "fail-id" && c.name != "fail-unknown-body-field" {
				body := c.body.(map[string]any)
				delete(body, "id")
				wantError(t, e.do("POST", "/api/v1/pipelines/validate", eng, body), 400, c.want)
			}
		})
	}
	wantError(t, e.do("GET", "/api/v1/pipelines/p1", eng, nil), 404, "no such pipeline")
	ok := e.do("POST", "/api/v1/pipelines/validate", eng, map[string]any{"spec": spec("1s")})
	if ok.status != 200 || ok.body["valid"] != true {
		t.Fatalf("validate a good spec: %d %s", ok.status, ok.raw)
	}
}

// TestDeployPipelineWritesSignedBundles: deploying a version writes each
// target's config through the signed-bundle path; a gateway that does not
// exist is reported per target; the gateway's heartbeat marks it applied.
func TestDeployPipelineWritesSignedBundles(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		ctx := context.Background()
		admin := e.login(adminEmail, adminPassword)
		eng := e.user("eng@example.com", []string{rbac.Engineer}, "*") // deployments and rollouts show gateways within it
		_, value := e.enrollmentToken(admin, 1, "North")
		gw := e.gateway("gw-north-1")
		if _, err := gw.Enroll(ctx, value, "edge", nil); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-north-1/approve", admin, nil), 200)
		tok, err := gw.ObtainToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "north", "spec": spec("1s")}), 201)
		wantStatus(t, e.do("PUT", "/api/v1/pipelines/north", eng, map[string]any{"spec": spec("2s")}), 200)

		wantError(t, e.do("POST", "/api/v1/pipelines/north/deploy", eng, map[string]any{"site": "North"}), 403, "Missing permission: configs:deploy")
		wantError(t, e.do("POST", "/api/v1/pipelines/north/deploy", admin, map[string]any{}), 400, "gateways:")
		wantError(t, e.do("POST", "/api/v1/pipelines/north/deploy", admin, map[string]any{"site": "Nowhere"}), 400, "site: has no approved gateways within your gateway access")

		r := e.do("POST", "/api/v1/pipelines/north/deploy", admin, map[string]any{"version": 1, "site": "North", "gateways": []string{"gw-ghost"}})
		wantStatus(t, r, 200)
		res := map[string]map[string]any{}
		for _, x := range r.body["results"].([]any) {
			m := x.(map[string]any)
			res[m["gateway_id"].(string)] = m
		}
		if res["gw-north-1"]["config_version"].(float64) != 1 || res["gw-ghost"]["error"] != "gateway not found" {
			t.Fatalf("deploy results: %s", r.raw)
		}

		cfg, err := gw.FetchConfig(ctx)
		if err != nil || cfg == nil || cfg.Bundle == nil {
			t.Fatalf("config after deploy: %+v %v", cfg, err)
		}
		p, err := wire.VerifyBundle(*cfg.Bundle, tok.ConfigKeys[0].PublicKey)
		if err != nil || p.Version != 1 || !strings.Contains(string(p.Config), `"interval":"1s"`) {
			t.Fatalf("bundle: %+v %v", p, err)
		}

		st := func() string {
			d := e.do("GET", "/api/v1/pipelines/north/deployments", eng, nil)
			for _, x := range d.body["deployments"].([]any) {
				if m := x.(map[string]any); m["gateway_id"] == "gw-north-1" {
					return m["status"].(string)
				}
			}
			return "missing: " + string(d.raw)
		}
		if s := st(); s != "pending" {
			t.Fatalf("before the heartbeat: %s", s)
		}
		if err := gw.Heartbeat(ctx, wire.Heartbeat{Status: "ok", ConfigVersion: 1}); err != nil {
			t.Fatal(err)
		}
		if s := st(); s != "applied" {
			t.Fatalf("after the heartbeat: %s", s)
		}
		a := e.do("GET", "/api/v1/audit?event_type=pipeline.deploy&resource_id=north", admin, nil)
		if recs := a.body["records"].([]any); len(recs) != 1 || recs[0].(map[string]any)["result"] != "failure" {
			t.Fatalf("deploy audit (one gateway not written): %s", a.raw)
		}

		// v2 goes out; the gateway refuses it and says why.
		r = e.do("POST", "/api/v1/pipelines/north/deploy", admin, map[string]any{"gateways": []string{"gw-north-1"}})
		if res := r.body["results"].([]any); r.body["version"].(float64) != 2 || res[0].(map[string]any)["config_version"].(float64) != 2 {
			t.Fatalf("deploy of the newest version: %s", r.raw)
		}
		if err := gw.Heartbeat(ctx, wire.Heartbeat{Status: "ok", ConfigVersion: 1, ConfigError: "refused: adapters[0]: trust file missing"}); err != nil {
			t.Fatal(err)
		}
		if s := st(); s != "failed" {
			t.Fatalf("after a refusal: %s", s)
		}

		// An Admin confined to another site neither writes to nor learns
		// the gateways of this one.
		south := e.user("south@example.com", []string{rbac.Admin}, "South")
		wantError(t, e.do("POST", "/api/v1/pipelines/north/deploy", south, map[string]any{"site": "North"}), 400, "within your gateway access")
		r = e.do("POST", "/api/v1/pipelines/north/deploy", south, map[string]any{"gateways": []string{"gw-north-1"}})
		if res := r.body["results"].([]any); r.status != 200 || res[0].(map[string]any)["error"] != "gateway not found" {
			t.Fatalf("confined admin's deploy: %s", r.raw)
		}
		if cfg, err := gw.FetchConfig(ctx); err != nil || cfg == nil || cfg.Version != 2 {
			t.Fatalf("the gateway's config changed under a confined admin: %+v %v", cfg, err)
		}
	})
}

// TestConcurrentSavesOfOneVersion: five editors save over version 1 at
// once; exactly one becomes version 2, the others are told to reload.
func TestConcurrentSavesOfOneVersion(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		eng := e.user("eng@example.com", []string{rbac.Engineer})
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "race", "spec": spec("1s")}), 201)
		statuses := make(chan int, 5)
		for i := range 5 {
			go func() {
				statuses <- e.do("PUT", "/api/v1/pipelines/race", eng, map[string]any{"base_version": 1, "spec": spec(fmt.Sprintf("%ds", i+2))}).status
			}()
		}
		count := map[int]int{}
		for range 5 {
			count[<-statuses]++
		}
		if count[200] != 1 || count[409] != 4 {
			t.Fatalf("answers %v, want one 200 and four 409", count)
		}
		vs := e.do("GET", "/api/v1/pipelines/race/versions", eng, nil)
		if n := len(vs.body["versions"].([]any)); n != 2 {
			t.Fatalf("%d versions: %s", n, vs.raw)
		}
	})
}
