package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
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
	pkiDir := t.TempDir()
	ca, err := attestca.Init(filepath.Join(pkiDir, "attestation-ca"))
	if err != nil {
		t.Fatal(err)
	}
	gwAddr, caAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	layout, err := stepca.Init(stepca.InitOptions{Dir: filepath.Join(pkiDir, "step-ca"), Address: caAddr,
		DNSNames: []string{"127.0.0.1"}, AttestationRootsPEM: ca.CertificatePEM(),
		WebhookURL: "https://" + gwAddr + "/internal/step-ca/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	cloud := testenv.StartCloud(t, "STREAMFORGE_TPM_ROOTS_DIR="+sw.CADir, "STREAMFORGE_ATTESTATION_CA_DIR="+filepath.Join(pkiDir, "attestation-ca"),
		"STREAMFORGE_GATEWAY_LISTEN="+gwAddr, "STREAMFORGE_STEPCA_DIR="+filepath.Join(pkiDir, "step-ca"))
	testenv.StartStepCA(t, layout.Config, caAddr, layout.RootCert)
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok)
	if st := cloud.Call("POST", "/api/v1/secrets", admin, map[string]any{"name": "kafka_pw", "value": password}, nil); st != 201 {
		t.Fatalf("create secret: %d", st)
	}

	// The local file knows no password: until the cloud's config and
	// secret arrive, the broker refuses the agent.
	cfgPath, dir, broker := startDataPathWith(t, testenv.KafkaOpts{SCRAMUser: "adapter", SCRAMPassword: password})
	if err := appendFile(cfgPath, "control_plane:\n  poll_interval: 200ms\n  heartbeat_interval: 200ms\n  mtls:\n"+
		"    gateway_url: https://"+gwAddr+"\n    acme_directory: "+layout.ACMEDirectory+"\n    stepca_root: "+layout.RootCert+"\n"); err != nil {
		t.Fatal(err)
	}
	agent := startManaged(t, bin, cfgPath, cloud, sw.Path, tok.Token)
	agent.Eventually(t, eventuallyLimit, "enrollment", func() bool { return enrolled(agent) })
	if st := cloud.Call("POST", "/api/v1/gateways/gw-test/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	agent.Eventually(t, eventuallyLimit, "the switch to mTLS", func() bool { return strings.Contains(agent.Log(), "talking to the control plane over mTLS") })
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
	agent = startManaged(t, bin, cfgPath, cloud, sw.Path, tok.Token)
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
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(password)) || bytes.Contains(b, []byte(hex.EncodeToString([]byte(password)))) {
				t.Errorf("%s holds the password", p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
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
