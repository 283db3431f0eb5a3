package modbus_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/adapters/modbus"
)

func TestReadmeSampleIsValid(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "```yaml\n")
	sample, _, _ := strings.Cut(rest, "```")
	var cfg modbus.Config
	if err := yaml.Unmarshal([]byte(sample), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := modbus.New("gw", cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Devices) != 2 || cfg.Devices[1].RTU == nil || len(cfg.Devices[0].Tags) != 7 ||
		time.Duration(cfg.Devices[0].Timeout) != 500*time.Millisecond || cfg.Devices[1].UnitID != 7 {
		t.Fatalf("sample not fully parsed: %+v", cfg)
	}
}
