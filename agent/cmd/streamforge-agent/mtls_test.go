package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestAgentMutualTLSToKafka: the agent binary, its Modbus and OPC UA
// simulators and Apache Kafka that takes clients only over TLS with a
// certificate its CA signed (ssl.client.auth=required). Without
// kafka.security.cert_file and key_file the broker refuses the handshake:
// nothing is acknowledged, the refusal counts in
// streamforge_forward_auth_failures_total and the readings stay in the
// buffer. Restarted with the gateway's certificate, the agent drains that
// backlog into the topic. The key never shows in the agent's log.
func TestAgentMutualTLSToKafka(t *testing.T) {
	bin := testenv.BuildAgent(t, nil)
	pki := testenv.WritePKI(t)
	broker := testenv.StartKafka(t, testenv.KafkaOpts{TLSCert: pki.CertFile, TLSKey: pki.KeyFile, TLSClientCA: pki.CAFile})
	cfgPath, _, kfake := startDataPath(t)
	kfake.Stop() // the data path's broker here is Apache Kafka
	plain, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	useKafka := func(security string) {
		t.Helper()
		cfg := strings.Replace(string(plain), fmt.Sprintf("brokers: %q", kfake.Addr),
			fmt.Sprintf("brokers: %q, security: {protocol: ssl, ca_file: %q%s}", broker.Addr, pki.CAFile, security), 1)
		if cfg == string(plain) {
			t.Fatal("no kafka.brokers to replace in the test's agent.yaml")
		}
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	useKafka("")
	agent := startAgent(t, bin, cfgPath)
	waitMetric(t, agent, "streamforge_forward_auth_failures_total", 1)
	waitMetric(t, agent, "streamforge_buffer_records", 100)
	if n := agent.Metric("streamforge_forward_acked_records_total"); n > 0 {
		t.Fatalf("%v records acknowledged without a client certificate", n)
	}
	backlog := agent.Metric("streamforge_buffer_records") // at least this many stay buffered over the stop
	agent.Stop(t)
	logs := agent.Log()

	useKafka(fmt.Sprintf(", cert_file: %q, key_file: %q", pki.ClientCert, pki.ClientKey))
	agent = startAgent(t, bin, cfgPath)
	waitMetric(t, agent, "streamforge_forward_acked_records_total", backlog)
	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: broker.Addr, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey},
		"telemetry.raw", time.Minute, func(r []kafkatest.Record) bool { return len(r) >= int(backlog) })
	if err != nil || len(recs) < int(backlog) {
		t.Fatalf("read back %d of %v records: %v", len(recs), backlog, err)
	}
	agent.Stop(t)

	key, err := os.ReadFile(pki.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(key)), "\n")[1:2] { // the key's first line of base64
		if strings.Contains(logs+agent.Log(), line) {
			t.Fatal("the client key in the agent's log")
		}
	}
	t.Logf("backlog of %v readings kept while the broker refused the handshake, delivered with the certificate", backlog)
}
