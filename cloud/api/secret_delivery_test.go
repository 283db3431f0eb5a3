package api_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// TestSecretDeliveryOnlyOverMTLSToTheReferencingGateway runs the real
// chain (swtpm, step-ca, the cloud's mTLS listener): a gateway with its
// step-ca certificate and certificate-bound token gets the values its
// deployed config references, and nothing else: not a secret its config
// does not name, not over the plain listener, not with another gateway's
// path. Each delivery is audited by name.
func TestSecretDeliveryOnlyOverMTLSToTheReferencingGateway(t *testing.T) {
	gw := newSwGateway(t)
	e := newEnv(t, "", "")
	w := newMTLSWorld(t, e, gw.sw.CADir)
	admin := e.login(adminEmail, adminPassword)
	cert := w.approvedCertificate(t, gw, admin, "gw-sec-1")
	mtls := w.client(cert)
	st, body := mtlsCall(t, mtls, "POST", w.base+"/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-sec-1"})
	if st != 200 {
		t.Fatalf("token by certificate: %d %v", st, body)
	}
	tok := body["token"].(string)
	secretsURL := w.base + "/api/v1/gateways/gw-sec-1/secrets"

	kafkaPW, unrelated := secretValue(t, "kafka"), secretValue(t, "unrelated")
	for name, v := range map[string]string{"kafka_pw": kafkaPW, "unrelated": unrelated} {
		wantStatus(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": name, "value": v}), 201)
	}
	// No config deployed yet: nothing to deliver.
	if st, body = mtlsCall(t, mtls, "GET", secretsURL, tok, nil); st != 404 {
		t.Fatalf("before any deploy: %d %v", st, body)
	}
	doc := map[string]any{"kafka": map[string]any{"brokers": "127.0.0.1:9092", "security": map[string]any{
		"protocol": "SASL_PLAINTEXT", "mechanism": "SCRAM-SHA-512", "username": "u", "password": "${secret:kafka_pw}"}},
		"adapters": []any{map[string]any{"type": "opcua", "name": "ua", "servers": []any{map[string]any{
			"name": "s1", "endpoint": "opc.tcp://127.0.0.1:4840", "security_policy": "None", "insecure": true,
			"identity":    map[string]any{"type": "username", "username": "op", "password": "${secret:not_created}"},
			"poll_groups": []any{map[string]any{"name": "p", "interval": "1s"}},
			"nodes":       []any{map[string]any{"name": "n", "node_id": "ns=1;s=x", "poll_group": "p"}}}}}}}
	wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-sec-1/config", admin, map[string]any{"config": doc}), 200)

	st, body = mtlsCall(t, mtls, "GET", secretsURL, tok, nil)
	if st != 200 {
		t.Fatalf("delivery over mTLS: %d %v", st, body)
	}
	got, _ := body["secrets"].(map[string]any)
	if len(got) != 1 || got["kafka_pw"] != kafkaPW || body["config_version"] != float64(1) {
		t.Fatalf("delivered %v (config_version %v), want kafka_pw only", keys(got), body["config_version"])
	}
	if m, _ := body["missing"].([]any); len(m) != 1 || m[0] != "not_created" {
		t.Fatalf("missing = %v", body["missing"])
	}
	// Each value comes with the protection it was bound with (first use).
	if p, _ := body["protection"].(map[string]any)["kafka_pw"].(map[string]any)["kafka"].(map[string]any); p["protocol"] != "sasl_plaintext" ||
		p["mechanism"] != "SCRAM-SHA-512" {
		t.Fatalf("protection = %v", body["protection"])
	}
	// Another gateway's path with this certificate and token.
	if st, _ = mtlsCall(t, mtls, "GET", w.base+"/api/v1/gateways/gw-other/secrets", tok, nil); st != 403 {
		t.Fatalf("another gateway's secrets: %d", st)
	}
	// The certificate alone is not enough: the route wants the token too.
	if st, _ = mtlsCall(t, mtls, "GET", secretsURL, "", nil); st != 401 {
		t.Fatalf("certificate without token: %d", st)
	}
	// The plain listener has no such route, whatever the credential.
	plain := e.do("GET", "/api/v1/gateways/gw-sec-1/secrets", tok, nil)
	wantError(t, plain, 404, "no such route")
	// Audited: the delivery by name, and no value in the trail or logs.
	rec := e.records(admin, "event_type=secret.deliver&resource_id=gw-sec-1")
	if len(rec) != 1 {
		t.Fatalf("secret.deliver records: %v", rec)
	}
	raw, _ := json.Marshal(e.do("GET", "/api/v1/audit", admin, nil).body)
	if !bytes.Contains(raw, []byte("kafka_pw")) {
		t.Fatalf("the delivery record does not name the secret: %s", raw)
	}
	for _, v := range []string{kafkaPW, unrelated} {
		if bytes.Contains(raw, []byte(v)) || bytes.Contains([]byte(e.logs.String()), []byte(v)) {
			t.Fatal("a secret value is in the audit trail or the log")
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
