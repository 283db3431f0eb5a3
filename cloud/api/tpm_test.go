package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/agent/tpm"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// swGateway is a gateway whose identity key lives in a fresh swtpm.
type swGateway struct {
	sw       *testenv.SwTPM
	tpm      *tpm.TPM
	key      *tpm.Key
	attestor tpm.Attestor
}

func newSwGateway(t *testing.T) *swGateway { return newSwGatewayTB(t) }

func newSwGatewayTB(t testing.TB) *swGateway {
	t.Helper()
	sw := testenv.StartSwTPM(t)
	tp, err := tpm.Open(tpm.Config{Path: sw.Path, DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	if err := tp.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	key, err := tp.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &swGateway{sw: sw, tpm: tp, key: key, attestor: tpm.Attestor{TPM: tp, Key: key}}
}

func (g *swGateway) client(e *env, id string) *controlplane.Client {
	c := controlplane.NewClient(e.base, id, g.key)
	c.Attestor = g.attestor
	return c
}

// rawEnroll sends an enrollment without answering its activation.
func rawEnroll(t *testing.T, e *env, id, token string, signer *swGateway) resp {
	t.Helper()
	ev, cert, err := signer.attestor.Evidence()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := wire.PublicKeyPEM(signer.key.Public())
	req := wire.EnrollRequest{GatewayID: id, EnrollmentToken: token, Nonce: e.enrollNonce(id),
		Identity: wire.Identity{Kind: "tpm", PublicKey: pub, Evidence: ev, Certification: cert}}
	if err := wire.SignEnroll(signer.key, &req); err != nil {
		t.Fatal(err)
	}
	return e.do("POST", "/api/v1/gateways/enroll", "", req)
}

// TestTPMEnrollment: enrollment with TPM evidence against swtpm. The EK
// certificate is checked against the manufacturer roots, credential
// activation proves the AK shares the TPM with the EK and that the AK
// certified the identity key, and the gateway (and its claim code) is bound
// to the EK. Each attack is refused with a clear error.
func TestTPMEnrollment(t *testing.T) {
	ctx := context.Background()
	gw := newSwGateway(t)
	e := newEnv(t, "", "")
	roots, err := attestca.LoadEKRoots(gw.sw.CADir)
	if err != nil {
		t.Fatal(err)
	}
	e.gw.EKRoots = roots
	admin := e.login(adminEmail, adminPassword)
	_, token := e.enrollmentToken(admin, 20, "")

	t.Run("ok-verified-ek", func(t *testing.T) {
		res, err := gw.client(e, "gw-tpm-1").Enroll(ctx, token, "edge", nil)
		if err != nil || res.Status != "pending" || !res.EKVerified {
			t.Fatalf("%+v %v", res, err)
		}
		// A verified EK: the claim code read off the device approves it.
		claimed := e.do("POST", "/api/v1/gateways/claim", admin, map[string]string{"gateway_id": "gw-tpm-1", "claim_code": res.ClaimCode, "site": "Rig"})
		if claimed.status != 200 || claimed.body["status"] != "approved" {
			t.Fatalf("claim of a verified TPM: %d %s", claimed.status, claimed.raw)
		}
		if _, err := gw.client(e, "gw-tpm-1").ObtainToken(ctx); err != nil {
			t.Fatalf("token for the TPM key: %v", err)
		}
		if got := e.records(admin, "event_type=gateway.attest&resource_id=gw-tpm-1"); len(got) != 1 || got[0]["result"] != "success" {
			t.Fatalf("attestation evidence not audited: %v", got)
		}
		client := gw.client(e, "gw-tpm-1")
		if _, err := client.ObtainToken(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = client.AKCertificate(ctx)
		wantAPIStatus(t, err, 503) // no attestation CA configured yet
		if e.gw.AttestCA, err = attestca.Init(t.TempDir()); err != nil {
			t.Fatal(err)
		}
		chain, err := client.AKCertificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ak, err := attestca.ParseAKCert(chain[0])
		if id, enrollment := stepca.SplitPermanentID(ak.GatewayID); err != nil || id != "gw-tpm-1" || enrollment == "" ||
			ak.Cert.CheckSignatureFrom(e.gw.AttestCA.Certificate()) != nil {
			t.Fatalf("AK certificate: %+v %v", ak, err)
		}
		if life := ak.Cert.NotAfter.Sub(ak.Cert.NotBefore); life > 2*time.Hour {
			t.Fatalf("AK certificate lives %s; it is needed for one ACME ceremony", life)
		}
		params, _ := gw.tpm.AttestationParameters()
		if !bytes.Contains(params.Public, ak.Cert.PublicKey.(*rsa.PublicKey).N.Bytes()) {
			t.Fatal("the AK certificate is not for this TPM's AK")
		}
	})
	t.Run("re-enrollment-keeps-the-attestation", func(t *testing.T) {
		r := rawEnroll(t, e, "gw-tpm-1", token, gw)
		if r.status != 202 || r.body["status"] != "approved" || r.body["credential"] != nil {
			t.Fatalf("replay: %d %s", r.status, r.raw)
		}
		wantError(t, e.do("POST", "/api/v1/gateways/activate", "", wire.ActivateRequest{GatewayID: "gw-tpm-1", Secret: []byte("x")}), 401, "TPM credential activation failed")
	})
	t.Run("fail-second-tpm-takes-over-the-id", func(t *testing.T) {
		other := newSwGateway(t)
		_, err := other.client(e, "gw-tpm-1").Enroll(ctx, token, "edge", nil)
		wantAPIStatus(t, err, 409)
	})
	t.Run("fail-activation-answered-by-another-tpm", func(t *testing.T) {
		r := rawEnroll(t, e, "gw-tpm-2", token, gw)
		if r.body["status"] != "activating" {
			t.Fatalf("%s", r.raw)
		}
		other := newSwGateway(t)
		secret, err := other.attestor.ActivateCredential(json.RawMessage(mustJSON(r.body["credential"])))
		if err == nil {
			t.Fatal("another TPM decrypted the challenge")
		}
		secret = make([]byte, 32) // what a TPM that cannot decrypt is left to guess
		_, _ = rand.Read(secret)
		wantError(t, e.do("POST", "/api/v1/gateways/activate", "", wire.ActivateRequest{GatewayID: "gw-tpm-2", Secret: secret}), 401, "activation failed")
		wantError(t, e.do("POST", "/api/v1/gateways/activate", "", wire.ActivateRequest{GatewayID: "gw-tpm-2", Secret: secret}), 401, "TPM credential activation failed")
		g := e.do("GET", "/api/v1/gateways/gw-tpm-2", admin, nil)
		if g.body["status"] != "activating" {
			t.Fatalf("gateway after a failed activation: %s", g.raw)
		}
		wantError(t, e.do("POST", "/api/v1/gateways/gw-tpm-2/approve", admin, nil), 409, "state")
	})
	t.Run("fail-identity-key-outside-the-tpm", func(t *testing.T) {
		soft, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c := controlplane.NewClient(e.base, "gw-tpm-3", soft)
		c.Attestor = gw.attestor // real TPM evidence, but the key it certified is not this one
		_, err := c.Enroll(ctx, token, "edge", nil)
		wantAPIStatus(t, err, 401)
	})
	t.Run("unknown-ek-root-goes-to-review", func(t *testing.T) {
		e2 := newEnv(t, "", "")
		admin2 := e2.login(adminEmail, adminPassword)
		_, token2 := e2.enrollmentToken(admin2, 1, "")
		res, err := gw.client(e2, "gw-tpm-review").Enroll(ctx, token2, "edge", nil)
		if err != nil || res.Status != "pending" || res.EKVerified {
			t.Fatalf("%+v %v", res, err)
		}
		v := e2.do("GET", "/api/v1/gateways/gw-tpm-review", admin2, nil)
		if v.body["ek_verified"] != false || v.body["ek_reason"] == "" {
			t.Fatalf("review flag missing: %s", v.raw)
		}
		// Its claim code binds the site and records the claimer, but an
		// unknown EK root is never approved by a claim.
		tech := e2.user("tech@example.com", []string{rbac.Engineer}, "*")
		claimed := e2.do("POST", "/api/v1/gateways/claim", tech, map[string]string{"gateway_id": "gw-tpm-review", "claim_code": res.ClaimCode, "site": "Rig"})
		if claimed.status != 202 || claimed.body["status"] != "pending" || claimed.body["claimed_by"] != "tech@example.com" || claimed.body["ek_verified"] != false {
			t.Fatalf("claim of an unverified EK: %d %s", claimed.status, claimed.raw)
		}
		_, err = gw.client(e2, "gw-tpm-review").ObtainToken(ctx)
		wantAPIStatus(t, err, 403)
		if got := e2.records(admin2, "event_type=gateway.claim&resource_id=gw-tpm-review"); len(got) != 1 || got[0]["approved_by"] != nil {
			t.Fatalf("claim audit: %v", got)
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
