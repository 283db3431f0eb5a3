// Package browser drives the control plane's pages in Debian's Chromium
// (through playwright-core from npm) as people use them.
package browser

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

func requireBrowser(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		testenv.Missing(t, "tests/browser/node_modules (run: npm ci --prefix tests/browser)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		testenv.Missing(t, "Debian's chromium")
	}
	return dir
}

// TestClaimOnAPhone: a technician opens the URL a gateway's QR code
// encodes on a phone-sized screen, logs in, names the site and claims;
// the gateway is then bound to that site and, as its identity is a
// software key (no verified EK), waits for an admin's review; the page
// says so.
func TestClaimOnAPhone(t *testing.T) {
	dir := requireBrowser(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true") // its gateway has a software key
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok)
	cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "tech@example.com", "password": "Quartz-lantern-field-7",
		"roles": []string{"Engineer"}, "gateway_access": []string{"*"}}, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	gw := controlplane.NewClient(cloud.URL, "gw-phone-01", key)
	res, err := gw.Enroll(context.Background(), tok.Token, "edge", nil)
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "claim.png")
	if d := os.Getenv("STREAMFORGE_SCREENSHOT_DIR"); d != "" {
		shot = filepath.Join(d, "claim-390.png")
	}
	cmd := exec.Command("node", "claim.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CLAIM_URL="+wire.ClaimURL(cloud.URL, "gw-phone-01", res.ClaimCode),
		"EMAIL=tech@example.com", "PASSWORD=Quartz-lantern-field-7", "SITE=Offshore Rig Alpha", "SCREENSHOT="+shot)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "claimed and bound to site Offshore Rig Alpha; it waits for an admin's review (identity: software key, no TPM)") {
		t.Fatalf("claim in the browser: %v\n%s", err, out)
	}
	var g map[string]any
	cloud.Call("GET", "/api/v1/gateways/gw-phone-01", admin, nil, &g)
	if g["status"] != "pending" || g["site"] != "Offshore Rig Alpha" || g["claimed_by"] != "tech@example.com" {
		t.Fatalf("after the browser claim: %v", g)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
}
