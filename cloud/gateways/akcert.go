package gateways

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// ErrNoAttestationCA means the control plane has no attestation CA.
var ErrNoAttestationCA = errors.New("no attestation CA configured (STREAMFORGE_ATTESTATION_CA_DIR)")

// AKCertificate issues the AK certificate of an approved TPM gateway whose
// AK passed credential activation, for step-ca's device-attest-01: its
// permanentIdentifier names the gateway and this enrollment, and it lives
// an hour (attestca.DefaultAKCertLifetime). It returns the certificate and the
// attestation CA's certificate (DER).
func (s *Access) AKCertificate(ctx context.Context, m Meta, id string) ([][]byte, error) {
	if s.set.AttestCA == nil {
		return nil, ErrNoAttestationCA
	}
	m.Actor = "gateway:" + id
	g, err := read(ctx, s.repo, id)
	if err != nil {
		return nil, err
	}
	if g.Status != store.GatewayApproved || g.AttestedState == "" || g.EnrollmentID == "" {
		return nil, ErrNotApproved
	}
	var st attestca.ChallengeState
	var details attestca.TPMDetails
	if err := json.Unmarshal([]byte(g.AttestedState), &st); err != nil {
		return nil, fmt.Errorf("attested state of %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(g.TPMInfo), &details); err != nil {
		return nil, fmt.Errorf("TPM details of %s: %w", id, err)
	}
	der, err := s.set.AttestCA.IssueAKCert(attestca.AKCertRequest{Challenge: st,
		GatewayID: stepca.PermanentID(id, g.EnrollmentID), TPM: details})
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("AK certificate of %s: %w", id, err)
	}
	err = s.repo.InTx(ctx, func(tx AccessTx) error {
		ev := m.Event("gateway.ak_certificate.issue", "gateway", id, "issue", audit.ResultSuccess)
		ev.Changes = map[string]audit.Change{"ek_fingerprint": {New: g.IdentityFingerprint}, "tpm": {New: g.TPMInfo}}
		if err := tx.Audit(ev); err != nil {
			return err
		}
		// Kept so that the dashboard can warn before it runs out.
		return tx.SetAKCertExpiry(id, cert.NotAfter.UTC())
	})
	return [][]byte{der, s.set.AttestCA.Certificate().Raw}, err
}
