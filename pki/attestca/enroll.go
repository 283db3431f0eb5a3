package attestca

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/google/go-attestation/attest"
)

// Evidence is what an enrolling gateway sends about its TPM (JSON, byte
// fields base64).
type Evidence struct {
	// EKPublic is the endorsement key, PKIX DER.
	EKPublic []byte `json:"ek_public"`
	// EKCertificate is the EK certificate, DER; empty when the TPM has none.
	EKCertificate []byte   `json:"ek_certificate,omitempty"`
	AK            AKParams `json:"ak"`
	// TPM is what the agent read from the TPM. It is only a claim: the
	// cloud prefers the details in a verified EK certificate.
	TPM TPMDetails `json:"tpm"`
}

// AKParams are attest.AttestationParameters with stable JSON names.
type AKParams struct {
	Public            []byte `json:"public"`
	CreateData        []byte `json:"create_data"`
	CreateAttestation []byte `json:"create_attestation"`
	CreateSignature   []byte `json:"create_signature"`
}

// NewAKParams converts go-attestation's parameters.
func NewAKParams(p attest.AttestationParameters) AKParams {
	return AKParams{p.Public, p.CreateData, p.CreateAttestation, p.CreateSignature}
}

func (p AKParams) attest() attest.AttestationParameters {
	return attest.AttestationParameters{Public: p.Public, CreateData: p.CreateData, CreateAttestation: p.CreateAttestation, CreateSignature: p.CreateSignature}
}

// Credential is the credential activation challenge sent to the gateway.
type Credential struct {
	Credential []byte `json:"credential"`
	Secret     []byte `json:"secret"`
}

// Encrypted is the challenge as go-attestation's ActivateCredential takes it.
func (c Credential) Encrypted() attest.EncryptedCredential {
	return attest.EncryptedCredential{Credential: c.Credential, Secret: c.Secret}
}

// Enrollment is the cloud's result of an enrollment request.
type Enrollment struct {
	// EK says whether the EK is verified; an unverified EK is held for an
	// admin, with EK.Reason shown.
	EK EKResult
	// TPM goes into the AK certificate: from the verified EK certificate,
	// else the agent's claim.
	TPM TPMDetails
	// State is kept (e.g. as JSON) until the gateway answers.
	State ChallengeState
	// Credential is sent back to the gateway.
	Credential Credential
}

// DefaultChallengeTTL is how long a gateway has to answer activation.
const DefaultChallengeTTL = 5 * time.Minute

// Enroll checks a gateway's evidence and makes its credential activation
// challenge. Errors mean the evidence is malformed or inconsistent (refuse
// with 400); an EK that is merely unknown is not an error.
func (r *EKRoots) Enroll(ev Evidence, ttl time.Duration) (Enrollment, error) {
	if ttl <= 0 {
		ttl = DefaultChallengeTTL
	}
	pub, err := x509.ParsePKIXPublicKey(ev.EKPublic)
	if err != nil {
		return Enrollment{}, fmt.Errorf("EK public key: %w", err)
	}
	ek, err := r.VerifyEK(crypto.PublicKey(pub), ev.EKCertificate)
	if err != nil {
		return Enrollment{}, err
	}
	st, cred, err := NewChallenge(pub, ev.AK.attest(), ttl)
	if err != nil {
		return Enrollment{}, err
	}
	tpm := ev.TPM
	if ek.Verified && complete(ek.TPM) {
		tpm = ek.TPM
	}
	return Enrollment{EK: ek, TPM: tpm, State: st, Credential: Credential{cred.Credential, cred.Secret}}, nil
}
