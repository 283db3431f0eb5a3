package config

import (
	"strings"
	"testing"

	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/pkg/secretprot"
)

// TestDeliveredSecretsKeepTheirProtection: a value the control plane
// delivered with a least protection is used with it or stronger, and the
// config is refused, naming the field, the secret, the bound and the asked
// protection, when it would send the value with less: Kafka over
// sasl_plaintext or by PLAIN, OPC UA with security None or Sign only or an
// unchecked server certificate. A value delivered without one (a control
// plane before protection bindings) is bound by its destinations only.
func TestDeliveredSecretsKeepTheirProtection(t *testing.T) {
	kafka := func(protocol, mechanism string) string {
		return "gateway_id: gw1\nkafka:\n  brokers: broker1:9093\n  security: {protocol: " + protocol + ", mechanism: \"" + mechanism +
			"\", username: agent, password: \"${secret:kafka-pw}\"}\n"
	}
	opc := func(policy, mode, insecure string) string {
		doc := strings.Replace(opcuaLogin, "security_policy: None", "security_policy: "+policy+"\n        security_mode: "+mode, 1)
		return "gateway_id: gw1\nkafka: {brokers: \"broker1:9093\"}\n" + strings.Replace(doc, "insecure: true", "insecure: "+insecure, 1)
	}
	dests := func(prot secretprot.Protection) map[string]secrets.Secret {
		return map[string]secrets.Secret{
			"kafka-pw": secrets.Bound("pw1", []string{"broker1:9093"}).WithProtection(prot),
			"opc-pw":   secrets.Bound("pw2", []string{"opc.tcp://127.0.0.1:4840"}).WithProtection(prot),
		}
	}
	scram256 := dests(secretprot.KafkaOf("sasl_ssl", "SCRAM-SHA-256"))
	encrypted := dests(secretprot.OPCUAOf("Basic256Sha256", "SignAndEncrypt", true))
	cases := []struct {
		name, doc string
		delivered map[string]secrets.Secret
		want      string // "" = accepted
	}{
		{"ok-same", kafka("sasl_ssl", "SCRAM-SHA-256"), scram256, ""},
		{"ok-stronger-mechanism", kafka("SASL_SSL", "scram-sha-512"), scram256, ""},
		{"ok-default-mechanism", kafka("sasl_ssl", ""), scram256, ""},
		{"fail-in-clear", kafka("sasl_plaintext", "SCRAM-SHA-512"), scram256,
			"kafka.security.password: ${secret:kafka-pw} was delivered by the control plane to be sent with sasl_ssl SCRAM-SHA-256 or stronger; kafka.security asks for sasl_plaintext SCRAM-SHA-512"},
		{"fail-plain", kafka("sasl_ssl", "PLAIN"), scram256, "kafka.security asks for sasl_ssl PLAIN"},
		{"ok-not-bound", kafka("sasl_plaintext", "PLAIN"), dests(secretprot.Protection{}), ""},
		{"ok-opcua-same", opc("Basic256Sha256", "SignAndEncrypt", "true"), encrypted, ""},
		{"fail-opcua-none", opc("None", "None", "true"), encrypted,
			"adapters[0].servers[0].identity.password: ${secret:opc-pw} was delivered by the control plane to be sent with Basic256Sha256/SignAndEncrypt, server unchecked or stronger; adapters[0].servers[0] asks for None/None, server unchecked"},
		{"fail-opcua-sign-only", opc("Basic256Sha256", "Sign", "true"), encrypted, "adapters[0].servers[0] asks for Basic256Sha256/Sign"},
		{"fail-opcua-unchecked", opc("Basic256Sha256", "SignAndEncrypt", "true"), dests(secretprot.OPCUAOf("Basic256Sha256", "SignAndEncrypt", false)),
			"asks for Basic256Sha256/SignAndEncrypt, server unchecked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantParse(t, c.doc, c.delivered, c.want) })
	}
}
