package api_test

import (
	"testing"

	"github.com/streamforge/streamforge/pkg/secretprot"
)

// kafkaSpec is brokerSpec("broker1:9093") sending ${secret:kafka-pw}
// with protocol and mechanism.
func kafkaSpec(protocol, mechanism string) map[string]any {
	s := brokerSpec("broker1:9093")
	sec := s["kafka"].(map[string]any)["security"].(map[string]any)
	sec["protocol"], sec["mechanism"] = protocol, mechanism
	return s
}

// minProtection is what GET /secrets/{name} shows of a secret's bound
// protection, as people read it (secretprot.Protection.String).
func (e *env) minProtection(admin, name string) string {
	e.t.Helper()
	r := e.do("GET", "/api/v1/secrets/"+name, admin, nil)
	wantStatus(e.t.(*testing.T), r, 200)
	var p secretprot.Protection
	if k, ok := r.body["min_protection"].(map[string]any)["kafka"].(map[string]any); ok {
		p.Kafka = &secretprot.Kafka{Protocol: k["protocol"].(string), Mechanism: k["mechanism"].(string)}
	}
	if o, ok := r.body["min_protection"].(map[string]any)["opcua"].(map[string]any); ok {
		p.OPCUA = &secretprot.OPCUA{Policy: o["security_policy"].(string), Mode: o["security_mode"].(string), Insecure: o["insecure"].(bool)}
	}
	return p.String()
}

// change is the new (or, with old, the old) value of field in an audit
// record's changes.
func change(rec map[string]any, field string, old bool) any {
	c, _ := rec["changes"].(map[string]any)[field].(map[string]any)
	return c[map[bool]string{true: "old", false: "new"}[old]]
}

// TestEngineerCannotWeakenABoundSecretsProtection is the downgrade: the
// same brokers, but an Engineer's edit (or an approved Copilot proposal)
// turns kafka.security from sasl_ssl to sasl_plaintext, or SCRAM to
// PLAIN, so that the Admin's next deploy sends the password in clear over
// the plant network. The first deploy binds the protection it used (trust
// on first use, in the same secret.bind as the destinations); stronger is
// fine; weaker is refused with 409 like a foreign broker (nothing written,
// denied config.deploy and pipeline.deploy, rollout refused before it is
// stored, config PUT refused) until an Admin lowers the secret's
// min_protection, audited.
func TestEngineerCannotWeakenABoundSecretsProtection(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e, admin, eng := newSecretEnv(t, dbURL)
		if p := e.minProtection(admin, "kafka-pw"); p != "none bound" {
			t.Fatalf("a new secret's protection: %s", p)
		}

		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "line", "spec": kafkaSpec("SASL_SSL", "scram-sha-256")}), 201)
		deploy := func(version int) resp {
			return e.do("POST", "/api/v1/pipelines/line/deploy", admin, map[string]any{"version": version, "gateways": []string{"gw-1"}})
		}
		wantStatus(t, deploy(1), 200)
		if p := e.minProtection(admin, "kafka-pw"); p != "sasl_ssl SCRAM-SHA-256" {
			t.Fatalf("bound to %s after the first deploy", p)
		}
		recs := e.records(admin, "event_type=secret.bind&resource_id=kafka-pw")
		if len(recs) != 1 || change(recs[0], "min_protection", false) != "sasl_ssl SCRAM-SHA-256" || change(recs[0], "destinations", false) == nil {
			t.Fatalf("secret.bind records: %v", recs)
		}

		// Stronger is fine, and binds nothing new.
		edit := func(base int, s map[string]any) {
			t.Helper()
			wantStatus(t, e.do("PUT", "/api/v1/pipelines/line", eng, map[string]any{"base_version": base, "spec": s}), 200)
		}
		edit(1, kafkaSpec("sasl_ssl", "SCRAM-SHA-512"))
		wantStatus(t, deploy(2), 200)
		if p := e.minProtection(admin, "kafka-pw"); p != "sasl_ssl SCRAM-SHA-256" {
			t.Fatalf("a stronger deploy changed the binding to %s", p)
		}

		// The downgrade: in clear, and by PLAIN over TLS.
		edit(2, kafkaSpec("sasl_plaintext", "SCRAM-SHA-512"))
		want := "secret kafka-pw must be sent with sasl_ssl SCRAM-SHA-256 or stronger; kafka.security asks for sasl_plaintext SCRAM-SHA-512"
		wantError(t, deploy(3), 409, want)
		edit(3, kafkaSpec("sasl_ssl", "PLAIN"))
		wantError(t, deploy(4), 409, "kafka.security asks for sasl_ssl PLAIN (kafka.security.password references it)")
		if v := e.deployedVersion(admin, "gw-1"); v != 2 {
			t.Fatalf("gw-1 runs config v%v after the refused deploys, want 2", v)
		}
		d := denied(e.records(admin, "event_type=config.deploy&resource_id=gw-1"))
		if len(d) != 2 || change(d[0], "bound", false) != "sasl_ssl SCRAM-SHA-256" || change(d[0], "protection_field", false) != "kafka.security" {
			t.Fatalf("denied config.deploy records: %v", d)
		}
		if d := denied(e.records(admin, "event_type=pipeline.deploy&resource_id=line")); len(d) != 2 {
			t.Fatalf("denied pipeline.deploy records: %v", d)
		}
		wantError(t, e.do("POST", "/api/v1/pipelines/line/rollouts", admin, map[string]any{"gateways": []string{"gw-1"}}), 409, "asks for sasl_ssl PLAIN")
		if r := e.do("GET", "/api/v1/pipelines/line/rollouts", admin, nil); len(r.body["rollouts"].([]any)) != 0 {
			t.Fatalf("a refused rollout was stored: %s", r.raw)
		}
		wantError(t, e.do("PUT", "/api/v1/gateways/gw-1/config", admin, map[string]any{"config": kafkaSpec("sasl_plaintext", "PLAIN")}), 409,
			"kafka.security asks for sasl_plaintext PLAIN")

		// An approved Copilot proposal is a pipeline version like any other.
		cp := e.copilotToken(admin, "copilot")
		r := e.do("POST", "/api/v1/proposals", cp, map[string]any{"pipeline_id": "line", "rationale": "fewer handshakes", "spec": kafkaSpec("sasl_plaintext", "PLAIN")})
		wantStatus(t, r, 201)
		wantStatus(t, e.do("POST", "/api/v1/proposals/"+ftoa(r.body["id"].(float64))+"/approve", eng, nil), 200)
		wantError(t, deploy(5), 409, "kafka.security asks for sasl_plaintext PLAIN")
		if v := e.deployedVersion(admin, "gw-1"); v != 2 {
			t.Fatalf("gw-1 runs config v%v after the refused proposal deploy, want 2", v)
		}

		// Only an Admin lowers it, deliberately and audited; the value stays.
		lower := map[string]any{"min_protection": map[string]any{"kafka": map[string]any{"protocol": "sasl_ssl", "mechanism": "PLAIN"}}}
		wantError(t, e.do("PUT", "/api/v1/secrets/kafka-pw", eng, lower), 403, "secrets:manage")
		wantError(t, e.do("PUT", "/api/v1/secrets/kafka-pw", admin, map[string]any{"min_protection": map[string]any{
			"kafka": map[string]any{"protocol": "sasl_ssl", "mechanism": "MD5"}}}), 400, "min_protection.kafka.mechanism")
		m := e.do("PUT", "/api/v1/secrets/kafka-pw", admin, lower)
		if wantStatus(t, m, 200); m.body["version"] != float64(1) {
			t.Fatalf("lowering the protection changed the value's version: %s", m.raw)
		}
		upd := e.records(admin, "event_type=secret.update&resource_id=kafka-pw")
		if len(upd) != 1 || upd[0]["user"] != adminEmail || change(upd[0], "min_protection", true) != "sasl_ssl SCRAM-SHA-256" ||
			change(upd[0], "min_protection", false) != "sasl_ssl PLAIN" {
			t.Fatalf("secret.update records: %v", upd)
		}
		wantStatus(t, deploy(4), 200)
		wantError(t, deploy(3), 409, "asks for sasl_plaintext SCRAM-SHA-512")
		if v := e.deployedVersion(admin, "gw-1"); v != 3 {
			t.Fatalf("gw-1 runs config v%v after the deploy the Admin allowed, want 3", v)
		}

		// The gateway is told the least protection each value may go with.
		if p := e.delivery("gw-1").Protection["kafka-pw"]; p.String() != "sasl_ssl PLAIN" {
			t.Fatalf("delivery protection %s", p)
		}
	})
}

// opcuaSpec is a config (one a gateway accepts) whose OPC UA server logs
// in with ${secret:plc-pw} over policy/mode, its certificate checked
// against a trust list unless insecure.
func opcuaSpec(policy, mode string, insecure bool) map[string]any {
	srv := map[string]any{"name": "plc", "endpoint": "opc.tcp://plc:4840", "security_policy": policy, "security_mode": mode, "insecure": insecure,
		"identity":    map[string]any{"type": "username", "username": "op", "password": "${secret:plc-pw}"},
		"poll_groups": []any{map[string]any{"name": "p", "interval": "1s"}},
		"nodes":       []any{map[string]any{"name": "n", "node_id": "ns=1;s=x", "poll_group": "p"}}}
	if !insecure {
		srv["trust"] = []any{"/etc/streamforge/plc.pem"}
	}
	return map[string]any{"adapters": []any{map[string]any{"type": "opcua", "name": "ua", "servers": []any{srv}}}}
}

// TestOPCUAPasswordKeepsItsSecureChannel: an OPC UA identity password
// bound with Basic256Sha256/SignAndEncrypt is refused for security None
// (gopcua then sends the user token in clear, or encrypted for a server
// certificate nobody checked), for Sign only and for an unchecked server
// certificate; an Admin may create the secret with its protection.
func TestOPCUAPasswordKeepsItsSecureChannel(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	e.approvedGateway(admin, "gw-1")
	wantStatus(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "plc-pw", "value": "v",
		"min_protection": map[string]any{"opcua": map[string]any{"security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt"}}}), 201)
	if recs := e.records(admin, "event_type=secret.create&resource_id=plc-pw"); len(recs) != 1 ||
		change(recs[0], "min_protection", false) != "Basic256Sha256/SignAndEncrypt, server checked" {
		t.Fatalf("secret.create records: %v", recs)
	}
	put := func(s map[string]any) resp {
		return e.do("PUT", "/api/v1/gateways/gw-1/config", admin, map[string]any{"config": s})
	}
	for _, c := range []struct {
		policy, mode string
		insecure     bool
	}{{"None", "None", true}, {"Basic256Sha256", "Sign", false}, {"Basic256Sha256", "SignAndEncrypt", true}, {"", "", true}} {
		wantError(t, put(opcuaSpec(c.policy, c.mode, c.insecure)), 409,
			"secret plc-pw must be sent with Basic256Sha256/SignAndEncrypt, server checked or stronger; adapters[0].servers[0] asks for")
	}
	if v := e.deployedVersion(admin, "gw-1"); v != 0 {
		t.Fatalf("gw-1 has config v%v after refused writes", v)
	}
	wantStatus(t, put(opcuaSpec("Basic256Sha256", "SignAndEncrypt", false)), 200)
	if recs := e.records(admin, "event_type=secret.bind&resource_id=plc-pw"); len(recs) != 1 || change(recs[0], "min_protection", false) != nil {
		t.Fatalf("secret.bind records (the destination only): %v", recs)
	}
}
