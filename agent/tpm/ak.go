package tpm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/google/go-attestation/attest"

	"github.com/streamforge/streamforge/internal/durable"
)

const akBlob = "ak.blob"

// LoadOrCreateAK loads the AK kept in the data dir, or creates an RSA AK
// (step-ca's tpm attestation format accepts RSA AKs only) and keeps its
// TPM-wrapped blob there.
func (t *TPM) LoadOrCreateAK() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ak != nil {
		return nil
	}
	blob, err := os.ReadFile(t.path(akBlob))
	switch {
	case err == nil:
		ak, err := t.at.LoadAK(blob)
		if err != nil {
			return fmt.Errorf("load AK from %s: %w", t.path(akBlob), err)
		}
		t.ak = ak
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read AK blob: %w", err)
	}
	ak, err := t.at.NewAK(&attest.AKConfig{Algorithm: attest.RSA})
	if err != nil {
		return fmt.Errorf("create AK: %w", err)
	}
	if blob, err = ak.Marshal(); err == nil {
		err = writeFileAtomic(t.path(akBlob), blob)
	}
	if err != nil {
		_ = ak.Close(t.at)
		return fmt.Errorf("keep AK blob: %w", err)
	}
	t.ak = ak
	t.log.Info("created TPM attestation key", "blob", t.path(akBlob))
	return nil
}

// ErrNoAK means LoadOrCreateAK has not run.
var ErrNoAK = errors.New("tpm: attestation key not loaded")

// AttestationParameters are what the cloud needs, with the EK, to run
// credential activation against the AK.
func (t *TPM) AttestationParameters() (attest.AttestationParameters, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ak == nil {
		return attest.AttestationParameters{}, ErrNoAK
	}
	return t.ak.AttestationParameters(), nil
}

// ActivateCredential decrypts the cloud's challenge with the EK and AK: only
// the TPM holding both can answer it.
func (t *TPM) ActivateCredential(c attest.EncryptedCredential) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ak == nil {
		return nil, ErrNoAK
	}
	secret, err := t.ak.ActivateCredentialWithEK(t.at, c, t.ek)
	if err != nil {
		return nil, fmt.Errorf("activate credential: %w", err)
	}
	return secret, nil
}

// writeFileAtomic keeps a key blob whole across a power cut.
func writeFileAtomic(path string, data []byte) error {
	return durable.WriteFile(path, data, 0o600)
}
