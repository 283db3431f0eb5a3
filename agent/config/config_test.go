package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/agent/buffer"
)

const minimal = `
gateway_id: gw1
kafka: {brokers: "127.0.0.1:9092"}
`

func TestExampleFileLoads(t *testing.T) {
	c, err := Load("../agent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Adapters) != 2 || c.Adapters[0].Modbus == nil || c.Adapters[1].OPCUA == nil {
		t.Fatalf("adapters %+v", c.Adapters)
	}
	if c.Buffer.MaxBytes != 256<<20 || len(c.Buffer.Streams) != 2 || c.Buffer.Streams[0].Policy != buffer.DropOldest {
		t.Errorf("buffer %+v", c.Buffer)
	}
	if c.Kafka.TelemetryTopic != "telemetry.raw" || c.Kafka.Linger.Milliseconds() != 20 {
		t.Errorf("kafka %+v", c.Kafka)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != DefaultDataDir || c.Metrics.Listen != DefaultMetricsListen || c.Buffer.MaxBytes != DefaultMaxBytes ||
		c.Buffer.DefaultPolicy != buffer.Block || c.LogLevel != "info" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.BufferFile() != filepath.Join(DefaultDataDir, "buffer.db") {
		t.Errorf("buffer file %s", c.BufferFile())
	}
}

// opcuaLogin is an adapters section whose one OPC UA server logs in as
// "op" with ${secret:opc-pw}.
const opcuaLogin = `adapters:
  - type: opcua
    name: ua
    servers:
      - name: s1
        endpoint: opc.tcp://127.0.0.1:4840
        security_policy: None
        insecure: true
        identity: {type: username, username: op, password: "${secret:opc-pw}"}
        poll_groups: [{name: p, interval: 1s}]
        nodes: [{name: n, node_id: "ns=1;s=x", poll_group: p}]
`

func TestSecretsResolveIntoTheForwarderAndAdapters(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secrets")
	if err := os.WriteFile(file, []byte("kafka-password=pw1\nopc-pw=pw2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STREAMFORGE_SECRET_ENROLL", "tok")
	doc := `
gateway_id: gw1
secrets_file: ` + file + `
kafka:
  brokers: 127.0.0.1:9092
  security: {protocol: sasl_ssl, username: agent, password: "${secret:kafka-password}"}
` + opcuaLogin + `control_plane: {url: "https://cloud.example:8443", enrollment_token: "${secret:enroll}"}
`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.Security.Password.Reveal() != "pw1" || c.Adapters[0].OPCUA.Servers[0].Identity.Password != "pw2" ||
		c.Secrets.EnrollmentToken.Reveal() != "tok" {
		t.Errorf("secrets not resolved: kafka %q opc %q token %q", c.Kafka.Security.Password.Reveal(),
			c.Adapters[0].OPCUA.Servers[0].Identity.Password, c.Secrets.EnrollmentToken.Reveal())
	}
	// The log scrubber learns every one of them.
	if got := strings.Join(c.SecretValues(), ","); got != "pw1,tok,pw2" {
		t.Errorf("SecretValues: %s", got)
	}
}

// TestTestPasswordOnlyForTheSameLogin: a connection test gets a password
// only for the very login the config makes with it (same endpoint,
// security, trust, user and reference); any difference, a literal or an
// unknown reference is refused.
func TestTestPasswordOnlyForTheSameLogin(t *testing.T) {
	t.Setenv("STREAMFORGE_SECRET_OPC_PW", "pw2")
	c, err := Parse([]byte(minimal + opcuaLogin))
	if err != nil {
		t.Fatal(err)
	}
	same := c.Adapters[0].OPCUA.Servers[0]
	same.Identity.Password = "${secret:opc-pw}"
	same.Nodes, same.PollGroups, same.Name = nil, nil, "renamed" // what is read does not matter
	if pw, err := c.TestPassword(same); err != nil || pw != "pw2" {
		t.Fatalf("the deployed login: %q, %v", pw, err)
	}
	for name, change := range map[string]func(*opcua.Server){
		"endpoint": func(s *opcua.Server) { s.Endpoint = "opc.tcp://attacker.example:4840" },
		"policy":   func(s *opcua.Server) { s.Policy = "Basic256Sha256" },
		"mode":     func(s *opcua.Server) { s.Mode = "Sign" },
		"insecure": func(s *opcua.Server) { s.Insecure = false },
		"trust":    func(s *opcua.Server) { s.Trust = []string{"/tmp/other.pem"} },
		"username": func(s *opcua.Server) { s.Identity.Username = "admin" },
		"ref":      func(s *opcua.Server) { s.Identity.Password = "${secret:kafka-password}" },
		"vault":    func(s *opcua.Server) { s.Identity.Password = "${vault:secret/x#pw}" },
		"literal":  func(s *opcua.Server) { s.Identity.Password = "pw2" },
	} {
		srv := same
		change(&srv)
		if pw, err := c.TestPassword(srv); err == nil || pw != "" {
			t.Errorf("%s changed: got a password (%q, %v)", name, pw, err)
		}
	}
}

const validModbus = `{type: modbus, name: x, devices: [{name: d, tcp: "h:1", poll_groups: [{name: g, interval: 1s}],
  tags: [{name: t, register: coil, address: 0, type: bool, poll_group: g}]}]}`

func TestInvalidConfigNamesTheField(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"fail-no-gateway", `kafka: {brokers: "b:1"}`, "gateway_id"},
		{"fail-gateway-slash", "gateway_id: a/b\nkafka: {brokers: \"b:1\"}", "gateway_id"},
		{"fail-unknown-field", minimal + "colour: blue\n", "colour: unknown field (line 4)"},
		{"fail-max-bytes", minimal + "buffer: {max_bytes: 12 apples}\n", "256MiB"},
		{"fail-policy", minimal + "buffer: {default_policy: drop_all}\n", "buffer.default_policy"},
		{"fail-stream-rule", minimal + "buffer: {streams: [{name: a, policy: block}]}\n", "buffer.streams[0]: set device or key_prefix"},
		{"fail-no-brokers", "gateway_id: gw1\n", "kafka.brokers"},
		{"fail-compression", "gateway_id: gw1\nkafka: {brokers: \"b:1\", compression: gzip2}\n", "compression"},
		{"fail-drain-order", "gateway_id: gw1\nkafka: {brokers: \"b:1\", drain_order: newest}\n", "drain_order"},
		{"ok-drain-order-live-first", "gateway_id: gw1\nkafka: {brokers: \"b:1\", drain_order: live_first, live_lag: 30s}\n", ""},
		{"fail-literal-password", "gateway_id: gw1\nkafka: {brokers: \"b:1\", security: {protocol: sasl_ssl, username: u, password: hunter2}}\n",
			"kafka.security.password: must be a ${secret:name} or ${vault:path#key} reference"},
		{"fail-unknown-secret", "gateway_id: gw1\nkafka: {brokers: \"b:1\", security: {protocol: sasl_ssl, username: u, password: \"${secret:nope-x}\"}}\n",
			"${secret:nope-x}: secret not defined (looked in environment STREAMFORGE_SECRET_NOPE_X)"},
		{"fail-metrics-listen", minimal + "metrics: {listen: 9090}\n", "metrics.listen"},
		{"fail-log-level", minimal + "log_level: loud\n", "log_level"},
		{"fail-adapter-type", minimal + "adapters: [{type: s7, name: x}]\n", `adapters[0].type: "s7" is not modbus or opcua`},
		{"fail-adapter-unknown-field", minimal + "adapters: [{type: modbus, name: x, devicez: []}]\n", "adapters[0].devicez: unknown field"},
		{"fail-adapter-invalid", minimal + "adapters: [{type: modbus, name: x, devices: [{name: d, tcp: \"h:1\"}]}]\n", "adapters[0].devices[0].tags"},
		{"fail-adapter-duplicate", minimal + "adapters: [" + validModbus + ", " + validModbus + "]\n", `adapters[1].name: "x" must be set and unique`},
		{"fail-control-plane-url", minimal + "control_plane: {url: \"ftp://x\"}\n", "control_plane.url"},
		{"fail-config-key", minimal + "control_plane: {config_keys: [\"kid:AAAA\"]}\n", "control_plane.config_keys[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	cases := map[string]int64{"1024": 1024, "64KiB": 64 << 10, "256MiB": 256 << 20, "2GB": 2e9, "1 GiB": 1 << 30, "10B": 10}
	for in, want := range cases {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5GB", "12 apples", "99999999999TiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted as %d", bad, b)
		}
	}
}

// Every way a document can be bad is a row: the error names the field path
// (and the file's line), never a Go type or a line counted from an adapter.
func TestBadDocumentsNameTheField(t *testing.T) {
	adapter := `gateway_id: gw1
kafka: {brokers: "127.0.0.1:9092"}
adapters:
  - type: modbus
    name: line1
    devices:
      - name: plc1
        tcp: 127.0.0.1:5020
        unit_id: %s
        poll_groups: [{name: fast, interval: 1s}]
        tags:
          - {name: t, register: holding_register, address: 0, type: float32, poll_group: fast}
`
	tests := []struct{ name, doc, want string }{
		{"fail-empty", "", "configuration is empty"},
		{"fail-comments-only", "# nothing yet\n", "configuration is empty"},
		{"fail-not-a-map", "- gw1\n", "must be a map of settings"},
		{"fail-broker-without-port", "gateway_id: gw1\nkafka: {brokers: kafka1}\n", `kafka.brokers: "kafka1" is not host:port`},
		{"fail-second-broker-port", "gateway_id: gw1\nkafka: {brokers: \"k1:9092,k2:99999\"}\n", "kafka.brokers"},
		{"fail-window-out-of-range", "gateway_id: gw1\nkafka:\n  brokers: k1:9092\n  window: 99999999999999999999\n",
			`kafka.window: "99999999999999999999" is not a whole number (line 4)`},
		{"fail-window-zero", "gateway_id: gw1\nkafka: {brokers: \"k1:9092\", window: -1}\n", "kafka.window: -1 is not positive"},
		{"fail-duration", "gateway_id: gw1\nkafka: {brokers: \"k1:9092\", linger: 5x}\n", `kafka.linger: "5x" is not a duration`},
		{"fail-max-bytes-negative", "gateway_id: gw1\nbuffer: {max_bytes: -5}\nkafka: {brokers: \"k1:9092\"}\n",
			`buffer.max_bytes: "-5" is not a size such as 268435456 or 256MiB (line 2)`},
		{"fail-unknown-field", "gateway_id: gw1\nkafka: {brokers: \"k1:9092\", windw: 5}\n", "kafka.windw: unknown field (line 2)"},
		{"fail-modbus-unit-id-out-of-range", fmt.Sprintf(adapter, "300"),
			`adapters[0].devices[0].unit_id: "300" is not a whole number from 0 to 255 (line 9)`},
		{"fail-modbus-unit-id-text", fmt.Sprintf(adapter, "one"), `adapters[0].devices[0].unit_id: "one" is not a whole number from 0 to 255 (line 9)`},
		{"fail-adapter-type", "gateway_id: gw1\nkafka: {brokers: \"k1:9092\"}\nadapters:\n  - {type: bacnet, name: x}\n",
			`adapters[0].type: "bacnet" is not modbus or opcua (line 4)`},
		{"ok-adapter", fmt.Sprintf(adapter, "1"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case err != nil && (strings.Contains(err.Error(), "uint8") || strings.Contains(err.Error(), "!!")):
				t.Fatalf("error %q names Go or YAML types", err)
			}
		})
	}
}
