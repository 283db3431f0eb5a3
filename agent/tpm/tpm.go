// Package tpm is the agent's only door to its TPM: it opens /dev/tpmrm0 or a
// swtpm socket through go-attestation, reads the endorsement key, keeps the
// attestation key (AK) and creates TLS keys that never leave the TPM,
// certified by the AK for ACME device-attest-01. go-attestation does no
// locking and swtpm has no resource manager, so every TPM command goes
// through one mutex owned by TPM.
package tpm

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/go-attestation/attest"
)

// Config says where the TPM is and where its key blobs are kept.
type Config struct {
	// Path is a device (/dev/tpmrm0) or a swtpm socket ("unix:/path",
	// "tcp:127.0.0.1:2321").
	Path string
	// DataDir keeps ak.blob and tls-key.blob (wrapped by the TPM, useless
	// elsewhere).
	DataDir string
	Logger  *slog.Logger
}

// DefaultPath is the kernel's TPM resource manager.
const DefaultPath = "/dev/tpmrm0"

// TPM serialises all access to one TPM.
type TPM struct {
	mu   sync.Mutex
	at   *attest.TPM
	ch   *channel // the same channel, for commands go-attestation lacks (Seal)
	dir  string
	log  *slog.Logger
	ek   attest.EK
	info attest.TPMInfo
	ak   *attest.AK
	// loaded is the one Key loaded in the TPM (see Key).
	loaded *Key
}

// Open opens the TPM at cfg.Path and reads its RSA endorsement key.
func Open(cfg Config) (*TPM, error) {
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("tpm data dir: %w", err)
	}
	ch, err := openChannel(cfg.Path)
	if err != nil {
		return nil, err
	}
	at, err := attest.OpenTPM(&attest.OpenConfig{CommandChannel: ch})
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("open TPM %s: %w", cfg.Path, err)
	}
	t := &TPM{at: at, ch: ch, dir: cfg.DataDir, log: cfg.Logger}
	if err := t.readIdentity(); err != nil {
		at.Close()
		return nil, err
	}
	return t, nil
}

func (t *TPM) readIdentity() error {
	eks, err := t.at.EKs()
	if err != nil {
		return fmt.Errorf("read endorsement keys: %w", err)
	}
	if len(eks) == 0 {
		return errors.New("TPM has no endorsement key")
	}
	t.ek = eks[0]
	info, err := t.at.Info()
	if err != nil {
		return fmt.Errorf("read TPM info: %w", err)
	}
	t.info = *info
	return nil
}

// Close unloads the AK and closes the TPM.
func (t *TPM) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unloadKeys()
	if t.ak != nil {
		_ = t.ak.Close(t.at)
		t.ak = nil
	}
	return t.at.Close()
}

// EK returns the endorsement key's public key and, when the TPM holds one,
// its certificate.
func (t *TPM) EK() (crypto.PublicKey, *x509.Certificate) {
	return t.ek.Public, t.ek.Certificate
}

// Info describes the TPM: manufacturer, firmware version, vendor string.
func (t *TPM) Info() attest.TPMInfo { return t.info }

func (t *TPM) path(name string) string { return filepath.Join(t.dir, name) }
