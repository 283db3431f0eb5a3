package pipeline

import (
	"strings"
	"testing"
)

// A control plane config holds only some sections; each one present is
// checked whole (it replaces the gateway's local section), one absent is
// the gateway's business. Errors name the field path and carry no line:
// the caller sent JSON, and lines would count the YAML made from it.
func TestCheckOverlay(t *testing.T) {
	const modbus = `{"type": "modbus", "name": "a", "devices": [{"name": "d", "tcp": "127.0.0.1:5020", "poll_groups": [{"name": "g", "interval": "1s"}],
	  "tags": [{"name": "t", "register": "coil", "address": 0, "type": "bool", "poll_group": "g"}]}]}`
	cases := []struct{ name, doc, want string }{
		{"ok-empty", `{}`, ""},
		{"ok-log-level-only", `{"log_level": "debug"}`, ""},
		{"ok-null-log-level", `{"log_level": null}`, ""},
		{"ok-buffer-size", `{"buffer": {"max_bytes": "64MiB"}}`, ""},
		{"ok-buffer-whole-number", `{"buffer": {"max_bytes": 1048576}}`, ""},
		{"ok-kafka", `{"kafka": {"brokers": "127.0.0.1:9092", "linger": "7ms", "security": {"protocol": "sasl_ssl", "username": "u", "password": "${secret:kafka-pw}"}}}`, ""},
		{"ok-adapters-only", `{"adapters": [` + modbus + `]}`, ""},
		{"fail-array", `[{"log_level": "debug"}]`, "must be a JSON object"},
		{"fail-null", `null`, "must be a JSON object"},
		{"fail-two-objects", `{} {}`, "must be one JSON object"},
		{"fail-unknown-keys", `{"rev": 1, "gateway_id": "x", "log_level": "debug"}`, "gateway_id, rev: not a setting the control plane may deliver"},
		{"fail-unknown-nested-field", `{"kafka": {"brokers": "127.0.0.1:9092", "lingerz": "5ms"}}`, "kafka.lingerz: unknown field"},
		{"fail-wrong-type", `{"kafka": {"brokers": "127.0.0.1:9092", "window": "many"}}`, `kafka.window: "many" is not a whole number`},
		{"fail-wrong-type-section", `{"buffer": [1, 2]}`, "buffer"},
		{"fail-buffer-fraction", `{"buffer": {"max_bytes": 1.5}}`, "buffer.max_bytes"},
		// A kafka section replaces the gateway's whole local one.
		{"fail-kafka-without-brokers", `{"kafka": {"linger": "5ms"}}`, "kafka.brokers"},
		{"fail-kafka-null", `{"kafka": null}`, "kafka.brokers"},
		{"fail-kafka-literal-password", `{"kafka": {"brokers": "127.0.0.1:9092", "security": {"protocol": "sasl_ssl", "username": "u", "password": "hunter2"}}}`,
			"kafka.security.password: must be a ${secret:name}"},
		{"fail-adapter-type", `{"adapters": [{"type": "s7", "name": "x"}]}`, "adapters[0].type"},
		{"fail-adapter-tag-field", `{"adapters": [` + strings.Replace(modbus, `"address"`, `"adress"`, 1) + `]}`, "adapters[0].devices[0].tags[0].adress: unknown field"},
		{"fail-adapter-devices-kind", `{"adapters": [{"type": "modbus", "name": "a", "devices": {"d": 1}}]}`, "adapters[0].devices: a map is not a list"},
		{"fail-adapter-duplicate", `{"adapters": [` + modbus + `, ` + modbus + `]}`, "adapters[1].name"},
		{"fail-buffer-policy", `{"buffer": {"default_policy": "drop_all"}}`, "buffer.default_policy"},
		{"fail-log-level", `{"log_level": "loud"}`, "log_level"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckOverlay([]byte(c.doc))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want an error naming %q", c.want)
			case c.want != "" && !strings.HasPrefix(err.Error(), c.want):
				t.Fatalf("error %q does not start with %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), "line "):
				t.Fatalf("error %q counts lines of a document the caller did not send", err)
			}
		})
	}
}
