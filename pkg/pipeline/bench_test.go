package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseLargePipeline: the check the editor runs as you type (and
// every save), on a pipeline of 100 Modbus devices with 10 tags each.
func BenchmarkParseLargePipeline(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("kafka: {brokers: \"127.0.0.1:9092\"}\nadapters:\n  - type: modbus\n    name: line1\n    devices:\n")
	for d := range 100 {
		fmt.Fprintf(&sb, "      - name: plc%d\n        tcp: 10.0.0.%d:502\n        poll_groups: [{name: fast, interval: 1s}]\n        tags:\n", d, d%250+1)
		for t := range 10 {
			fmt.Fprintf(&sb, "          - {name: t%d, register: holding_register, address: %d, type: float32, poll_group: fast}\n", t, 2*t)
		}
	}
	doc := []byte(sb.String())
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}
