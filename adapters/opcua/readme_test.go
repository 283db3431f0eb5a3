package opcua_test

import (
	"log/slog"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/internal/testenv"
)

func TestReadmeSampleIsValid(t *testing.T) {
	var cfg opcua.Config
	if err := yaml.Unmarshal(testenv.READMEYAML(t), &cfg); err != nil {
		t.Fatal(err)
	}
	// The sample's files do not exist here; check everything New checks but them.
	dir := t.TempDir()
	cert, key := writeKeyPair(t, "urn:streamforge:gateway:gw")
	cfg.Servers[0].Certificate, cfg.Servers[0].Key, cfg.Servers[0].Trust = cert, key, []string{dir}
	if _, err := opcua.New("gw", cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	s := cfg.Servers[0]
	if len(cfg.Servers) != 2 || len(s.Nodes) != 4 || s.Nodes[0].Deadband.Value != 0.5 ||
		time.Duration(s.Subscriptions[0].SamplingInterval) != 100*time.Millisecond || s.Identity.Password != "${secret:filler-opcua}" {
		t.Fatalf("sample not fully parsed: %+v", cfg)
	}
}
