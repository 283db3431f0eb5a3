package tpm

import (
	"crypto/x509"
	"fmt"

	"github.com/streamforge/streamforge/pki/attestca"
)

// Evidence is what the agent sends at enrollment: EK, EK certificate, AK
// attestation parameters and the TPM's own description.
func (t *TPM) Evidence() (attestca.Evidence, error) {
	params, err := t.AttestationParameters()
	if err != nil {
		return attestca.Evidence{}, err
	}
	pub, cert := t.EK()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return attestca.Evidence{}, fmt.Errorf("encode EK: %w", err)
	}
	ev := attestca.Evidence{EKPublic: der, AK: attestca.NewAKParams(params), TPM: t.Details()}
	if cert != nil {
		ev.EKCertificate = cert.Raw
	}
	return ev, nil
}

// Details describe the TPM in the TCG form AK certificates use.
func (t *TPM) Details() attestca.TPMDetails {
	model := t.info.VendorInfo
	if model == "" {
		model = "unknown"
	}
	return attestca.TPMDetails{
		Manufacturer: fmt.Sprintf("id:%08X", uint32(t.info.Manufacturer)),
		Model:        model,
		Version:      fmt.Sprintf("id:%04X%04X", t.info.FirmwareVersionMajor, t.info.FirmwareVersionMinor),
	}
}

// EKFingerprint is the hex SHA-256 of the EK (attestca.EKFingerprint):
// what the control plane binds the gateway to.
func (t *TPM) EKFingerprint() (string, error) {
	return attestca.EKFingerprint(t.ek.Public)
}
