package tpm

import (
	"crypto"
	"fmt"
	"io"

	"github.com/google/go-attestation/attest"
)

// Key is a signing key created inside the TPM and certified by the AK. Its
// private part never leaves the TPM; Signer uses it through the TPM's lock.
type Key struct {
	t      *TPM
	k      *attest.Key
	signer crypto.Signer
}

// NewKey creates an ECDSA P-256 key in the TPM, certified by the AK over
// qualifyingData (for ACME device-attest-01: sha256 of the key
// authorization, so each order gets a fresh key).
func (t *TPM) NewKey(qualifyingData []byte) (*Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ak == nil {
		return nil, ErrNoAK
	}
	k, err := t.at.NewKey(t.ak, &attest.KeyConfig{Algorithm: attest.ECDSA, Size: 256, QualifyingData: qualifyingData})
	if err != nil {
		return nil, fmt.Errorf("create TPM key: %w", err)
	}
	return t.wrapKey(k)
}

// LoadKey loads a key that Key.Save kept under name in the data dir.
func (t *TPM) LoadKey(name string) (*Key, error) {
	blob, err := readBlob(t.path(name))
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k, err := t.at.LoadKey(blob)
	if err != nil {
		return nil, fmt.Errorf("load TPM key %s: %w", name, err)
	}
	return t.wrapKey(k)
}

func (t *TPM) wrapKey(k *attest.Key) (*Key, error) {
	priv, err := k.Private(k.Public())
	if err != nil {
		_ = k.Close()
		return nil, fmt.Errorf("TPM key signer: %w", err)
	}
	return &Key{t: t, k: k, signer: priv.(crypto.Signer)}, nil
}

// CertificationParameters are the AK's certification of this key: pubArea,
// certInfo (carrying the qualifying data) and the AK's signature.
func (k *Key) CertificationParameters() attest.CertificationParameters {
	return k.k.CertificationParameters()
}

// Save keeps the key's TPM-wrapped blob under name in the data dir.
func (k *Key) Save(name string) error {
	k.t.mu.Lock()
	blob, err := k.k.Marshal()
	k.t.mu.Unlock()
	if err != nil {
		return fmt.Errorf("marshal TPM key: %w", err)
	}
	if err := writeFileAtomic(k.t.path(name), blob); err != nil {
		return fmt.Errorf("keep TPM key blob: %w", err)
	}
	return nil
}

// Close unloads the key from the TPM.
func (k *Key) Close() error {
	k.t.mu.Lock()
	defer k.t.mu.Unlock()
	return k.k.Close()
}

// Public is the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// Sign signs digest inside the TPM. Key is a crypto.Signer usable by
// crypto/tls and x509.CreateCertificateRequest.
func (k *Key) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.t.mu.Lock()
	defer k.t.mu.Unlock()
	return k.signer.Sign(rand, digest, opts)
}
