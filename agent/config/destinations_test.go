package config

import (
	"strings"
	"testing"

	"github.com/streamforge/streamforge/agent/secrets"
)

// TestDeliveredSecretsGoOnlyWhereTheControlPlaneBoundThem: a value the
// control plane delivered is used for the brokers and endpoints it was
// bound to there (a subset of them included), and the config is refused,
// naming the field, the secret and the destination, when it would send
// the value anywhere else, or when the value came bound to nothing. A
// gateway's own value (environment, secrets file) is not bound.
func TestDeliveredSecretsGoOnlyWhereTheControlPlaneBoundThem(t *testing.T) {
	kafka := func(brokers string) string {
		return "gateway_id: gw1\nkafka:\n  brokers: " + brokers + "\n  security: {protocol: sasl_ssl, username: agent, password: \"${secret:kafka-pw}\"}\n"
	}
	opc := "gateway_id: gw1\nkafka: {brokers: \"broker1:9093\"}\n" + opcuaLogin
	bound := map[string]secrets.Secret{
		"kafka-pw": secrets.Bound("pw1", []string{"broker1:9093", "broker2:9093"}),
		"opc-pw":   secrets.Bound("pw2", []string{"opc.tcp://127.0.0.1:4840"}),
	}
	cases := []struct {
		name, doc string
		delivered map[string]secrets.Secret
		want      string // "" = accepted
	}{
		{"ok", kafka("broker1:9093,broker2:9093"), bound, ""},
		{"ok-subset-other-spelling", kafka("BROKER2:9093"), bound, ""},
		{"ok-opcua-endpoint", opc, bound, ""},
		{"fail-other-broker", kafka("broker1:9093,evil:9092"), bound,
			"kafka.security.password: ${secret:kafka-pw} was delivered by the control plane for broker1:9093, broker2:9093 only; kafka.brokers names evil:9092"},
		{"fail-other-port", kafka("broker1:9092"), bound, "kafka.brokers names broker1:9092"},
		{"fail-other-endpoint", strings.Replace(opc, "opc.tcp://127.0.0.1:4840", "opc.tcp://127.0.0.1:4841", 1), bound,
			"adapters[0].servers[0].identity.password: ${secret:opc-pw} was delivered by the control plane for opc.tcp://127.0.0.1:4840 only; adapters[0].servers[0].endpoint names opc.tcp://127.0.0.1:4841"},
		{"fail-bound-to-nothing", kafka("broker1:9093"), map[string]secrets.Secret{"kafka-pw": secrets.Bound("pw1", nil)},
			"was delivered by the control plane for no destination"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantParse(t, c.doc, c.delivered, c.want) })
	}
	// The gateway's own value overrides a delivered one and goes anywhere.
	t.Setenv("STREAMFORGE_SECRET_KAFKA_PW", "local")
	if c, err := ParseWith([]byte(kafka("elsewhere:9092")), bound); err != nil || c.Kafka.Security.Password.Reveal() != "local" {
		t.Fatalf("a local value: %v", err)
	}
}

// wantParse parses doc with the delivered values: accepted when want is
// "", else refused with an error that contains want and shows no value.
func wantParse(t *testing.T, doc string, delivered map[string]secrets.Secret, want string) {
	t.Helper()
	_, err := ParseWith([]byte(doc), delivered)
	if want == "" && err != nil {
		t.Fatalf("refused: %v", err)
	}
	if want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
		t.Fatalf("error %v, want %q", err, want)
	}
	for _, v := range delivered {
		if err != nil && strings.Contains(err.Error(), v.Reveal()) {
			t.Fatalf("the error shows the value: %v", err)
		}
	}
}
