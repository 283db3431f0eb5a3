package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// TestManagedAgentGetsSecretsOverMTLS runs the real programs (cloud,
// agent with its key in a swtpm, step-ca, a SCRAM-protected kfake broker):
// the broker password exists only as a cloud secret; the deployed config
// carries ${secret:kafka_pw}; the agent fetches the value over the mTLS
// listener, resolves it in memory and forwards through SCRAM; after a
// restart it opens the copy sealed to its TPM. The value is in no answer,
// log (cloud or agent), audit record, database byte or agent file.
func TestManagedAgentGetsSecretsOverMTLS(t *testing.T) {
	rb := make([]byte, 12)
	_, _ = rand.Read(rb)
	password := "kafka-" + hex.EncodeToString(rb)

	bin := testenv.BuildAgent(t, nil)
	sw := testenv.StartSwTPM(t)
	m := startMTLSCloud(t, sw, 0)
	cloud := m.cloud
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	token := m.enrollmentToken(admin)
	if st := cloud.Call("POST", "/api/v1/secrets", admin, map[string]any{"name": "kafka_pw", "value": password}, nil); st != 201 {
		t.Fatalf("create secret: %d", st)
	}

	// The local file knows no password: until the cloud's config and
	// secret arrive, the broker refuses the agent.
	cfgPath, dir, broker := startDataPathWith(t, testenv.KafkaOpts{SCRAMUser: "adapter", SCRAMPassword: password})
	m.useMTLS(t, cfgPath)
	agent := startManaged(t, bin, cfgPath, cloud, sw.Path, token)
	m.approveOverMTLS(t, agent, admin)
	kafka := map[string]any{"brokers": broker.Addr, "linger": "5ms", "flush_timeout": "2s", "retry_backoff": "500ms",
		"security": map[string]any{"protocol": "sasl_plaintext", "mechanism": "SCRAM-SHA-512", "username": "adapter", "password": "${secret:kafka_pw}"}}
	if st := cloud.Call("PUT", "/api/v1/gateways/gw-test/config", admin, map[string]any{"config": map[string]any{"kafka": kafka}}, nil); st != 200 {
		t.Fatalf("deploy: %d", st)
	}
	var gw map[string]any
	agent.Eventually(t, eventuallyLimit, "config applied", func() bool {
		cloud.Call("GET", "/api/v1/gateways/gw-test", admin, nil, &gw)
		return gw["applied_config_version"] == float64(1)
	})
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 50)

	// Restarted, the agent applies its last-known-good config before it
	// reaches the mTLS listener: the value comes from the sealed copy.
	agent.Stop(t)
	agent = startManaged(t, bin, cfgPath, cloud, sw.Path, token)
	agent.Eventually(t, eventuallyLimit, "the sealed copy used", func() bool {
		return strings.Contains(agent.Log(), "using the sealed copy on disk")
	})
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 50)
	agent.Stop(t)

	var auditAll map[string]any
	var raw bytes.Buffer
	cloud.Call("GET", "/api/v1/audit?limit=500", admin, nil, &auditAll)
	for _, s := range []string{"secret.create", "secret.deliver"} {
		if !strings.Contains(toJSON(t, auditAll), s) {
			t.Fatalf("no %s audit record", s)
		}
	}
	raw.WriteString(toJSON(t, auditAll))
	var list map[string]any
	cloud.Call("GET", "/api/v1/secrets", admin, nil, &list)
	raw.WriteString(toJSON(t, list))
	raw.WriteString(cloud.Log())
	raw.WriteString(agent.Log())
	if bytes.Contains(raw.Bytes(), []byte(password)) {
		t.Fatal("the password is in an API answer, the audit trail or a log")
	}
	for _, root := range []string{dir, cloud.DataDir} {
		if hits := testenv.FilesContaining(t, root, []byte(password), []byte(hex.EncodeToString([]byte(password)))); len(hits) > 0 {
			t.Errorf("files hold the password: %v", hits)
		}
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
