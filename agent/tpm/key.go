package tpm

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/go-attestation/attest"
)

// Key is a signing key created inside the TPM and certified by the AK. Its
// private part never leaves the TPM; Signer uses it through the TPM's lock.
//
// A TPM without a resource manager (swtpm) holds three objects: the AK, a
// parent key while it is used, and one more. So at most one Key is loaded
// at a time: loading or creating one unloads the others, and a Key reloads
// itself from its TPM-wrapped blob on its next Sign. With a certificate
// renewed once a day that costs one reload a day.
type Key struct {
	t      *TPM
	blob   []byte
	pub    crypto.PublicKey
	params attest.CertificationParameters
	k      *attest.Key // nil while unloaded
	signer crypto.Signer
	closed bool
}

// ErrKeyClosed means the Key was closed.
var ErrKeyClosed = errors.New("tpm: key closed")

// NewKey creates an ECDSA P-256 key in the TPM, certified by the AK over
// qualifyingData (for ACME device-attest-01: sha256 of the key
// authorization, so each order gets a fresh key).
func (t *TPM) NewKey(qualifyingData []byte) (*Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ak == nil {
		return nil, ErrNoAK
	}
	t.unloadKeys()
	ak, err := t.at.NewKey(t.ak, &attest.KeyConfig{Algorithm: attest.ECDSA, Size: 256, QualifyingData: qualifyingData})
	if err != nil {
		return nil, fmt.Errorf("create TPM key: %w", err)
	}
	blob, err := ak.Marshal()
	if err != nil {
		_ = ak.Close()
		return nil, fmt.Errorf("marshal TPM key: %w", err)
	}
	k := &Key{t: t, blob: blob, pub: ak.Public(), params: ak.CertificationParameters()}
	if err := k.attach(ak); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadKey loads a key that Key.Save kept under name in the data dir.
func (t *TPM) LoadKey(name string) (*Key, error) {
	blob, err := readBlob(t.path(name))
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := &Key{t: t, blob: blob}
	if err := k.load(); err != nil {
		return nil, err
	}
	k.pub = k.k.Public()
	k.params = k.k.CertificationParameters()
	return k, nil
}

// load (TPM lock held) makes k the loaded key.
func (k *Key) load() error {
	if k.closed {
		return ErrKeyClosed
	}
	if k.k != nil {
		return nil
	}
	k.t.unloadKeys()
	ak, err := k.t.at.LoadKey(k.blob)
	if err != nil {
		return fmt.Errorf("load TPM key: %w", err)
	}
	return k.attach(ak)
}

func (k *Key) attach(ak *attest.Key) error {
	priv, err := ak.Private(ak.Public())
	if err != nil {
		_ = ak.Close()
		return fmt.Errorf("TPM key signer: %w", err)
	}
	k.k, k.signer = ak, priv.(crypto.Signer)
	k.t.loaded = k
	return nil
}

// unloadKeys (TPM lock held) flushes the loaded Key, if any.
func (t *TPM) unloadKeys() {
	if k := t.loaded; k != nil {
		_ = k.k.Close()
		k.k, k.signer, t.loaded = nil, nil, nil
	}
}

// CertificationParameters are the AK's certification of this key: pubArea,
// certInfo (carrying the qualifying data) and the AK's signature.
func (k *Key) CertificationParameters() attest.CertificationParameters { return k.params }

// Save keeps the key's TPM-wrapped blob under name in the data dir.
func (k *Key) Save(name string) error {
	if err := writeFileAtomic(k.t.path(name), k.blob); err != nil {
		return fmt.Errorf("keep TPM key blob: %w", err)
	}
	return nil
}

// Close unloads the key from the TPM; it cannot sign any more.
func (k *Key) Close() error {
	k.t.mu.Lock()
	defer k.t.mu.Unlock()
	if k.t.loaded == k {
		k.t.unloadKeys()
	}
	k.closed = true
	return nil
}

// Public is the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Sign signs digest inside the TPM. Key is a crypto.Signer usable by
// crypto/tls and x509.CreateCertificateRequest.
func (k *Key) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.t.mu.Lock()
	defer k.t.mu.Unlock()
	if err := k.load(); err != nil {
		return nil, err
	}
	return k.signer.Sign(rand, digest, opts)
}

func readBlob(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key blob: %w", err)
	}
	return b, nil
}
