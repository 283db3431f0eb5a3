package secretprot

import "testing"

// TestWeakerRanksEachProperty: a protection is weaker than a bound one
// when any property ranks lower (TLS, then the SASL mechanism; the OPC UA
// policy, mode and server check); stronger or equal in each is fine, an
// unknown value ranks lowest, and a kind only one side has is no
// weakening.
func TestWeakerRanksEachProperty(t *testing.T) {
	k := KafkaOf
	o := OPCUAOf
	cases := []struct {
		name         string
		asked, bound Protection
		weaker       bool
	}{
		{"ok-same", k("sasl_ssl", "SCRAM-SHA-256"), k("SASL_SSL", "scram-sha-256"), false},
		{"ok-stronger-mechanism", k("sasl_ssl", "SCRAM-SHA-512"), k("sasl_ssl", "SCRAM-SHA-256"), false},
		{"ok-plaintext-to-tls", k("sasl_ssl", "PLAIN"), k("sasl_plaintext", "PLAIN"), false},
		{"ok-default-mechanism", k("sasl_ssl", ""), k("sasl_ssl", "SCRAM-SHA-512"), false},
		{"fail-tls-to-plaintext", k("sasl_plaintext", "SCRAM-SHA-512"), k("sasl_ssl", "SCRAM-SHA-512"), true},
		{"fail-scram-to-plain", k("sasl_ssl", "PLAIN"), k("sasl_ssl", "SCRAM-SHA-256"), true},
		{"fail-512-to-256", k("sasl_ssl", "SCRAM-SHA-256"), k("sasl_ssl", "SCRAM-SHA-512"), true},
		{"fail-unknown-mechanism", k("sasl_ssl", "SCRAM-SHA-1024"), k("sasl_plaintext", "PLAIN"), true},
		{"fail-no-sasl", k("", ""), k("sasl_plaintext", "PLAIN"), true},
		{"ok-opcua-same", o("Basic256Sha256", "", false), o("Basic256Sha256", "SignAndEncrypt", false), false},
		{"ok-opcua-checked", o("Basic256Sha256", "Sign", false), o("Basic256Sha256", "Sign", true), false},
		{"fail-opcua-none", o("", "", true), o("Basic256Sha256", "Sign", true), true},
		{"fail-opcua-sign", o("Basic256Sha256", "Sign", false), o("Basic256Sha256", "SignAndEncrypt", false), true},
		{"fail-opcua-unchecked", o("Basic256Sha256", "SignAndEncrypt", true), o("Basic256Sha256", "SignAndEncrypt", false), true},
		{"ok-other-kind", k("sasl_plaintext", "PLAIN"), o("Basic256Sha256", "SignAndEncrypt", false), false},
		{"ok-nothing-bound", k("sasl_plaintext", "PLAIN"), Protection{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			was, asked, weaker := c.asked.Weaker(c.bound)
			if weaker != c.weaker {
				t.Fatalf("weaker %v (%q, %q), want %v", weaker, was, asked, c.weaker)
			}
		})
	}
}

// TestMeetFillAndStoredForm: a first use by several configs binds the
// weakest of them; Fill binds only the kinds not bound; the stored form
// reads back; an Admin's protection names its bad field.
func TestMeetFillAndStoredForm(t *testing.T) {
	m := Meet(Meet(Protection{}, KafkaOf("sasl_ssl", "PLAIN")), KafkaOf("sasl_plaintext", "SCRAM-SHA-512"))
	m = Meet(m, OPCUAOf("Basic256Sha256", "Sign", false))
	m = Meet(m, OPCUAOf("Basic256Sha256", "SignAndEncrypt", true))
	if got := m.String(); got != "sasl_plaintext PLAIN; Basic256Sha256/Sign, server unchecked" {
		t.Fatalf("meet %s", got)
	}
	bound := KafkaOf("sasl_ssl", "SCRAM-SHA-512")
	if got := bound.Fill(m).String(); got != "sasl_ssl SCRAM-SHA-512; Basic256Sha256/Sign, server unchecked" {
		t.Fatalf("fill %s", got)
	}
	back, err := Decode(m.Encode())
	if err != nil || back.String() != m.String() {
		t.Fatalf("decode: %s %v", back, err)
	}
	if p, err := Decode(""); err != nil || !p.IsZero() || p.Encode() != "" {
		t.Fatalf("empty stored form: %v %v", p, err)
	}
	if _, err := Decode("{"); err == nil {
		t.Fatal("a broken stored form gave no error")
	}
	for p, want := range map[*Protection]string{
		{Kafka: &Kafka{Protocol: "plaintext", Mechanism: "PLAIN"}}:                                     "kafka.protocol",
		{Kafka: &Kafka{Protocol: "sasl_ssl", Mechanism: "MD5"}}:                                        "kafka.mechanism",
		{OPCUA: &OPCUA{Policy: "Basic128Rsa15", Mode: "Sign"}}:                                         "opcua.security_policy",
		{OPCUA: &OPCUA{Policy: "None", Mode: "Encrypt"}}:                                               "opcua.security_mode",
		{Kafka: &Kafka{Protocol: "sasl_ssl", Mechanism: "PLAIN"}, OPCUA: &OPCUA{"None", "None", true}}: "",
	} {
		if f, _ := p.Valid(); f != want {
			t.Errorf("Valid(%s) names %q, want %q", p, f, want)
		}
	}
}
