package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// configRow is a gateway's deployed config as the database holds it.
type configRow struct {
	Version          int
	Document, Bundle string
}

// TestSignedConfigBundlesRefuseTamperReplayAndFollowRotation runs the real
// control plane (on PostgreSQL) and the real agent process. Configs the
// cloud deployed apply; an attacker with write access to the database
// then alters the signed bundle, swaps in an unsigned config, and replays
// an older signed bundle: the agent refuses each, keeps its last-known-good
// and reports why in its heartbeat. After `streamforge-cloud config-keys
// rotate` (audited) the config signed by the old key still verifies
// (grace) and a config signed by the new key applies. Restarted, the agent still refuses
// an older version: its high-water mark is on disk.
func TestSignedConfigBundlesRefuseTamperReplayAndFollowRotation(t *testing.T) {
	pg := testenv.PostgresURL(t)
	bin := testenv.BuildAgent(t, nil)
	cloud := testenv.StartCloud(t, "STREAMFORGE_DATABASE_URL="+pg, "STREAMFORGE_ALLOW_KEY_IDENTITY=true") // a software identity
	ctx := context.Background()
	db, err := pgx.Connect(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(ctx) })
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok)

	cfgPath, dataDir, _ := startDataPath(t)
	if err := appendFile(cfgPath, "control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n"); err != nil {
		t.Fatal(err)
	}
	start := func() *testenv.Agent {
		return testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfgPath, Args: []string{"--insecure-software-identity"},
			Env: managedEnv(cloud.URL, tok.Token)})
	}
	agent := start()
	agent.Eventually(t, eventuallyLimit, "enrollment", func() bool { return enrolled(agent) })
	if st := cloud.Call("POST", "/api/v1/gateways/gw-test/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}

	applied := func() float64 {
		var g map[string]any
		cloud.Call("GET", "/api/v1/gateways/gw-test", admin, nil, &g)
		v, _ := g["applied_config_version"].(float64)
		return v
	}
	configError := func() string {
		var h struct{ Heartbeats []wire.Heartbeat }
		cloud.Call("GET", "/api/v1/gateways/gw-test/health?limit=1", admin, nil, &h)
		if len(h.Heartbeats) == 0 {
			return "no heartbeat"
		}
		return h.Heartbeats[0].ConfigError
	}
	deploy := func(v int) {
		t.Helper()
		body := map[string]any{"config": map[string]any{"buffer": map[string]any{"max_bytes": fmt.Sprintf("%dMiB", 30+v)}}}
		if st := cloud.Call("PUT", "/api/v1/gateways/gw-test/config", admin, body, nil); st != 200 {
			t.Fatalf("deploy: %d", st)
		}
		agent.Eventually(t, eventuallyLimit, fmt.Sprintf("config v%d applied", v), func() bool { return applied() == float64(v) && configError() == "" })
	}
	row := func() configRow {
		t.Helper()
		var r configRow
		if err := db.QueryRow(ctx, "SELECT version, document, bundle FROM gateway_configs WHERE gateway_id = 'gw-test'").
			Scan(&r.Version, &r.Document, &r.Bundle); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// write is the attacker: it changes the row and its ETag, so that the
	// agent's next poll fetches it.
	write := func(r configRow, etag string) {
		t.Helper()
		if _, err := db.Exec(ctx, "UPDATE gateway_configs SET version = $1, document = $2, bundle = $3, e_tag = $4 WHERE gateway_id = 'gw-test'",
			r.Version, r.Document, r.Bundle, `"`+etag+`"`); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(what, reason string) {
		t.Helper()
		agent.Eventually(t, eventuallyLimit, what+" refused", func() bool { return strings.Contains(configError(), reason) })
		if v := applied(); v != 2 {
			t.Fatalf("after %s the agent reports config v%v, want the last-known-good v2", what, v)
		}
	}

	deploy(1)
	v1 := row()
	deploy(2)
	v2 := row()

	// Tampered: a higher version and another buffer size in the signed
	// payload, the signature left as it was.
	var b wire.ConfigBundle
	if err := json.Unmarshal([]byte(v2.Bundle), &b); err != nil {
		t.Fatal(err)
	}
	b.Payload = bytes.Replace(b.Payload, []byte(`"version":2`), []byte(`"version":9`), 1)
	b.Payload = bytes.Replace(b.Payload, []byte(`32MiB`), []byte(`1MiB`), 1)
	forged, _ := json.Marshal(b)
	write(configRow{9, `{"buffer":{"max_bytes":"1MiB"}}`, string(forged)}, "tampered")
	refused("a tampered bundle", "signature does not verify")

	// A config written without any signature.
	write(configRow{10, `{"buffer":{"max_bytes":"1MiB"}}`, ""}, "unsigned")
	refused("an unsigned config", "not signed")

	// The older signed bundle, replayed.
	write(v1, "replayed")
	refused("a replayed v1", "rollback")

	// Rotation: a new signing key, endorsed by the old one.
	out, err := exec.Command(testenv.CloudBinary(t), "config-keys", "rotate", "--data-dir", cloud.DataDir, "--database-url", pg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "new config signing key") {
		t.Fatalf("config-keys rotate: %v\n%s", err, out)
	}
	var audit struct{ Records []map[string]any }
	cloud.Call("GET", "/api/v1/audit?event_type=config.keys.rotate", admin, nil, &audit)
	if len(audit.Records) != 1 || !strings.Contains(string(out), fmt.Sprint(audit.Records[0]["resource_id"])) {
		t.Fatalf("rotation audit records: %v", audit.Records)
	}
	// v2, signed by the old key, still verifies: a re-delivery, the refusal
	// is over and nothing is re-applied.
	write(v2, "restored")
	agent.Eventually(t, eventuallyLimit, "v2 (old key) accepted again", func() bool { return configError() == "" })
	deploy(3)
	var b3 wire.ConfigBundle
	if err := json.Unmarshal([]byte(row().Bundle), &b3); err != nil || b3.KeyID == b.KeyID {
		t.Fatalf("v3 signed by key %q, as v2 (%q): the rotation did not take (%v)", b3.KeyID, b.KeyID, err)
	}
	agent.Stop(t)

	// The high-water mark survives a restart: v2 is now a rollback.
	st, err := controlplane.LoadState(filepath.Join(dataDir, "data", "controlplane"))
	if err != nil || st.ConfigTrust.HighWater != 3 || len(st.ConfigTrust.Keys) != 2 {
		t.Fatalf("agent state: high-water %d, %d keys (%v)", st.ConfigTrust.HighWater, len(st.ConfigTrust.Keys), err)
	}
	write(v2, "after-restart")
	agent = start()
	agent.Eventually(t, eventuallyLimit, "v2 refused after a restart", func() bool { return strings.Contains(configError(), "rollback") })
	if !strings.Contains(agent.Log(), "running on last-known-good config") || applied() != 3 {
		t.Fatalf("agent did not keep v3 over the replayed v2 (applied v%v)", applied())
	}
	agent.Stop(t)
}
