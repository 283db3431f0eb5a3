package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

// Keys is what agent/config.Merge lets the control plane set: it must be
// exactly the Spec's fields, or a pipeline could hold a setting the agent
// refuses to merge (or the reverse).
func TestKeysAreTheSpecFields(t *testing.T) {
	typ := reflect.TypeFor[Spec]()
	if typ.NumField() != len(Keys) {
		t.Fatalf("Spec has %d fields, Keys %d", typ.NumField(), len(Keys))
	}
	for i := range typ.NumField() {
		tag := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]
		if !Keys[tag] {
			t.Errorf("Spec field %s (%q) is not in Keys", typ.Field(i).Name, tag)
		}
	}
}

func TestParseNamesPathAndLine(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"fail-empty", "", "empty"},
		{"fail-not-a-map", "- a\n", "must be a map of settings"},
		{"fail-yaml-type", "kafka:\n  brokers: \"k:1\"\n  window: many\n", `kafka.window: "many" is not a whole number (line 3)`},
		{"fail-yaml-adapter-field", "kafka: {brokers: \"k:1\"}\nadapters:\n  - type: modbus\n    name: a\n    devicez: []\n",
			"adapters[0].devicez: unknown field (line 5)"},
		{"fail-opcua-literal", "kafka: {brokers: \"k:1\"}\nadapters:\n  - {type: opcua, name: u, servers: [{name: s, endpoint: \"opc.tcp://h:1\", " +
			"security_policy: None, insecure: true, identity: {type: username, username: u, password: pw}, " +
			"poll_groups: [{name: p, interval: 1s}], nodes: [{name: n, node_id: \"ns=1;s=x\", poll_group: p}]}]}\n",
			"adapters[0].servers[0].identity.password: must be a ${secret:name} or ${vault:path#key} reference"},
		{"ok-opcua-vault-ref", "kafka: {brokers: \"k:1\"}\nadapters:\n  - {type: opcua, name: u, servers: [{name: s, endpoint: \"opc.tcp://h:1\", " +
			"security_policy: None, insecure: true, identity: {type: username, username: u, password: \"${vault:secret/streamforge/opcua/plc-01#password}\"}, " +
			"poll_groups: [{name: p, interval: 1s}], nodes: [{name: n, node_id: \"ns=1;s=x\", poll_group: p}]}]}\n", ""},
		{"fail-kafka-literal", "kafka: {brokers: \"k:1\", security: {protocol: SASL_PLAINTEXT, mechanism: SCRAM-SHA-512, username: u, password: pw}}\n",
			"kafka.security.password: must be a ${secret:name} or ${vault:path#key} reference"},
		{"fail-yaml-kind", "kafka:\n  brokers:\n    - \"k:1\"\n", "kafka.brokers: a list is not a string (line 3)"},
		{"ok-json", `{"kafka": {"brokers": "k:1", "linger": "20ms"}, "buffer": {"max_bytes": 1048576}}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse([]byte(c.doc))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "" && (s.LogLevel != "info" || s.Buffer.DefaultPolicy != Block || s.Kafka.Compression != ""):
				t.Fatalf("defaults: %+v (the Kafka section keeps what the document said)", s)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
