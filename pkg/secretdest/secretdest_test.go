package secretdest

import (
	"fmt"
	"testing"
)

// TestUsesNameEveryFieldThatSendsASecret: the Kafka credentials go to the
// brokers, an OPC UA password to its server's endpoint; references
// elsewhere, literals, Vault references and values of other types send
// nothing the control plane holds. Keys are matched as written (the agent
// reads them so), the last of duplicate keys winning as in the agent.
func TestUsesNameEveryFieldThatSendsASecret(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"ok-kafka", `{"kafka":{"brokers":" B1:9093 ,b2:9093","security":{"username":"${secret:ku}","password":"${secret:kp}"}}}`,
			"ku kafka.security.username kafka.brokers [b1:9093 b2:9093]; kp kafka.security.password kafka.brokers [b1:9093 b2:9093]; "},
		{"ok-opcua", `{"adapters":[{"type":"modbus"},{"type":"opcua","servers":[{"endpoint":"OPC.TCP://PLC:4840/ua","identity":{"password":"${secret:op}"}}]}]}`,
			"op adapters[1].servers[0].identity.password adapters[1].servers[0].endpoint [opc.tcp://plc:4840/ua]; "},
		{"ok-last-duplicate-wins", `{"kafka":{"brokers":"good:1","brokers":"evil:2","security":{"password":"${secret:kp}"}}}`,
			"kp kafka.security.password kafka.brokers [evil:2]; "},
		{"none-case-differs", `{"kafka":{"Brokers":"evil:2","security":{"Password":"${secret:kp}"}}}`, ""},
		{"none-literal-or-vault", `{"kafka":{"brokers":"b:1","security":{"username":"agent","password":"${vault:kv/k#p}"}}}`, ""},
		{"none-elsewhere", `{"log_level":"${secret:kp}","adapters":"x"}`, ""},
		{"brokers-not-a-string", `{"kafka":{"brokers":["evil:2"],"security":{"password":"${secret:kp}"}}}`,
			"kp kafka.security.password kafka.brokers []; "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			uses, err := Uses([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, u := range uses {
				got += fmt.Sprintf("%s %s %s %v; ", u.Name, u.Field, u.DestField, u.Destinations)
			}
			if got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
	if _, err := Uses([]byte(`[`)); err == nil {
		t.Fatal("a broken document gave no error")
	}
}

func TestValidDestinations(t *testing.T) {
	for d, want := range map[string]bool{
		"broker1:9093": true, "[::1]:9092": true, "opc.tcp://plc:4840/ua": true, "10.0.0.1:1": true,
		"broker1": false, "": false, ":9092": false, "a:1\nb:2": false, "opc.tcp://": false,
	} {
		if got := Valid(d); got != want {
			t.Errorf("Valid(%q) = %v, want %v", d, got, want)
		}
	}
}

// TestUsesSayWithWhatProtection: each use carries the protection its
// config sends the secret with, the agent's defaults standing in for what
// is left out, and the field that sets it; ProtectionOf is the weakest.
func TestUsesSayWithWhatProtection(t *testing.T) {
	doc := `{"kafka":{"brokers":"b:1","security":{"protocol":"SASL_SSL","password":"${secret:p}"}},
		"adapters":[{"type":"opcua","servers":[
			{"endpoint":"opc.tcp://a:4840","security_policy":"Basic256Sha256","identity":{"password":"${secret:p}"}},
			{"endpoint":"opc.tcp://b:4840","insecure":true,"identity":{"password":"${secret:p}"}}]}]}`
	uses, err := Uses([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, u := range uses {
		got += u.ProtField + ": " + u.Protection.String() + "; "
	}
	want := "kafka.security: sasl_ssl SCRAM-SHA-512; adapters[0].servers[0]: Basic256Sha256/SignAndEncrypt, server checked; " +
		"adapters[0].servers[1]: None/None, server unchecked; "
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if p := ProtectionOf(uses, "p").String(); p != "sasl_ssl SCRAM-SHA-512; None/None, server unchecked" {
		t.Fatalf("ProtectionOf %s", p)
	}
}
