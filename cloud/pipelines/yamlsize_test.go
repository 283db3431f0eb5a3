package pipelines

import (
	"strings"
	"testing"
)

// yamlList is a flow list of n items.
func yamlList(item string, n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
}

// TestYAMLAliasesCannotBlowUpADocument: under yaml.v3's own alias limit,
// 99 aliases of one 200 kB anchor made a 200 kB request decode into 20 MB
// of values (96 MB allocated, 0.3 s). Such a document is a 400 naming
// spec_yaml; anchors of ordinary size still work, and a document without
// aliases is never refused for its expansion.
func TestYAMLAliasesCannotBlowUpADocument(t *testing.T) {
	big := "x: &a " + yamlList(strings.Repeat("v", 100), 2000) + "\ny: " + yamlList("*a", 99) + "\n"
	if len(big) > MaxSpecBytes {
		t.Fatalf("the test document (%d bytes) is over MaxSpecBytes", len(big))
	}
	_, err := Validate(Input{SpecYAML: big})
	if err == nil || !strings.HasPrefix(err.Error(), "spec_yaml: its anchors and aliases expand to more than") {
		t.Fatalf("alias bomb: %v", err)
	}

	anchors := `kafka: {brokers: "127.0.0.1:9092"}
adapters:
  - type: modbus
    name: line1
    devices:
      - name: plc1
        tcp: 127.0.0.1:5020
        poll_groups: [&fast {name: fast, interval: 1s}]
        tags: [{name: t, register: holding_register, address: 0, type: float32, poll_group: fast}]
      - name: plc2
        tcp: 127.0.0.1:5021
        poll_groups: [*fast]
        tags: [{name: t, register: holding_register, address: 0, type: float32, poll_group: fast}]
`
	doc, err := Validate(Input{SpecYAML: anchors})
	if err != nil || strings.Count(string(doc), `"interval":"1s"`) != 2 {
		t.Fatalf("a document sharing a poll group by alias: %s %v", doc, err)
	}

	plain := "x: " + yamlList("a", MaxSpecBytes/2-4) + "\n" // the densest text: one-letter items
	if len(plain) > MaxSpecBytes {
		t.Fatalf("the plain document is %d bytes", len(plain))
	}
	if err := checkExpansion([]byte(plain)); err != nil {
		t.Fatalf("a %d-byte document without aliases: %v", len(plain), err)
	}
}
