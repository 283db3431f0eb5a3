package config

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/agent/secrets"
)

// docBlocks returns the fenced code blocks of a doc that open with fence
// ("```yaml", or "```" for untyped ones).
func docBlocks(t *testing.T, doc, fence string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", doc))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case cur == nil && line == fence:
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// TestAgentConfigDocExamplesLoad: the adapter examples of
// docs/agent-config.md pass the agent's own checks (what `streamforge-agent
// check` runs) as an adapters list of a minimal agent.yaml, with their
// secret references resolved from a secrets file written as the doc's
// example file is, and the files they name under /etc/streamforge made
// (an OPC UA client certificate, its key, a trust directory).
func TestAgentConfigDocExamplesLoad(t *testing.T) {
	etc := exampleEtc(t)
	untyped := docBlocks(t, "docs/agent-config.md", "```")
	var secretsFile string
	for _, b := range untyped {
		if strings.HasPrefix(b, "# /etc/streamforge/secrets") {
			secretsFile = filepath.Join(t.TempDir(), "secrets")
			if err := os.WriteFile(secretsFile, []byte(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if secretsFile == "" {
		t.Fatal("docs/agent-config.md: the example secrets file is gone")
	}
	store, err := secrets.Load(secretsFile)
	if err != nil {
		t.Fatalf("the doc's example secrets file does not load: %v", err)
	}
	for _, name := range []string{"kafka-password", "opcua-operator"} {
		if _, err := store.Lookup(name); err != nil {
			t.Errorf("the doc's example secrets file lacks %s: %v", name, err)
		}
	}
	examples := docBlocks(t, "docs/agent-config.md", "```yaml")
	if len(examples) < 2 {
		t.Fatalf("want the modbus and opcua examples, found %d yaml blocks", len(examples))
	}
	for i, ex := range examples {
		ex = strings.ReplaceAll(ex, "/etc/streamforge/", etc+"/")
		doc := "gateway_id: gw-doc\nsecrets_file: " + secretsFile + "\nkafka: {brokers: \"127.0.0.1:9092\"}\nadapters:\n" + indent(ex, "  ")
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Errorf("example %d of docs/agent-config.md does not load: %v\n%s", i, err, ex)
			continue
		}
		if len(c.Adapters) != 1 {
			t.Errorf("example %d: %d adapters, want 1", i, len(c.Adapters))
		}
	}
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// exampleEtc makes the files the examples name under /etc/streamforge: an
// OPC UA client certificate and key, a trust directory holding a server
// certificate, and Vault's CA.
func exampleEtc(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	der, key, err := opcua.SelfSigned("urn:streamforge:gateway:gw-doc", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	files := map[string][]byte{
		"opcua-client.pem":           cert,
		"opcua-client.key":           pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"opcua-trust/press-line.pem": cert,
		"vault-ca.pem":               cert,
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestOtherExampleConfigsLoad: the agent.yaml of the gateway image's
// overlay, and the agent.yaml parts that docs/identity.md (mTLS) and
// docs/secrets.md (Vault) show, load as the agent checks them.
func TestOtherExampleConfigsLoad(t *testing.T) {
	if _, err := Load(filepath.Join("..", "..", "buildroot", "board", "streamforge", "common", "rootfs-overlay", "etc", "streamforge", "agent.yaml")); err != nil {
		t.Errorf("the image's agent.yaml: %v", err)
	}
	t.Setenv("STREAMFORGE_SECRET_ENROLLMENT_TOKEN", "sfe_example")
	t.Setenv("STREAMFORGE_SECRET_VAULT_SECRET_ID", "example-secret-id")
	etc := exampleEtc(t)
	for _, doc := range []string{"docs/identity.md", "docs/secrets.md"} {
		blocks := docBlocks(t, doc, "```yaml")
		if len(blocks) == 0 {
			t.Errorf("%s: no yaml example", doc)
		}
		for i, b := range blocks {
			b = strings.ReplaceAll(b, "/etc/streamforge/", etc+"/")
			if _, err := Parse([]byte("gateway_id: gw-doc\nkafka: {brokers: \"127.0.0.1:9092\"}\n" + b)); err != nil {
				t.Errorf("%s: yaml example %d does not load: %v\n%s", doc, i, err, b)
			}
		}
	}
}
