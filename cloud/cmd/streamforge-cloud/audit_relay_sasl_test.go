package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/auditrelay"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/kafkasec"
	"github.com/streamforge/streamforge/pkg/secret"
)

// TestAuditRelayOverSASLSSLWithSCRAMAndMutualTLS: the cloud relays its
// audit trail to real Apache Kafka that takes clients only over TLS, with
// a client certificate and a SCRAM-SHA-512 login. A broker certificate the
// configured CA did not sign, and then a wrong password, each deliver
// nothing: the relay's error metric moves, a warning names the refusal,
// and the records stay in the outbox. Once the password file is fixed and
// the cloud restarted, every record arrives, and `audit verify --kafka`,
// with the same settings, reads the topic back and agrees. The password,
// right or wrong, is in no log line, no /metrics and no command output.
func TestAuditRelayOverSASLSSLWithSCRAMAndMutualTLS(t *testing.T) {
	const user, password, wrong = "audit-relay", "Scram-Pa55-word-42", "Wrong-Pa55-word-17"
	pki, other := testenv.WritePKI(t), testenv.WritePKI(t)
	broker := testenv.StartKafka(t, testenv.KafkaOpts{SCRAMUser: user, SCRAMPassword: password,
		TLSCert: pki.CertFile, TLSKey: pki.KeyFile, TLSClientCA: pki.CAFile})
	dir := t.TempDir()
	caFile, pwFile := filepath.Join(dir, "kafka-ca.pem"), filepath.Join(dir, "kafka-password")
	put := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile := func(dst, src string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		put(dst, string(b))
	}
	kafkaEnv := []string{"STREAMFORGE_AUDIT_KAFKA_BROKERS=" + broker.Addr,
		"STREAMFORGE_AUDIT_KAFKA_SECURITY_PROTOCOL=sasl_ssl", "STREAMFORGE_AUDIT_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"STREAMFORGE_AUDIT_KAFKA_USERNAME=" + user, "STREAMFORGE_AUDIT_KAFKA_PASSWORD_FILE=" + pwFile,
		"STREAMFORGE_AUDIT_KAFKA_CA_FILE=" + caFile,
		"STREAMFORGE_AUDIT_KAFKA_CERT_FILE=" + pki.ClientCert, "STREAMFORGE_AUDIT_KAFKA_KEY_FILE=" + pki.ClientKey}
	var output []string // every log and output, searched for the password at the end

	// stuck checks a cloud that cannot relay: the refusal is counted and
	// logged, nothing is relayed, and the outbox keeps every record.
	stuck := func(c *testenv.Cloud, what, logged string) {
		t.Helper()
		c.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword) // one more audit record
		testenv.Eventually(t, 30*time.Second, "the relay error metric after "+what, func() bool {
			return scrape(t, c.Addr)["streamforge_audit_relay_errors_total"] >= 1
		})
		m := scrape(t, c.Addr)
		if m["streamforge_audit_relay_records_total"] != 0 || m["streamforge_audit_outbox_records"] < 2 {
			t.Fatalf("%s: relayed %v, outbox %v; want nothing relayed and the records kept", what,
				m["streamforge_audit_relay_records_total"], m["streamforge_audit_outbox_records"])
		}
		output = append(output, metricsText(t, c.Addr))
		c.Stop()
		output = append(output, c.Log())
		if !strings.Contains(c.Log(), logged) {
			t.Fatalf("%s: no warning %q in the log:\n%s", what, logged, c.Log())
		}
	}

	// A CA that did not sign the broker's certificate: the handshake fails.
	copyFile(caFile, other.CAFile)
	put(pwFile, password+"\n")
	cloud := testenv.StartCloud(t, append(kafkaEnv, "STREAMFORGE_AUDIT_RELAY_INTERVAL=100ms", "STREAMFORGE_AUDIT_CHECKPOINT_INTERVAL=200ms")...)
	stuck(cloud, "an untrusted broker certificate", "the broker refused the login or the TLS handshake")

	// The right CA, a wrong password: the broker refuses the login.
	copyFile(caFile, pki.CAFile)
	put(pwFile, wrong+"\n")
	cloud.Start()
	stuck(cloud, "a wrong password", "SASL authentication")

	// Fixed and restarted: the outbox drains into the topic.
	put(pwFile, password+"\n")
	cloud.Start()
	token := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	testenv.Eventually(t, 60*time.Second, "the outbox to drain", func() bool {
		m := scrape(t, cloud.Addr)
		return m["streamforge_audit_outbox_records"] == 0 && m["streamforge_audit_relay_records_total"] > 0
	})
	var page struct {
		Records []struct{ Seq int64 } `json:"records"`
	}
	if st := cloud.Call("GET", "/api/v1/audit?limit=1", token, nil, &page); st != 200 || len(page.Records) != 1 {
		t.Fatalf("newest audit record: %d %+v", st, page)
	}
	head := page.Records[0].Seq
	sec := kafkasec.Config{Protocol: "sasl_ssl", Username: user, Password: secret.New(password), CAFile: pki.CAFile,
		CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	trail, err := auditrelay.ReadTopicTimeout(context.Background(), auditrelay.Config{Brokers: broker.Addr, Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, r := range trail.Records {
		seen[r.Seq] = true
	}
	for seq := int64(1); seq <= head; seq++ {
		if !seen[seq] {
			t.Fatalf("record %d of %d is not in the topic", seq, head)
		}
	}

	cmd := exec.Command(testenv.CloudBinary(t), "audit", "verify", "--kafka")
	cmd.Env = append(append(os.Environ(), "STREAMFORGE_DATA_DIR="+cloud.DataDir), kafkaEnv...)
	out, err := cmd.CombinedOutput()
	output = append(output, string(out), metricsText(t, cloud.Addr))
	if err != nil || !strings.Contains(string(out), `"topic_head"`) || strings.Contains(string(out), `"ok": false`) {
		t.Fatalf("audit verify --kafka: %v\n%s", err, out)
	}
	cloud.Stop()
	output = append(output, cloud.Log())
	for _, s := range output {
		if strings.Contains(s, password) || strings.Contains(s, wrong) {
			t.Fatalf("a password in the cloud's output:\n%s", s)
		}
	}
	t.Logf("%d records relayed over SASL_SSL after the fix; %d messages of records in the topic", head, len(trail.Records))
}
