package modbus_test

import (
	"log/slog"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/internal/testenv"
)

func TestReadmeSampleIsValid(t *testing.T) {
	var cfg modbus.Config
	if err := yaml.Unmarshal(testenv.READMEYAML(t), &cfg); err != nil {
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
