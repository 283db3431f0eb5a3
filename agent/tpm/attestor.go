package tpm

import (
	"encoding/json"
	"fmt"

	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/attestca"
)

// Attestor gives the control plane's enrollment the TPM's evidence and the
// AK's certification of the identity key, and answers credential
// activation (agent/controlplane.Attestor).
type Attestor struct {
	TPM *TPM
	Key *Key
}

// Evidence returns the EK, EK certificate and AK parameters, and the
// identity key's certification.
func (a Attestor) Evidence() (json.RawMessage, *wire.KeyCertification, error) {
	ev, err := a.TPM.Evidence()
	if err != nil {
		return nil, nil, err
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, err
	}
	p := a.Key.CertificationParameters()
	return raw, &wire.KeyCertification{Public: p.Public, CreateData: p.CreateData,
		CreateAttestation: p.CreateAttestation, CreateSignature: p.CreateSignature}, nil
}

// ActivateCredential decrypts the control plane's challenge in the TPM.
func (a Attestor) ActivateCredential(credential json.RawMessage) ([]byte, error) {
	var c attestca.Credential
	if err := json.Unmarshal(credential, &c); err != nil {
		return nil, fmt.Errorf("activation challenge: %w", err)
	}
	return a.TPM.ActivateCredential(c.Encrypted())
}
