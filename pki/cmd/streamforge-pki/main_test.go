package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/pki/stepca"
)

func TestInitWritesAttestationCAAndStepCAConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	var out bytes.Buffer
	if err := run([]string{"init", "--dir", dir, "--address", "127.0.0.1:9443", "--dns", "127.0.0.1",
		"--webhook-url", "https://127.0.0.1:8443/hook"}, &out); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "step-ca", "config", "ca.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Authority struct {
			Provisioners []struct {
				Type               string   `json:"type"`
				Challenges         []string `json:"challenges"`
				AttestationFormats []string `json:"attestationFormats"`
				AttestationRoots   []byte   `json:"attestationRoots"`
				Claims             map[string]any
				Options            struct {
					Webhooks []struct{ Kind, URL string } `json:"webhooks"`
				} `json:"options"`
			} `json:"provisioners"`
		} `json:"authority"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	p := cfg.Authority.Provisioners[0]
	root, _ := os.ReadFile(filepath.Join(dir, "attestation-ca", "attestation-ca.crt"))
	switch {
	case p.Type != "ACME" || strings.Join(p.Challenges, ",") != "device-attest-01" || strings.Join(p.AttestationFormats, ",") != "tpm":
		t.Fatalf("provisioner %+v", p)
	case !bytes.Equal(p.AttestationRoots, root):
		t.Fatal("attestation roots are not the attestation CA")
	case p.Claims["defaultTLSCertDuration"] != "24h0m0s" || p.Claims["disableRenewal"] != true:
		t.Fatalf("claims %v", p.Claims)
	case len(p.Options.Webhooks) != 1 || p.Options.Webhooks[0].Kind != "AUTHORIZING" || p.Options.Webhooks[0].URL != "https://127.0.0.1:8443/hook":
		t.Fatalf("webhooks %+v", p.Options.Webhooks)
	}
	for _, key := range []string{"attestation-ca/attestation-ca.key", "step-ca/secrets/intermediate_ca_key", "step-ca/secrets/root_ca_key", "step-ca/webhook/webhook.key"} {
		st, err := os.Stat(filepath.Join(dir, key))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", key, st.Mode(), err)
		}
	}
	l, err := stepca.ReadLayout(filepath.Join(dir, "step-ca"))
	if err != nil || l.ACMEDirectory != "https://127.0.0.1:9443/acme/gateways/directory" || l.DNSNames[0] != "127.0.0.1" {
		t.Fatalf("layout %+v %v", l, err)
	}
	if err := run([]string{"init", "--dir", dir, "--webhook-url", "https://x/"}, &out); err == nil {
		t.Fatal("init overwrote an existing PKI")
	}
	other := t.TempDir()
	if err := run([]string{"init", "--dir", other, "--webhook-url", "http://plain/"}, &out); err == nil {
		t.Fatal("accepted a plain-http webhook")
	}
	if _, err := os.Stat(filepath.Join(other, "attestation-ca")); !os.IsNotExist(err) {
		t.Fatalf("failed init left an attestation CA behind: %v", err)
	}
}
