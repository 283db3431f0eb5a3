package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/pkg/pipeline"
)

// The control plane checks a pipeline with pipeline.Parse; the agent takes
// the same document through Merge and Parse. Every row is a document both
// must accept, or both must refuse naming the same field path: the cloud
// can never accept what the agent refuses. Secrets the documents reference
// are defined on this "gateway", since only a gateway can know its own.
func TestCloudAndAgentAgreeOnPipelines(t *testing.T) {
	t.Setenv("STREAMFORGE_SECRET_KAFKA_PW", "pw")
	t.Setenv("STREAMFORGE_SECRET_UA_PW", "pw")
	const kafka = `"kafka": {"brokers": "127.0.0.1:9092"}`
	modbusTag := func(tag string) string {
		return kafka + `, "adapters": [{"type": "modbus", "name": "line1", "devices": [{"name": "plc1", "tcp": "127.0.0.1:5020",
		  "poll_groups": [{"name": "fast", "interval": "1s"}], "tags": [` + tag + `]}]}]`
	}
	const modbusAdapter = `{"type": "modbus", "name": "a", "devices": [{"name": "d", "tcp": "h:1", "poll_groups": [{"name": "g", "interval": "1s"}],
	  "tags": [{"name": "t", "register": "coil", "address": 0, "type": "bool", "poll_group": "g"}]}]}`
	const goodTag = `{"name": "t", "register": "holding_register", "address": 0, "type": "float32", "poll_group": "fast"}`
	ua := func(identity string) string {
		return kafka + `, "adapters": [{"type": "opcua", "name": "ua", "servers": [{"name": "s1", "endpoint": "opc.tcp://127.0.0.1:4840",
		  "security_policy": "None", "insecure": true, "identity": ` + identity + `,
		  "poll_groups": [{"name": "p", "interval": "1s"}], "nodes": [{"name": "n", "node_id": "ns=1;s=x", "poll_group": "p"}]}]}]`
	}
	sasl := func(pw string) string {
		return `"kafka": {"brokers": "127.0.0.1:9092", "security": {"protocol": "sasl_ssl", "username": "u", "password": "` + pw + `"}}`
	}
	cases := []struct{ name, doc, field string }{
		{"ok-kafka-only", kafka, ""},
		{"ok-modbus", modbusTag(goodTag), ""},
		{"ok-opcua-password-ref", ua(`{"type": "username", "username": "op", "password": "${secret:ua-pw}"}`), ""},
		{"ok-sasl-password-ref", sasl("${secret:kafka-pw}"), ""},
		{"ok-buffer-and-log-level", kafka + `, "log_level": "debug", "buffer": {"max_bytes": "64MiB", "default_policy": "drop_oldest",
		  "streams": [{"name": "a", "device": "plc1", "policy": "block"}]}`, ""},
		{"fail-no-kafka", `"log_level": "info"`, "kafka.brokers"},
		{"fail-broker-without-port", `"kafka": {"brokers": "kafka1"}`, "kafka.brokers"},
		{"fail-compression", `"kafka": {"brokers": "k:1", "compression": "gzip2"}`, "kafka.compression"},
		{"fail-protected-librdkafka", `"kafka": {"brokers": "k:1", "librdkafka": {"acks": "1"}}`, "kafka.librdkafka.acks"},
		// The brokers a password goes to are kafka.brokers only, which the
		// control plane checks against the secret's destinations.
		{"fail-librdkafka-bootstrap", `"kafka": {"brokers": "k:1", "librdkafka": {"bootstrap.servers": "evil:9092"}}`, "kafka.librdkafka.bootstrap.servers"},
		{"fail-librdkafka-broker-list", `"kafka": {"brokers": "k:1", "librdkafka": {"Metadata.Broker.List": "evil:9092"}}`, "kafka.librdkafka.Metadata.Broker.List"},
		{"fail-librdkafka-secret", `"kafka": {"brokers": "k:1", "librdkafka": {"ssl.key.password": "hunter2"}}`, "kafka.librdkafka.ssl.key.password"},
		{"ok-librdkafka-debug", `"kafka": {"brokers": "k:1", "librdkafka": {"debug": "broker"}}`, ""},
		{"fail-sasl-literal-password", sasl("hunter2"), "kafka.security.password"},
		{"fail-sasl-no-password", `"kafka": {"brokers": "k:1", "security": {"protocol": "sasl_ssl", "username": "u"}}`, "kafka.security"},
		{"fail-opcua-literal-password", ua(`{"type": "username", "username": "op", "password": "hunter2"}`), "adapters[0].servers[0].identity.password"},
		{"fail-tag-address", modbusTag(`{"name": "t", "register": "holding_register", "address": -1, "type": "float32", "poll_group": "fast"}`),
			"adapters[0].devices[0].tags[0].address"},
		{"fail-tag-poll-group", modbusTag(`{"name": "t", "register": "holding_register", "address": 0, "type": "float32", "poll_group": "slow"}`),
			"tags[0].poll_group"},
		{"fail-tag-unknown-field", modbusTag(`{"name": "t", "register": "coil", "adress": 0, "type": "bool", "poll_group": "fast"}`),
			"adapters[0].devices[0].tags[0].adress"},
		{"fail-adapter-type", kafka + `, "adapters": [{"type": "s7", "name": "x"}]`, "adapters[0].type"},
		{"fail-adapter-duplicate", kafka + `, "adapters": [` + modbusAdapter + `, ` + modbusAdapter + `]`, "adapters[1].name"},
		{"fail-buffer-policy", kafka + `, "buffer": {"default_policy": "drop_all"}`, "buffer.default_policy"},
		{"fail-buffer-stream", kafka + `, "buffer": {"streams": [{"name": "a", "policy": "block"}]}`, "buffer.streams[0]"},
		{"fail-log-level", kafka + `, "log_level": "loud"`, "log_level"},
		{"fail-local-key", kafka + `, "gateway_id": "other"`, "gateway_id"},
		{"fail-unknown-key", kafka + `, "colour": "blue"`, "colour"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := "{" + c.doc + "}"
			if !json.Valid([]byte(doc)) {
				t.Fatalf("row is not JSON: %s", doc)
			}
			_, cloudErr := pipeline.Parse([]byte(doc))
			wantAgreement(t, c.field, cloudErr, agentCheck([]byte("gateway_id: gw1\n"), doc))
		})
	}
}

// PUT /gateways/{id}/config takes a config that overlays some sections of
// the gateway's agent.yaml; the control plane checks it with
// pipeline.CheckOverlay, the gateway with Merge and Parse. Both must
// accept it, or both refuse it naming the same field path. This gateway's
// local file has its own kafka section, which an overlay without one keeps.
func TestCloudAndAgentAgreeOnOverlays(t *testing.T) {
	t.Setenv("STREAMFORGE_SECRET_KAFKA_PW", "pw")
	local := []byte("gateway_id: gw1\nkafka:\n  brokers: 127.0.0.1:9092\n")
	cases := []struct{ name, doc, field string }{
		{"ok-empty", `{}`, ""},
		{"ok-log-level", `{"log_level": "debug"}`, ""},
		{"ok-buffer-size", `{"buffer": {"max_bytes": "7MiB"}}`, ""},
		// As float64 it reached the gateway's YAML as 1.048576e+06.
		{"ok-buffer-whole-number", `{"buffer": {"max_bytes": 1048576}}`, ""},
		{"ok-kafka-linger", `{"kafka": {"brokers": "127.0.0.1:9092", "linger": "7ms", "window": 100}}`, ""},
		{"ok-sasl-ref", `{"kafka": {"brokers": "127.0.0.1:9092", "security": {"protocol": "sasl_ssl", "username": "u", "password": "${secret:kafka-pw}"}}}`, ""},
		{"ok-null-log-level", `{"log_level": null}`, ""},
		{"fail-kafka-null", `{"kafka": null}`, "kafka.brokers"},
		{"fail-unknown-key", `{"poll_ms": 1000}`, "poll_ms"},
		{"fail-local-key", `{"log_level": "debug", "data_dir": "/"}`, "data_dir"},
		{"fail-nested-field", `{"buffer": {"max_bytez": "1MiB"}}`, "buffer.max_bytez"},
		{"fail-wrong-type", `{"kafka": {"brokers": "127.0.0.1:9092", "window": "many"}}`, "kafka.window"},
		{"fail-section-kind", `{"buffer": [1]}`, "buffer"},
		{"fail-buffer-fraction", `{"buffer": {"max_bytes": 1.5}}`, "buffer.max_bytes"},
		{"fail-kafka-partial", `{"kafka": {"linger": "7ms"}}`, "kafka.brokers"},
		{"fail-sasl-literal", `{"kafka": {"brokers": "127.0.0.1:9092", "security": {"protocol": "sasl_ssl", "username": "u", "password": "hunter2"}}}`, "kafka.security.password"},
		{"fail-adapter", `{"adapters": [{"type": "modbus", "name": "a"}]}`, "adapters[0]"},
		{"fail-log-level", `{"log_level": "loud"}`, "log_level"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantAgreement(t, c.field, pipeline.CheckOverlay([]byte(c.doc)), agentCheck(local, c.doc))
		})
	}
}

// agentCheck is what the gateway makes of the control plane's doc over
// its local file: Merge, then Parse.
func agentCheck(local []byte, doc string) error {
	merged, err := Merge(local, json.RawMessage(doc))
	if err == nil {
		_, err = Parse(merged)
	}
	return err
}

// wantAgreement fails unless the cloud's and the agent's checks both
// accept (field "") or both refuse naming field.
func wantAgreement(t *testing.T, field string, cloudErr, agentErr error) {
	t.Helper()
	for who, err := range map[string]error{"cloud": cloudErr, "agent": agentErr} {
		switch {
		case field == "" && err != nil:
			t.Errorf("%s refused a good config: %v", who, err)
		case field != "" && err == nil:
			t.Errorf("%s accepted a bad config (want an error naming %s)", who, field)
		case field != "" && !strings.Contains(err.Error(), field):
			t.Errorf("%s error %q does not name %s", who, err, field)
		}
	}
}
