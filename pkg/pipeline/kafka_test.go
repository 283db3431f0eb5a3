package pipeline

import (
	"strings"
	"testing"

	"github.com/streamforge/streamforge/pkg/kafkasec"
)

// TestKafkaSecurityNamesTheField: the pipeline check (the agent's and the
// control plane's) refuses every bad kafka.security combination with an
// error that starts with the field's path, and accepts exactly the
// protocols and mechanisms of pkg/kafkasec's lists.
func TestKafkaSecurityNamesTheField(t *testing.T) {
	const sasl = `username: u, password: "${secret:kafka-pw}"`
	const mtls = `ca_file: /etc/sf/ca.pem, cert_file: /etc/sf/gw.pem, key_file: /etc/sf/gw.key`
	cases := []struct{ name, security, want string }{
		{"ok-default-plaintext", ``, ""},
		{"ok-ssl-client-certificate", `protocol: ssl, ` + mtls, ""},
		{"ok-sasl_ssl-client-certificate", `protocol: SASL_SSL, mechanism: scram-sha-256, ` + sasl + `, ` + mtls, ""},
		{"fail-mechanism-typo", `protocol: sasl_ssl, mechanism: SCRAM-SHA-265, ` + sasl, "kafka.security.mechanism: "},
		{"fail-mechanism-gssapi", `protocol: sasl_plaintext, mechanism: GSSAPI, ` + sasl, "kafka.security.mechanism: "},
		{"fail-protocol-typo", `protocol: sasl-ssl`, "kafka.security.protocol: "},
		{"fail-sasl-without-username", `protocol: sasl_ssl, password: "${secret:kafka-pw}"`, "kafka.security.username: "},
		{"fail-sasl-without-password", `protocol: sasl_ssl, username: u`, "kafka.security.password: "},
		{"fail-credentials-without-sasl", `protocol: ssl, ` + sasl, "kafka.security.username: "},
		{"fail-ca-with-plaintext", `ca_file: /etc/sf/ca.pem`, "kafka.security.ca_file: "},
		{"fail-client-certificate-with-plaintext", `cert_file: /etc/sf/gw.pem, key_file: /etc/sf/gw.key`, "kafka.security.cert_file: "},
		{"fail-client-certificate-with-sasl_plaintext", `protocol: sasl_plaintext, ` + sasl + `, cert_file: /etc/sf/gw.pem, key_file: /etc/sf/gw.key`,
			"kafka.security.cert_file: "},
		{"fail-cert-without-key", `protocol: ssl, cert_file: /etc/sf/gw.pem`, "kafka.security.key_file: "},
		{"fail-key-without-cert", `protocol: ssl, key_file: /etc/sf/gw.key`, "kafka.security.key_file: "},
	}
	for _, m := range kafkasec.Mechanisms {
		cases = append(cases, struct{ name, security, want string }{"ok-mechanism-" + m, `protocol: sasl_ssl, mechanism: ` + m + `, ` + sasl, ""})
	}
	for _, p := range kafkasec.Protocols {
		sec := `protocol: ` + p
		if strings.HasPrefix(p, "sasl_") {
			sec += `, ` + sasl
		}
		cases = append(cases, struct{ name, security, want string }{"ok-protocol-" + p, sec, ""})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(`kafka: {brokers: "k:1", security: {` + c.security + `}}`))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
				t.Fatalf("error %v, want one starting %q", err, c.want)
			}
		})
	}
}

// TestLibrdkafkaCannotOverrideTheProtection: the librdkafka properties map
// cannot change what kafka.security sets (a pipeline edit could otherwise
// send the password in clear to the very brokers its secret is bound to),
// nor load plugins; other properties pass.
func TestLibrdkafkaCannotOverrideTheProtection(t *testing.T) {
	for _, k := range []string{"security.protocol", "Security.Protocol", "sasl.mechanisms", "sasl.mechanism",
		"sasl.oauthbearer.token.endpoint.url", "sasl.kerberos.kinit.cmd", "ssl.endpoint.identification.algorithm",
		"enable.ssl.certificate.verification", "ssl.ca.location", "ssl.certificate.location", "ssl_engine_location",
		"plugin.library.paths", "https.ca.location"} {
		_, err := Parse([]byte(`kafka: {brokers: "k:1", librdkafka: {"` + k + `": "x"}}`))
		if err == nil || !strings.HasPrefix(err.Error(), "kafka.librdkafka."+k+": ") {
			t.Errorf("%s: error %v, want one naming kafka.librdkafka.%s", k, err, k)
		}
	}
	for _, k := range []string{"debug", "socket.keepalive.enable", "client.dns.lookup", "topic.metadata.refresh.interval.ms"} {
		if _, err := Parse([]byte(`kafka: {brokers: "k:1", librdkafka: {"` + k + `": "1"}}`)); err != nil {
			t.Errorf("%s refused: %v", k, err)
		}
	}
}
