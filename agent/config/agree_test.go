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
			var agentErr error
			merged, err := Merge([]byte("gateway_id: gw1\n"), json.RawMessage(doc))
			if err == nil {
				_, err = Parse(merged)
			}
			agentErr = err
			for who, err := range map[string]error{"cloud": cloudErr, "agent": agentErr} {
				switch {
				case c.field == "" && err != nil:
					t.Errorf("%s refused a good pipeline: %v", who, err)
				case c.field != "" && err == nil:
					t.Errorf("%s accepted a bad pipeline (want an error naming %s)", who, c.field)
				case c.field != "" && !strings.Contains(err.Error(), c.field):
					t.Errorf("%s error %q does not name %s", who, err, c.field)
				}
			}
		})
	}
}
