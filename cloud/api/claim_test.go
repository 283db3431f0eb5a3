package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// derivedClaimCode is how claim codes used to be made: a function of the
// identity fingerprint that GET /api/v1/gateways and the gateway.enroll
// audit record show. An attacker who can read those computes it so.
func derivedClaimCode(fingerprint string) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	raw, _ := hex.DecodeString(fingerprint)
	h := sha256.Sum256(append([]byte("streamforge-claim-v1"), raw...))
	v := binary.BigEndian.Uint64(h[:8]) >> 14
	var b strings.Builder
	for i := 9; i >= 0; i-- {
		b.WriteByte(alphabet[(v>>(5*uint(i)))&31])
		if i == 5 {
			b.WriteByte('-')
		}
	}
	return b.String() + "-" + string((alphabet + "*~$=U")[v%37])
}

func claimReq(e *env, tok, id, code, site string) resp {
	e.t.Helper()
	return e.do("POST", "/api/v1/gateways/claim", tok, map[string]string{"gateway_id": id, "claim_code": code, "site": site})
}

// TestClaimCodeIsASecretOfTheDevice: an Engineer who reads the gateway list
// and the audit trail cannot compute the claim code (the old derivation
// from the identity fingerprint is refused), and the real code appears in
// no API answer, audit record or database column; only its hash is kept
// (on SQLite and PostgreSQL).
func TestClaimCodeIsASecretOfTheDevice(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		ctx := context.Background()
		admin := e.login(adminEmail, adminPassword)
		engineer := e.user("eng@example.com", []string{rbac.Engineer}, "*")
		_, value := e.enrollmentToken(admin, 1, "Plant")
		res, err := e.gateway("gw-secret").Enroll(ctx, value, "edge", nil)
		if err != nil || res.ClaimCode == "" {
			t.Fatalf("enroll: %+v %v", res, err)
		}

		list := e.do("GET", "/api/v1/gateways", engineer, nil)
		var fp string
		if gws, _ := list.body["gateways"].([]any); len(gws) == 1 {
			fp, _ = gws[0].(map[string]any)["identity_fingerprint"].(string)
		}
		if len(fp) != 64 {
			t.Fatalf("fingerprint not found in %s", list.raw)
		}
		wantError(t, claimReq(e, engineer, "gw-secret", derivedClaimCode(fp), "Plant"), 403, "does not match")

		plain := strings.ReplaceAll(res.ClaimCode, "-", "")
		seen := map[string][]byte{
			"gateway list":  list.raw,
			"gateway":       e.do("GET", "/api/v1/gateways/gw-secret", admin, nil).raw,
			"audit records": e.do("GET", "/api/v1/audit?resource_id=gw-secret", admin, nil).raw,
		}
		var row map[string]any
		if err := e.store.DB.Table("gateways").Where("id = ?", "gw-secret").Take(&row).Error; err != nil {
			t.Fatal(err)
		}
		seen["gateways row"] = []byte(fmt.Sprint(row))
		for where, raw := range seen {
			if strings.Contains(string(raw), res.ClaimCode) || strings.Contains(string(raw), plain) {
				t.Errorf("the claim code appears in the %s", where)
			}
		}
		if h, _ := row["claim_code_hash"].(string); !strings.HasPrefix(h, "$argon2id$") {
			t.Errorf("stored claim code hash %q is not argon2id", h)
		}
		// The code read off the device still works.
		wantStatus(t, claimReq(e, engineer, "gw-secret", res.ClaimCode, "Plant"), 202)
	})
}

// TestClaimNeedsAccessToTheGatewaysCurrentSite: access to the target site
// is not enough; the claimer must also reach the gateway where it is now.
func TestClaimNeedsAccessToTheGatewaysCurrentSite(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	north := e.user("north@example.com", []string{rbac.Engineer}, "North")
	_, value := e.enrollmentToken(admin, 1, "South")
	res, err := e.gateway("gw-south-1").Enroll(ctx, value, "edge", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, claimReq(e, north, "gw-south-1", res.ClaimCode, "North"), 403, "does not match")
	g := e.do("GET", "/api/v1/gateways/gw-south-1", admin, nil)
	if g.body["site"] != "South" || g.body["claimed_by"] != nil {
		t.Fatalf("gateway moved by a user outside its site: %s", g.raw)
	}
	south := e.user("south@example.com", []string{rbac.Engineer}, "South")
	wantError(t, claimReq(e, south, "gw-south-1", res.ClaimCode, "North"), 400, "outside your gateway access")
	wantStatus(t, claimReq(e, south, "gw-south-1", res.ClaimCode, "South"), 202)
}

// TestOutsidersCannotLockAGatewayOut: wrong codes from a user who cannot
// see the gateway count against that user only; the gateway's technician
// still claims it. Wrong codes from a user who can see it do lock it.
func TestOutsidersCannotLockAGatewayOut(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	outsider := e.user("outsider@example.com", []string{rbac.Engineer}, "North")
	insider := e.user("insider@example.com", []string{rbac.Engineer}, "South")
	_, value := e.enrollmentToken(admin, 2, "South")
	res, err := e.gateway("gw-locked").Enroll(ctx, value, "edge", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r := claimReq(e, outsider, "gw-locked", "7KQ2M-9XH4R-Z", "North")
		if r.status != 403 && r.status != 429 {
			t.Fatalf("outsider attempt %d: %d %s", i, r.status, r.raw)
		}
	}
	wantStatus(t, claimReq(e, insider, "gw-locked", res.ClaimCode, "South"), 202)

	res2, err := e.gateway("gw-locked-2").Enroll(ctx, value, "edge", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		wantStatus(t, claimReq(e, insider, "gw-locked-2", "7KQ2M-9XH4R-Z", "South"), 403)
	}
	r := claimReq(e, insider, "gw-locked-2", res2.ClaimCode, "South")
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 5 wrong codes from a user who sees it: %d %s", r.status, r.raw)
	}
}
