package gateways

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/attestca"
)

// errBadEvidence answers TPM evidence that does not verify.
var errBadEvidence = &ValidationError{"identity.evidence", "the TPM evidence (EK, EK certificate, AK parameters) does not verify"}

// ErrActivation means a TPM's answer to credential activation was wrong,
// late, or for a key the TPM did not certify.
var ErrActivation = errors.New("TPM credential activation failed")

// enrolledIdentity is what an enrollment binds a gateway to.
type enrolledIdentity struct {
	fingerprint string // the EK's for a TPM, the key's otherwise: claim code and binding
	ekVerified  bool
	ekReason    string
	tpmInfo     string
	cert        string
	state       string
	credential  json.RawMessage
}

// identityOf checks the identity an enrollment carries. For a TPM it
// verifies the EK certificate against the manufacturer roots (an unknown
// root is not an error: the gateway is flagged for review) and makes the
// credential activation challenge.
func (s *Enrollment) identityOf(req *wire.EnrollRequest, keyFingerprint string) (enrolledIdentity, error) {
	if req.Identity.Kind == "key" {
		return enrolledIdentity{fingerprint: keyFingerprint}, nil
	}
	var ev attestca.Evidence
	if err := json.Unmarshal(req.Identity.Evidence, &ev); err != nil {
		return enrolledIdentity{}, &ValidationError{"identity.evidence", "TPM evidence (EK, EK certificate, AK parameters) is required"}
	}
	if req.Identity.Certification == nil {
		return enrolledIdentity{}, &ValidationError{"identity.certification", "the AK's certification of the identity key is required"}
	}
	roots := s.set.EKRoots
	if roots == nil {
		roots = attestca.NoEKRoots()
	}
	en, err := roots.Enroll(ev, attestca.DefaultChallengeTTL)
	if err != nil {
		// The attestation library's text stays in the error chain for logs;
		// clients see only that the evidence does not verify.
		return enrolledIdentity{}, fmt.Errorf("%w: %w", errBadEvidence, err)
	}
	state, _ := json.Marshal(en.State)
	cred, _ := json.Marshal(en.Credential)
	info, _ := json.Marshal(en.TPM)
	cert, _ := json.Marshal(req.Identity.Certification)
	return enrolledIdentity{fingerprint: en.EK.Fingerprint, ekVerified: en.EK.Verified, ekReason: en.EK.Reason,
		tpmInfo: string(info), cert: string(cert), state: string(state), credential: cred}, nil
}

// Activate checks a TPM's answer to the credential activation challenge,
// and that the AK (now proven to share the TPM with the EK) certified the
// identity key. Then the gateway becomes pending (or keeps its status if it
// was enrolled before). The challenge is single-use whatever the outcome.
func (s *Enrollment) Activate(ctx context.Context, m Meta, req wire.ActivateRequest) (wire.EnrollResponse, error) {
	m.Actor = "gateway:" + req.GatewayID
	if err := ValidID(req.GatewayID); err != nil {
		return wire.EnrollResponse{}, err
	}
	var out wire.EnrollResponse
	var failure error
	err := s.repo.InTx(ctx, func(tx EnrollmentTx) error {
		g, err := load(tx, req.GatewayID, true)
		if err != nil || g.ActivationState == "" {
			failure = fmt.Errorf("%w: no activation outstanding", ErrActivation)
			return nil
		}
		failure = checkActivation(g, req.Secret, s.set.Now())
		if failure == nil {
			g.AttestedState = g.ActivationState
		}
		g.ActivationState = ""
		ev := m.Event("gateway.attest", "gateway", g.ID, "activate", audit.ResultSuccess)
		ev.Changes = map[string]audit.Change{"ek_fingerprint": {New: g.IdentityFingerprint}, "ek_verified": {New: g.EKVerified},
			"ek_reason": {New: g.EKReason}, "tpm": {New: g.TPMInfo}}
		if failure != nil {
			ev.Result, ev.Reason = audit.ResultFailure, failure.Error()
		} else if g.Status == store.GatewayActivating {
			g.Status = store.GatewayPending
		}
		if err := tx.SaveGateway(g); err != nil {
			return err
		}
		// The claim code was returned by the enrollment and is not kept.
		out = wire.EnrollResponse{GatewayID: g.ID, Status: g.Status, Site: g.Site, EKVerified: g.EKVerified,
			ClaimExpiresAt: g.ClaimExpiresAt}
		return tx.Audit(ev)
	})
	if err != nil {
		return out, err
	}
	if failure != nil {
		return wire.EnrollResponse{}, failure
	}
	return out, nil
}

func checkActivation(g *store.Gateway, secret []byte, now time.Time) error {
	var st attestca.ChallengeState
	if err := json.Unmarshal([]byte(g.ActivationState), &st); err != nil {
		return fmt.Errorf("%w: stored challenge unreadable", ErrActivation)
	}
	if err := st.Verify(secret, now); err != nil {
		return fmt.Errorf("%w: %v", ErrActivation, err)
	}
	ak, err := st.AKPublicKey()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrActivation, err)
	}
	var kc wire.KeyCertification
	if err := json.Unmarshal([]byte(g.KeyCertification), &kc); err != nil {
		return fmt.Errorf("%w: key certification unreadable", ErrActivation)
	}
	cp := attest.CertificationParameters{Public: kc.Public, CreateData: kc.CreateData,
		CreateAttestation: kc.CreateAttestation, CreateSignature: kc.CreateSignature}
	if err := cp.Verify(attest.VerifyOpts{Public: ak, Hash: crypto.SHA256}); err != nil {
		return fmt.Errorf("%w: the identity key is not certified by this TPM's AK: %v", ErrActivation, err)
	}
	if err := sameKey(kc.Public, g.IdentityKey); err != nil {
		return fmt.Errorf("%w: %v", ErrActivation, err)
	}
	return nil
}

// sameKey checks that the TPM-certified public area is the identity key.
func sameKey(tpmPublic []byte, identityPEM string) error {
	pub, err := tpm2.DecodePublic(tpmPublic)
	if err != nil {
		return fmt.Errorf("certified key: %v", err)
	}
	k, err := pub.Key()
	if err != nil {
		return fmt.Errorf("certified key: %v", err)
	}
	certified, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return err
	}
	claimed, _, err := wire.ParsePublicKeyPEM(identityPEM)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(claimed)
	if err != nil || !bytes.Equal(der, certified) {
		return errors.New("the identity key is not the key the TPM certified")
	}
	return nil
}
