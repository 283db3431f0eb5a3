package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// TestCheckKafkaSecurity: `streamforge-agent check` catches what used to
// pass it and fail only at run time, a SASL mechanism typo and a client
// key that is not the certificate's, naming the field; a mutual TLS
// configuration with the gateway's certificate passes.
func TestCheckKafkaSecurity(t *testing.T) {
	pki := testenv.WritePKI(t)
	dir := t.TempDir()
	cases := []struct{ name, security, want string }{
		{"ok-ssl-client-certificate", fmt.Sprintf("protocol: ssl, ca_file: %q, cert_file: %q, key_file: %q", pki.CAFile, pki.ClientCert, pki.ClientKey), ""},
		{"fail-mechanism-typo", `protocol: sasl_ssl, mechanism: SCRAM-SHA-265, username: u, password: "${secret:kafka-pw}"`, "kafka.security.mechanism: "},
		{"fail-key-of-another-certificate", fmt.Sprintf("protocol: ssl, cert_file: %q, key_file: %q", pki.ClientCert, pki.KeyFile), "kafka.security.key_file: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".yaml")
			doc := "gateway_id: gw1\nkafka: {brokers: \"127.0.0.1:9093\", security: {" + c.security + "}}\n"
			if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			err := mainErr([]string{"check", "--config", p}, &stderr)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("check: %v, want an error naming %q", err, c.want)
			}
		})
	}
}
