package attestca

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"
)

// Errors a gateway can cause in activation.
var (
	ErrActivationFailed  = errors.New("credential activation failed: the AK is not in the TPM holding this EK")
	ErrChallengeExpired  = errors.New("credential activation challenge expired")
	ErrAKNotRSA          = errors.New("attestation key must be RSA (step-ca's tpm format refuses others)")
	ErrChallengeNotFound = errors.New("no credential activation challenge is pending")
)

// ChallengeState is what the cloud keeps between sending a credential
// activation challenge and checking the answer. It holds the SHA-256 of the
// secret, never the secret, and can be stored as JSON.
type ChallengeState struct {
	// EKPublic is the EK's PKIX DER encoding.
	EKPublic []byte `json:"ek_public"`
	// AKPublic is the AK's TPMT_PUBLIC, as in attest.AttestationParameters.
	AKPublic   []byte    `json:"ak_public"`
	SecretHash []byte    `json:"secret_hash"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// NewChallenge checks that ak was created by a TPM as a restricted RSA
// signing key, and makes a challenge only the TPM holding both ekPub and
// the AK can decrypt (TPM2_MakeCredential). Send the EncryptedCredential to
// the gateway; keep the state.
func NewChallenge(ekPub crypto.PublicKey, ak attest.AttestationParameters, ttl time.Duration) (ChallengeState, attest.EncryptedCredential, error) {
	var none attest.EncryptedCredential
	pub, err := tpm2.DecodePublic(ak.Public)
	if err != nil {
		return ChallengeState{}, none, fmt.Errorf("decode AK public: %w", err)
	}
	if pub.Type != tpm2.AlgRSA {
		return ChallengeState{}, none, ErrAKNotRSA
	}
	ekDER, err := x509.MarshalPKIXPublicKey(ekPub)
	if err != nil {
		return ChallengeState{}, none, fmt.Errorf("EK public key: %w", err)
	}
	params := attest.ActivationParameters{EK: ekPub, AK: ak}
	secret, cred, err := params.Generate()
	if err != nil {
		return ChallengeState{}, none, fmt.Errorf("AK attestation parameters: %w", err)
	}
	h := sha256.Sum256(secret)
	return ChallengeState{
		EKPublic:   ekDER,
		AKPublic:   ak.Public,
		SecretHash: h[:],
		ExpiresAt:  time.Now().Add(ttl),
	}, *cred, nil
}

// Verify checks, in constant time, the secret the gateway decrypted.
func (s ChallengeState) Verify(secret []byte, now time.Time) error {
	if now.After(s.ExpiresAt) {
		return ErrChallengeExpired
	}
	h := sha256.Sum256(secret)
	if len(s.SecretHash) != sha256.Size || subtle.ConstantTimeCompare(h[:], s.SecretHash) != 1 {
		return ErrActivationFailed
	}
	return nil
}

// AKPublicKey is the AK's public key.
func (s ChallengeState) AKPublicKey() (*rsa.PublicKey, error) {
	pub, err := tpm2.DecodePublic(s.AKPublic)
	if err != nil {
		return nil, fmt.Errorf("decode AK public: %w", err)
	}
	k, err := pub.Key()
	if err != nil {
		return nil, fmt.Errorf("AK public key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, ErrAKNotRSA
	}
	return rk, nil
}
