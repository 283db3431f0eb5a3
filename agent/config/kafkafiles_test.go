package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// TestKafkaFilesCheckedAtLoad: the files kafka.security names exist only
// on the gateway, so the agent reads them at load (and so at `check`): a
// missing or wrong CA bundle, client certificate or key, a key that is not
// the certificate's, and a key others may read each stop the load with an
// error naming the field, and no error shows the key.
func TestKafkaFilesCheckedAtLoad(t *testing.T) {
	pki := testenv.WritePKI(t)
	dir := t.TempDir()
	// copyFile writes src's content as name with the given mode.
	copyFile := func(src, name string, mode os.FileMode) string {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	keyPEM, err := os.ReadFile(pki.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(keyPEM), "\n")[1] // the first line of base64
	gone := filepath.Join(dir, "gone.pem")
	cases := []struct {
		name, ca, cert, key string
		want                string // "" = loads
	}{
		{"ok", pki.CAFile, pki.ClientCert, pki.ClientKey, ""},
		{"ok-key-readable-by-its-group", pki.CAFile, pki.ClientCert, copyFile(pki.ClientKey, "group.key", 0o640), ""},
		{"ok-system-roots", "", pki.ClientCert, pki.ClientKey, ""},
		{"fail-ca-missing", gone, pki.ClientCert, pki.ClientKey, "kafka.security.ca_file: "},
		{"fail-ca-not-a-certificate", pki.ClientKey, pki.ClientCert, pki.ClientKey, "kafka.security.ca_file: "},
		{"fail-cert-missing", pki.CAFile, gone, pki.ClientKey, "kafka.security.cert_file: "},
		{"fail-cert-is-a-key", pki.CAFile, pki.KeyFile, pki.ClientKey, "kafka.security.cert_file: "},
		{"fail-key-missing", pki.CAFile, pki.ClientCert, gone, "kafka.security.key_file: "},
		{"fail-key-of-another-certificate", pki.CAFile, pki.ClientCert, pki.KeyFile, "kafka.security.key_file: "},
		{"fail-key-is-a-certificate", pki.CAFile, pki.ClientCert, copyFile(pki.ClientCert, "cert-as.key", 0o600), "kafka.security.key_file: "},
		{"fail-key-readable-by-others", pki.CAFile, pki.ClientCert, copyFile(pki.ClientKey, "world.key", 0o644), "kafka.security.key_file: "},
		{"fail-key-writable-by-its-group", pki.CAFile, pki.ClientCert, copyFile(pki.ClientKey, "groupw.key", 0o660), "kafka.security.key_file: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := fmt.Sprintf("gateway_id: gw1\nkafka: {brokers: \"127.0.0.1:9093\", security: {protocol: ssl, ca_file: %q, cert_file: %q, key_file: %q}}\n",
				c.ca, c.cert, c.key)
			if c.ca == "" {
				doc = strings.Replace(doc, `ca_file: "", `, "", 1)
			}
			cfg, err := Parse([]byte(doc))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "" && (cfg.Kafka.Security.CertFile != c.cert || cfg.Kafka.Security.KeyFile != c.key):
				t.Fatalf("loaded %v", cfg.Kafka.Security)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
				t.Fatalf("error %v, want one starting %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), keyBody):
				t.Fatalf("the key in the error: %v", err)
			}
			if err != nil {
				t.Logf("%v", err)
			}
		})
	}
}
