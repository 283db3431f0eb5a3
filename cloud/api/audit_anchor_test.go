package api_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/configsign"
)

// TestAuditVerifyEndpointChecksCheckpoints: with the checkpoint keys,
// GET /api/v1/audit/verify holds the chain to its signed checkpoints, so
// a wiped trail (a valid empty chain) is reported, naming the cut.
func TestAuditVerifyEndpointChecksCheckpoints(t *testing.T) {
	ring, err := configsign.Load(filepath.Join(t.TempDir(), "audit-keys"))
	if err != nil {
		t.Fatal(err)
	}
	anchor := filepath.Join(t.TempDir(), "audit-checkpoint.json")
	e := newEnv(t, "", "", func(o *api.Options, d *api.Deps) { d.AuditKeys, o.AuditAnchorFile = ring, anchor })
	admin := e.login(adminEmail, adminPassword)
	cp := audit.NewCheckpointer(e.store.Audit(context.Background()), ring, anchor, time.Hour, slog.Default())
	if _, signed, err := cp.Sign(time.Now()); err != nil || !signed {
		t.Fatalf("sign: %v %v", signed, err)
	}
	v := e.do("GET", "/api/v1/audit/verify", admin, nil)
	if v.body["ok"] != true || v.body["checkpoints_checked"] != float64(1) {
		t.Fatalf("verify: %s", v.raw)
	}
	for _, q := range []string{`DELETE FROM audit_log`, `DELETE FROM audit_checkpoints`,
		`UPDATE audit_chain_head SET seq = 0, hash = '` + auditrec.GenesisHash + `' WHERE id = 1`} {
		if err := e.store.DB.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	v = e.do("GET", "/api/v1/audit/verify", admin, nil)
	if v.status != 200 || v.body["ok"] != false || v.body["kind"] != audit.BadCut {
		t.Fatalf("a wiped trail passes: %d %s", v.status, v.raw)
	}
}
