package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/pkg/wire"
)

// gateway is a gateway with a software identity key, driven through the
// agent's own control plane client.
func (e *env) gateway(id string) *controlplane.Client {
	e.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	return controlplane.NewClient(e.base, id, key)
}

// enrollmentToken creates a token as the admin and returns its value.
func (e *env) enrollmentToken(admin string, maxUses int, site string) (id, value string) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": maxUses, "site": site})
	if r.status != 201 {
		e.t.Fatalf("create enrollment token: %d %s", r.status, r.raw)
	}
	return r.body["id"].(string), r.body["token"].(string)
}

// enrollNonce asks for a nonce to sign an enrollment of id with.
func (e *env) enrollNonce(id string) string {
	e.t.Helper()
	r := e.do("POST", "/api/v1/gateways/enroll/challenge", "", wire.ChallengeRequest{GatewayID: id})
	if r.status != 200 {
		e.t.Fatalf("enrollment nonce: %d %s", r.status, r.raw)
	}
	return r.body["nonce"].(string)
}

func wantAPIStatus(t *testing.T, err error, status int) {
	t.Helper()
	if !controlplane.IsStatus(err, status) {
		t.Fatalf("got %v, want HTTP %d", err, status)
	}
}

// TestGatewayLifecycle: enroll as pending, no token before approval,
// approve, token on proof, config with ETag, heartbeats, renewal, and a
// disabled gateway's token refused at once.
func TestGatewayLifecycle(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		ctx := context.Background()
		admin := e.login(adminEmail, adminPassword)
		tokID, value := e.enrollmentToken(admin, 2, "Plant A")
		if !strings.HasPrefix(value, "sfe_") {
			t.Fatalf("token value %q", value)
		}
		list := e.do("GET", "/api/v1/enrollment-tokens", admin, nil)
		if strings.Contains(string(list.raw), value) || !strings.Contains(string(list.raw), tokID) {
			t.Fatalf("token list shows the secret or lacks the id: %s", list.raw)
		}

		gw := e.gateway("gw-plant-a-01")
		res, err := gw.Enroll(ctx, value, "edge-01.local", map[string]string{"hardware": "Edge 3200"})
		if err != nil || res.Status != "pending" || res.Site != "Plant A" {
			t.Fatalf("enroll: %+v %v", res, err)
		}
		if _, err := wire.NormalizeClaimCode(res.ClaimCode); err != nil {
			t.Fatalf("claim code %q: %v", res.ClaimCode, err)
		}
		_, err = gw.ObtainToken(ctx)
		wantAPIStatus(t, err, 403)

		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-plant-a-01/approve", admin, nil), 200)
		tok, err := gw.ObtainToken(ctx)
		if err != nil || time.Until(tok.ExpiresAt) < 364*24*time.Hour {
			t.Fatalf("token: %+v %v", tok, err)
		}
		cfg, err := gw.FetchConfig(ctx)
		if err != nil || cfg != nil {
			t.Fatalf("config before any deploy: %v %v", cfg, err)
		}
		wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-plant-a-01/config", admin, map[string]any{"config": map[string]any{"buffer": map[string]any{"max_bytes": "1000MiB"}}}), 200)
		cfg, err = gw.FetchConfig(ctx)
		if err != nil || cfg == nil || cfg.Version != 1 || string(cfg.Config) != `{"buffer":{"max_bytes":"1000MiB"}}` {
			t.Fatalf("config v1: %+v %v", cfg, err)
		}
		if cfg, err = gw.FetchConfig(ctx); err != nil || cfg != nil {
			t.Fatalf("unchanged config not answered 304: %+v %v", cfg, err)
		}
		wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-plant-a-01/config", admin, map[string]any{"config": map[string]any{"buffer": map[string]any{"max_bytes": "500MiB"}}}), 200)
		if cfg, err = gw.FetchConfig(ctx); err != nil || cfg == nil || cfg.Version != 2 {
			t.Fatalf("config v2: %+v %v", cfg, err)
		}

		hb := wire.Heartbeat{Status: "ok", AgentVersion: "1.0.0", ConfigVersion: 2, BufferDepth: 42,
			Adapters: []wire.AdapterState{{Name: "modbus", Device: "plc-1", Connected: true}}}
		if err := gw.Heartbeat(ctx, hb); err != nil {
			t.Fatal(err)
		}
		h := e.do("GET", "/api/v1/gateways/gw-plant-a-01/health", admin, nil)
		if !strings.Contains(string(h.raw), `"buffer_depth":42`) || !strings.Contains(string(h.raw), `"plc-1"`) {
			t.Fatalf("health: %s", h.raw)
		}
		view := e.do("GET", "/api/v1/gateways/gw-plant-a-01", admin, nil)
		if view.body["applied_config_version"].(float64) != 2 || view.body["last_seen_at"] == nil {
			t.Fatalf("gateway view: %s", view.raw)
		}

		old, _ := gw.Token()
		if _, err := gw.RenewToken(ctx); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("GET", "/api/v1/gateways/gw-plant-a-01/config/current", old, nil), 401, "invalid")
		if err := gw.Heartbeat(ctx, hb); err != nil {
			t.Fatalf("renewed token refused: %v", err)
		}

		// The gateway token is useless on user routes, and a user token on gateway routes.
		cur, _ := gw.Token()
		wantStatus(t, e.do("GET", "/api/v1/auth/me", cur, nil), 401)
		wantStatus(t, e.do("GET", "/api/v1/gateways", cur, nil), 401)
		wantStatus(t, e.do("GET", "/api/v1/gateways/gw-plant-a-01/config/current", admin, nil), 401)

		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-plant-a-01/disable", admin, nil), 200)
		wantAPIStatus(t, gw.Heartbeat(ctx, hb), 401)
		_, err = gw.ObtainToken(ctx)
		wantAPIStatus(t, err, 403)
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-plant-a-01/enable", admin, nil), 200)
		if _, err := gw.ObtainToken(ctx); err != nil {
			t.Fatalf("re-enabled gateway: %v", err)
		}
		wantError(t, e.do("POST", "/api/v1/gateways/gw-plant-a-01/reject", admin, nil), 409, "state")
	})
}

func TestEnrollmentRefusals(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	_, once := e.enrollmentToken(admin, 1, "")
	revokedID, revoked := e.enrollmentToken(admin, 5, "")
	wantStatus(t, e.do("DELETE", "/api/v1/enrollment-tokens/"+revokedID, admin, nil), 204)
	_, expiring := e.enrollmentToken(admin, 5, "")
	_, good := e.enrollmentToken(admin, 10, "")

	first := e.gateway("gw-first")
	if _, err := first.Enroll(ctx, once, "h", nil); err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	e.gw.Now = clk.now

	cases := []struct {
		name   string
		enroll func() error
		status int
	}{
		{"fail-unknown-token", func() error {
			_, err := e.gateway("gw-a").Enroll(ctx, "sfe_"+strings.Repeat("0", 64), "h", nil)
			return err
		}, 401},
		{"fail-used-up-token", func() error { _, err := e.gateway("gw-b").Enroll(ctx, once, "h", nil); return err }, 401},
		{"fail-revoked-token", func() error { _, err := e.gateway("gw-c").Enroll(ctx, revoked, "h", nil); return err }, 401},
		{"fail-expired-token", func() error {
			clk.advance(2 * time.Hour)
			defer clk.advance(-2 * time.Hour)
			_, err := e.gateway("gw-d").Enroll(ctx, expiring, "h", nil)
			return err
		}, 401},
		{"fail-second-identity-takes-over-id", func() error { _, err := e.gateway("gw-first").Enroll(ctx, good, "h", nil); return err }, 409},
		{"fail-bad-gateway-id", func() error { _, err := e.gateway("../etc").Enroll(ctx, good, "h", nil); return err }, 400},
		{"fail-reserved-gateway-id", func() error { _, err := e.gateway("token").Enroll(ctx, good, "h", nil); return err }, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantAPIStatus(t, c.enroll(), c.status) })
	}
	t.Run("fail-proof-by-another-key", func(t *testing.T) {
		gw := e.gateway("gw-e")
		pub, _ := wire.PublicKeyPEM(gw.Signer.Public())
		other := e.gateway("gw-e")
		body := wire.EnrollRequest{GatewayID: "gw-e", EnrollmentToken: good, Identity: wire.Identity{Kind: "key", PublicKey: pub}, Nonce: e.enrollNonce("gw-e")}
		if err := wire.SignEnroll(other.Signer, &body); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("POST", "/api/v1/gateways/enroll", "", body), 401, "proof")
	})
	t.Run("register-is-gone", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/v1/gateways/register", "", map[string]any{"gateway_id": "x"}), 410, "enrollment")
	})
	t.Run("re-enroll-same-identity-ok", func(t *testing.T) {
		if res, err := first.Enroll(ctx, good, "h2", nil); err != nil || res.Status != "pending" {
			t.Fatalf("%+v %v", res, err)
		}
	})
	fails := e.records(admin, "event_type=gateway.enroll")
	n := 0
	for _, r := range fails {
		if r["result"] == "failure" {
			n++
		}
	}
	if n < len(cases)-2 { // the two id validation failures are refused before any audit
		t.Errorf("%d failed enrollments audited, want at least %d", n, len(cases)-2)
	}
}

func TestGatewayTokenNeedsProof(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	_, value := e.enrollmentToken(admin, 5, "")
	gw := e.gateway("gw-proof")
	if _, err := gw.Enroll(ctx, value, "h", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-proof/approve", admin, nil), 200)
	nonce := func() string {
		r := e.do("POST", "/api/v1/gateways/token/challenge", "", map[string]string{"gateway_id": "gw-proof"})
		wantStatus(t, r, 200)
		return r.body["nonce"].(string)
	}
	wantError(t, e.do("POST", "/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-proof"}), 401, "proof of possession required")
	n := nonce()
	thief := e.gateway("gw-proof")
	sig, _ := wire.Sign(thief.Signer, wire.TokenMessage("gw-proof", n))
	wantError(t, e.do("POST", "/api/v1/gateways/token", "", wire.TokenRequest{GatewayID: "gw-proof", Nonce: n, Signature: sig}), 401, "proof")
	n = nonce()
	sig, _ = wire.Sign(gw.Signer, wire.TokenMessage("gw-proof", n))
	req := wire.TokenRequest{GatewayID: "gw-proof", Nonce: n, Signature: sig}
	wantStatus(t, e.do("POST", "/api/v1/gateways/token", "", req), 200)
	wantError(t, e.do("POST", "/api/v1/gateways/token", "", req), 401, "proof") // nonce replayed
	wantError(t, e.do("POST", "/api/v1/gateways/token", "", wire.TokenRequest{GatewayID: "gw-nobody", Nonce: n, Signature: sig}), 401, "proof")
}

// TestGatewayReachesOnlyItsOwnRoutes: one gateway's token on another's
// config and heartbeat routes is refused and audited.
func TestGatewayReachesOnlyItsOwnRoutes(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	_, value := e.enrollmentToken(admin, 5, "")
	var clients []*controlplane.Client
	for _, id := range []string{"gw-one", "gw-two"} {
		c := e.gateway(id)
		if _, err := c.Enroll(ctx, value, id, nil); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do("POST", "/api/v1/gateways/"+id+"/approve", admin, nil), 200)
		if _, err := c.ObtainToken(ctx); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	one, _ := clients[0].Token()
	wantError(t, e.do("GET", "/api/v1/gateways/gw-two/config/current", one, nil), 403, "own routes")
	wantError(t, e.do("POST", "/api/v1/gateways/gw-two/heartbeat", one, map[string]any{"status": "ok"}), 403, "own routes")
	two, _ := clients[1].Token()
	sig, _ := wire.Sign(clients[1].Signer, wire.TokenMessage("gw-two", "n"))
	wantError(t, e.do("POST", "/api/v1/gateways/token/renew", one, wire.TokenRequest{GatewayID: "gw-two", Nonce: "n", Signature: sig}), 403, "own token")
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-two/heartbeat", two, map[string]any{"status": "ok"}), 204)
	if got := e.records(admin, "event_type=authorization.denied&resource_id=gw-two"); len(got) != 2 {
		t.Fatalf("%d denials audited, want 2", len(got))
	}
}

func TestClaimCodes(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	engineer := e.user("tech@example.com", []string{rbac.Engineer}, "*")
	viewer := e.user("viewer@example.com", []string{rbac.Viewer}, "*")
	_, value := e.enrollmentToken(admin, 10, "")
	enroll := func(id string) (*controlplane.Client, string) {
		c := e.gateway(id)
		res, err := c.Enroll(ctx, value, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c, res.ClaimCode
	}
	claim := func(tok, id, code, site string) resp {
		return e.do("POST", "/api/v1/gateways/claim", tok, map[string]string{"gateway_id": id, "claim_code": code, "site": site})
	}
	gw, code := enroll("gw-claim-1")
	typed := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	wantError(t, claim(viewer, "gw-claim-1", code, "Rig"), 403, "Missing permission: gateways:claim")
	// A software identity has no verified EK: the claim binds the site and
	// records the claimer, and an admin approves.
	r := claim(engineer, "gw-claim-1", typed, "Offshore Rig Alpha")
	wantStatus(t, r, 202)
	if r.body["status"] != "pending" || r.body["site"] != "Offshore Rig Alpha" || r.body["claimed_by"] != "tech@example.com" {
		t.Fatalf("claimed gateway: %s", r.raw)
	}
	_, err := gw.ObtainToken(ctx)
	wantAPIStatus(t, err, 403)
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-claim-1/approve", admin, nil), 200)
	if _, err := gw.ObtainToken(ctx); err != nil {
		t.Fatalf("approved gateway gets no token: %v", err)
	}
	wantError(t, claim(engineer, "gw-claim-1", code, "Elsewhere"), 403, "already used")

	_, code2 := enroll("gw-claim-2")
	_, other := enroll("gw-claim-3")
	wantError(t, claim(engineer, "gw-claim-2", other, "Rig"), 403, "does not match") // another gateway's code
	wantError(t, claim(engineer, "gw-claim-2", "7KQ2M-9XH4R-Z", "Rig"), 403, "does not match")
	for i := 0; i < 3; i++ {
		claim(engineer, "gw-claim-2", other, "Rig")
	}
	r = claim(engineer, "gw-claim-2", code2, "Rig") // right code, but the gateway is locked now
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 5 wrong codes: %d %s", r.status, r.raw)
	}

	_, code4 := enroll("gw-claim-4")
	clk := &clock{}
	e.gw.Now = clk.now
	clk.advance(8 * 24 * time.Hour)
	wantError(t, claim(admin, "gw-claim-4", code4, "Rig"), 403, "expired")

	var body map[string]any
	page := e.do("GET", "/claim?gateway=gw-claim-4&code="+code4, "", nil)
	if page.status != 200 || !strings.Contains(string(page.raw), "/claim.js") || json.Unmarshal(page.raw, &body) == nil {
		t.Fatalf("claim page: %d", page.status)
	}
}

// TestGatewayAccessScopesUsers: a user whose gateway_access names a site
// sees and manages only that site's gateways.
func TestGatewayAccessScopesUsers(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	for _, site := range []string{"North", "South"} {
		_, value := e.enrollmentToken(admin, 1, site)
		if _, err := e.gateway("gw-"+strings.ToLower(site)).Enroll(ctx, value, "h", nil); err != nil {
			t.Fatal(err)
		}
	}
	northAdmin := e.user("north@example.com", []string{rbac.Admin}, "North")
	r := e.do("GET", "/api/v1/gateways", northAdmin, nil)
	if !strings.Contains(string(r.raw), "gw-north") || strings.Contains(string(r.raw), "gw-south") {
		t.Fatalf("list: %s", r.raw)
	}
	wantStatus(t, e.do("GET", "/api/v1/gateways/gw-south", northAdmin, nil), 404)
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-south/approve", northAdmin, nil), 404)
	wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-south/config", northAdmin, map[string]any{"config": map[string]any{}}), 404)
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-north/approve", northAdmin, nil), 200)
	all := e.do("GET", "/api/v1/gateways?status=pending", admin, nil)
	if !strings.Contains(string(all.raw), "gw-south") || strings.Contains(string(all.raw), "gw-north") {
		t.Fatalf("admin pending list: %s", all.raw)
	}
}

// TestEnrollmentIsRateLimited: enrollments and token requests per client
// IP are bounded (STREAMFORGE_GATEWAY_RATE_LIMIT). An enrollment is two
// requests: its nonce, then the signed request.
func TestEnrollmentIsRateLimited(t *testing.T) {
	e := newEnv(t, "", "", func(o *api.Options, _ *api.Deps) { o.GatewayRateLimit = 6 })
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	_, value := e.enrollmentToken(admin, 10, "")
	for i := 0; i < 3; i++ {
		if _, err := e.gateway(fmt.Sprintf("gw-rate-%d", i)).Enroll(ctx, value, "h", nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.gateway("gw-rate-3").Enroll(ctx, value, "h", nil)
	wantAPIStatus(t, err, 429)
}

// TestConcurrentTokenChecksAnswerEachGateway: token checks that arrive
// together share one database query; each request must still get its own
// gateway's answer (a disabled gateway's requests 401, the others 200).
func TestConcurrentTokenChecksAnswerEachGateway(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		ctx := context.Background()
		admin := e.login(adminEmail, adminPassword)
		_, value := e.enrollmentToken(admin, 40, "")
		var gws []*controlplane.Client
		for i := range 40 {
			gw := e.gateway(fmt.Sprintf("gw-batch-%02d", i))
			if _, err := gw.Enroll(ctx, value, "h", nil); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, e.do("POST", "/api/v1/gateways/"+gw.GatewayID+"/approve", admin, nil), 200)
			if _, err := gw.ObtainToken(ctx); err != nil {
				t.Fatal(err)
			}
			gws = append(gws, gw)
		}
		for i := 0; i < len(gws); i += 3 {
			wantStatus(t, e.do("POST", "/api/v1/gateways/"+gws[i].GatewayID+"/disable", admin, nil), 200)
		}
		errs := make([]error, len(gws)*5)
		done := make(chan struct{})
		for round := range 5 {
			for i, gw := range gws {
				go func() {
					defer func() { done <- struct{}{} }()
					errs[round*len(gws)+i] = gw.Heartbeat(ctx, wire.Heartbeat{Status: "ok"})
				}()
			}
		}
		for range errs {
			<-done
		}
		for k, err := range errs {
			i := k % len(gws)
			if i%3 == 0 {
				if !controlplane.IsStatus(err, 401) {
					t.Errorf("disabled %s: %v, want 401", gws[i].GatewayID, err)
				}
			} else if err != nil {
				t.Errorf("approved %s: %v", gws[i].GatewayID, err)
			}
		}
	})
}
