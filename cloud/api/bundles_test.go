package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pkg/wire"
)

// TestConfigAnswerIsASignedBundle: the token answer carries the config
// signing keys; the config answer's bundle verifies with them and says
// what was deployed; a rotation changes the config ETag (so gateways fetch
// the new key's endorsement), the old bundle still verifies, and the next
// deploy is signed by the new key. A deploy's version passes the one the
// gateway reports applying, and the heartbeat's config_error is kept.
func TestConfigAnswerIsASignedBundle(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	_, value := e.enrollmentToken(admin, 1, "")
	gw := e.gateway("gw-signed-01")
	if _, err := gw.Enroll(ctx, value, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-signed-01/approve", admin, nil), 200)
	tok, err := gw.ObtainToken(ctx)
	if err != nil || len(tok.ConfigKeys) != 1 {
		t.Fatalf("token answer: %d config keys, %v", len(tok.ConfigKeys), err)
	}
	key := tok.ConfigKeys[0]

	wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-signed-01/config", admin, map[string]any{"config": map[string]any{"buffer": map[string]any{"max_bytes": "31MiB"}}}), 200)
	cfg, err := gw.FetchConfig(ctx)
	if err != nil || cfg == nil || cfg.Bundle == nil {
		t.Fatalf("config answer without a bundle: %+v %v", cfg, err)
	}
	p, err := wire.VerifyBundle(*cfg.Bundle, key.PublicKey)
	if err != nil || p.GatewayID != "gw-signed-01" || p.Version != 1 || string(p.Config) != `{"buffer":{"max_bytes":"31MiB"}}` || p.KeyID != key.KeyID {
		t.Fatalf("bundle: %+v %v", p, err)
	}

	kid, err := e.gw.ConfigKeys.Rotate(time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again, err := gw.FetchConfig(ctx)
	if err != nil || again == nil || len(again.SigningKeys) != 1 {
		t.Fatalf("after a rotation the config is not fetched again with the endorsement: %+v %v", again, err)
	}
	ep, err := wire.VerifyEndorsement(again.SigningKeys[0], key.PublicKey)
	if err != nil || ep.KeyID != kid {
		t.Fatalf("endorsement: %+v %v", ep, err)
	}
	if _, err := wire.VerifyBundle(*again.Bundle, key.PublicKey); err != nil {
		t.Fatalf("old bundle after rotation: %v", err)
	}

	// The gateway runs v7 (say the database was restored from a backup).
	if err := gw.Heartbeat(ctx, wire.Heartbeat{Status: "ok", ConfigVersion: 7, ConfigError: "refused: config signature does not verify"}); err != nil {
		t.Fatal(err)
	}
	h := e.do("GET", "/api/v1/gateways/gw-signed-01/health", admin, nil)
	if !strings.Contains(string(h.raw), `"config_error":"refused: config signature does not verify"`) {
		t.Fatalf("health: %s", h.raw)
	}
	wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-signed-01/config", admin, map[string]any{"config": map[string]any{"buffer": map[string]any{"max_bytes": "32MiB"}}}), 200)
	cfg, err = gw.FetchConfig(ctx)
	if err != nil || cfg == nil || cfg.Bundle.KeyID != kid {
		t.Fatalf("deploy after rotation not signed by the new key: %+v %v", cfg, err)
	}
	if p, err := wire.VerifyBundle(*cfg.Bundle, ep.PublicKey); err != nil || p.Version != 8 {
		t.Fatalf("deploy after v7 was applied: %+v %v, want version 8", p, err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-signed-01/heartbeat", tok.Token, map[string]any{"status": "ok", "config_error": strings.Repeat("x", 513)}), 400)
}
