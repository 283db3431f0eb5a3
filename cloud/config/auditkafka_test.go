package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// TestAuditKafkaSecuritySettings: every way to configure the relay's
// Kafka protection wrongly stops the start with an error naming the
// variable, and never the password; the good ones load with the password
// read from its file.
func TestAuditKafkaSecuritySettings(t *testing.T) {
	const password = "Pa55-w0rd-from-file"
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pwFile, emptyFile, notPEM := file("pw", password+"\n"), file("empty", "\n"), file("not.pem", "hello "+password)
	pki := testenv.WritePKI(t)
	sasl := []string{"--audit-kafka-security-protocol", "sasl_ssl", "--audit-kafka-username", "relay", "--audit-kafka-password-file", pwFile}
	with := func(base []string, more ...string) []string { return append(append([]string{}, base...), more...) }
	cases := []struct {
		name string
		args []string
		want string // "" = loads
	}{
		{"ok-default-plaintext", nil, ""},
		{"ok-sasl_ssl-system-roots", sasl, ""},
		{"ok-sasl_ssl-ca-scram-256", with(sasl, "--audit-kafka-ca-file", pki.CAFile, "--audit-kafka-sasl-mechanism", "scram-sha-256"), ""},
		{"ok-ssl-mutual-tls", []string{"--audit-kafka-security-protocol", "SSL", "--audit-kafka-ca-file", pki.CAFile,
			"--audit-kafka-cert-file", pki.ClientCert, "--audit-kafka-key-file", pki.ClientKey}, ""},
		{"fail-unknown-protocol", []string{"--audit-kafka-security-protocol", "tls"}, "STREAMFORGE_AUDIT_KAFKA_SECURITY_PROTOCOL"},
		{"fail-unknown-mechanism", with(sasl, "--audit-kafka-sasl-mechanism", "GSSAPI"), "STREAMFORGE_AUDIT_KAFKA_SASL_MECHANISM"},
		{"fail-sasl-without-username", []string{"--audit-kafka-security-protocol", "sasl_ssl", "--audit-kafka-password-file", pwFile}, "STREAMFORGE_AUDIT_KAFKA_USERNAME"},
		{"fail-sasl-without-password-file", []string{"--audit-kafka-security-protocol", "sasl_plaintext", "--audit-kafka-username", "relay"}, "STREAMFORGE_AUDIT_KAFKA_PASSWORD_FILE"},
		{"fail-password-file-missing", with(sasl, "--audit-kafka-password-file", pwFile+".gone"), "STREAMFORGE_AUDIT_KAFKA_PASSWORD_FILE"},
		{"fail-password-file-empty", with(sasl, "--audit-kafka-password-file", emptyFile), "STREAMFORGE_AUDIT_KAFKA_PASSWORD_FILE"},
		{"fail-credentials-with-plaintext", []string{"--audit-kafka-username", "relay", "--audit-kafka-password-file", pwFile}, "STREAMFORGE_AUDIT_KAFKA_USERNAME"},
		{"fail-ca-unreadable", with(sasl, "--audit-kafka-ca-file", pki.CAFile+".gone"), "STREAMFORGE_AUDIT_KAFKA_CA_FILE"},
		{"fail-ca-not-pem", with(sasl, "--audit-kafka-ca-file", notPEM), "STREAMFORGE_AUDIT_KAFKA_CA_FILE"},
		{"fail-ca-with-sasl_plaintext", []string{"--audit-kafka-security-protocol", "sasl_plaintext", "--audit-kafka-username", "relay",
			"--audit-kafka-password-file", pwFile, "--audit-kafka-ca-file", pki.CAFile}, "STREAMFORGE_AUDIT_KAFKA_CA_FILE"},
		{"fail-cert-without-key", with(sasl, "--audit-kafka-cert-file", pki.ClientCert), "STREAMFORGE_AUDIT_KAFKA_KEY_FILE"},
		{"fail-key-not-the-certs", with(sasl, "--audit-kafka-cert-file", pki.ClientCert, "--audit-kafka-key-file", pki.KeyFile), "STREAMFORGE_AUDIT_KAFKA_CERT_FILE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(append([]string{"--data-dir", t.TempDir()}, c.args...))
			checkLoad(t, cfg, err, c.want, password)
		})
	}
	t.Run("fail-password-in-the-environment", func(t *testing.T) {
		t.Setenv("STREAMFORGE_AUDIT_KAFKA_PASSWORD", password)
		cfg, err := Load(append([]string{"--data-dir", t.TempDir()}, sasl...))
		checkLoad(t, cfg, err, "STREAMFORGE_AUDIT_KAFKA_PASSWORD_FILE", password)
	})
}

// checkLoad: Load failed naming want (never showing the password), or,
// with want empty, loaded the password from its file.
func checkLoad(t *testing.T, cfg *Config, err error, want, password string) {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), password) {
			t.Fatalf("err %v, want one naming %s (and not the password)", err, want)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	sec := cfg.Audit.KafkaSecurity
	if sec.SASL() && sec.Password.Reveal() != password {
		t.Fatalf("password from its file: got %d bytes", len(sec.Password.Reveal()))
	}
	if !sec.SASL() && !sec.Password.IsZero() {
		t.Fatal("a password without SASL")
	}
}
