package api_test

import (
	"context"
	"strings"
	"testing"
)

// TestDeployRefusesAConfigTheGatewayWouldRefuse: PUT /gateways/{id}/config
// checks the document as the gateway will (pkg/pipeline.CheckOverlay), so
// a config the gateway would refuse is a 400 naming the field, not a
// signed version that the gateway reports as config_error later. A
// refused config stores nothing, uses no version and leaves no
// config.deploy record (bad input is not audited, as elsewhere); a valid
// partial config still deploys.
func TestDeployRefusesAConfigTheGatewayWouldRefuse(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		gw := e.approvedGateway(admin, "gw-check-1")
		const path = "/api/v1/gateways/gw-check-1/config"
		wantStatus(t, e.do("PUT", path, admin, map[string]any{"config": map[string]any{"buffer": map[string]any{"max_bytes": "64MiB"}}}), 200)
		before := e.do("GET", path, admin, nil)
		wantStatus(t, before, 200)

		kafka := func(extra map[string]any) map[string]any {
			k := map[string]any{"brokers": "127.0.0.1:9092"}
			for n, v := range extra {
				k[n] = v
			}
			return map[string]any{"kafka": k}
		}
		cases := []struct {
			name   string
			config map[string]any
			want   string
		}{
			{"fail-unknown-top-level-key", map[string]any{"log_level": "debug", "rev": 2}, "config: rev: not a setting the control plane may deliver"},
			{"fail-local-setting", map[string]any{"data_dir": "/"}, "config: data_dir: not a setting the control plane may deliver"},
			{"fail-unknown-nested-field", map[string]any{"buffer": map[string]any{"max_bytez": "1MiB"}}, "config: buffer.max_bytez: unknown field"},
			{"fail-wrong-type", kafka(map[string]any{"window": "many"}), `config: kafka.window: "many" is not a whole number`},
			{"fail-wrong-kind", map[string]any{"buffer": []any{1}}, "config: buffer: a list is not"},
			{"fail-invalid-adapter", map[string]any{"adapters": []any{map[string]any{"type": "s7", "name": "x"}}}, "config: adapters[0].type"},
			{"fail-kafka-without-brokers", map[string]any{"kafka": map[string]any{"linger": "5ms"}}, "config: kafka.brokers"},
			{"fail-kafka-literal-password", kafka(map[string]any{"security": map[string]any{"protocol": "sasl_ssl", "username": "u", "password": "hunter2-literal"}}),
				"config: kafka.security.password: must be a ${secret:name} or ${vault:path#key} reference"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.do("PUT", path, admin, map[string]any{"config": c.config})
				wantError(t, r, 400, c.want)
				if strings.Contains(string(r.raw), "hunter2") {
					t.Fatalf("the refusal echoes the password: %s", r.raw)
				}
			})
		}
		if after := e.do("GET", path, admin, nil); string(after.raw) != string(before.raw) {
			t.Fatalf("config after the refusals:\n%s\nbefore:\n%s", after.raw, before.raw)
		}
		recs := e.records(admin, "event_type=config.deploy&resource_id=gw-check-1")
		if len(recs) != 1 || recs[0]["result"] != "success" {
			t.Fatalf("config.deploy records: %v, want only the first deploy's", recs)
		}

		// A partial config keeps the gateway's other local settings; the
		// refusals used no version.
		wantStatus(t, e.do("PUT", path, admin, map[string]any{"config": map[string]any{"log_level": "debug"}}), 200)
		cfg, err := gw.FetchConfig(context.Background())
		if err != nil || cfg == nil || cfg.Version != 2 || string(cfg.Config) != `{"log_level":"debug"}` {
			t.Fatalf("config after a valid partial deploy: %+v %v, want v2", cfg, err)
		}
	})
}
