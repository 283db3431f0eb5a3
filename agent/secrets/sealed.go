package secrets

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/streamforge/streamforge/pkg/secret"
	"github.com/streamforge/streamforge/pkg/secretprot"
)

// Sealer seals data to a TPM: only that TPM opens the blob (agent/tpm).
type Sealer interface {
	Seal(data []byte) ([]byte, error)
	Unseal(blob []byte) ([]byte, error)
}

// Sealed keeps the secrets the control plane delivered on the gateway's
// disk, so that the gateway restarts without the cloud: encrypted
// (AES-256-GCM) under a data key that is sealed to the TPM when there is
// one. Without a TPM the data key is a 0600 file beside it, which keeps
// the values out of every other file, backup of the data directory
// without keys, and log, but not from root on the gateway.
type Sealed struct {
	path   string
	sealer Sealer // nil: key file
}

// sealedFile is the file's format; nothing in it is a value in the clear.
type sealedFile struct {
	// SealedKey is the data key sealed to the TPM (empty without one).
	SealedKey []byte `json:"sealed_key,omitempty"`
	// Ciphertext is nonce | AES-GCM(data key, JSON map of name to value).
	Ciphertext []byte `json:"ciphertext"`
}

// NewSealed keeps the delivered secrets in dir (the agent's data dir).
func NewSealed(dir string, sealer Sealer) *Sealed {
	return &Sealed{path: filepath.Join(dir, "delivered-secrets.sealed"), sealer: sealer}
}

func (s *Sealed) keyFile() string { return s.path + ".key" }

// sealedValues is what the ciphertext holds: the values and, for each,
// the destinations and protection the control plane bound it to.
type sealedValues struct {
	Values       map[string]string                `json:"values"`
	Destinations map[string][]string              `json:"destinations"`
	Protection   map[string]secretprot.Protection `json:"protection,omitempty"`
}

// Save replaces the stored values (with their destinations).
func (s *Sealed) Save(values map[string]Secret) error {
	plain := sealedValues{Values: make(map[string]string, len(values)), Destinations: map[string][]string{},
		Protection: map[string]secretprot.Protection{}}
	for n, v := range values {
		plain.Values[n] = v.Reveal()
		if d, bound := v.Destinations(); bound {
			plain.Destinations[n] = d
		}
		if p := v.Protection(); !p.IsZero() {
			plain.Protection[n] = p
		}
	}
	data, err := json.Marshal(plain)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("delivered secrets: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	var f sealedFile
	if s.sealer != nil {
		if f.SealedKey, err = s.sealer.Seal(key); err != nil {
			return fmt.Errorf("seal the secrets' key to the TPM: %w", err)
		}
	} else if err := writeFileAtomic(s.keyFile(), key); err != nil {
		return fmt.Errorf("secrets key file: %w", err)
	}
	if f.Ciphertext, err = secret.Encrypt(key, data, nil); err != nil {
		return err
	}
	out, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, out); err != nil {
		return fmt.Errorf("delivered secrets: %w", err)
	}
	return nil
}

// Load returns the stored values; none (and no error) when nothing was saved.
func (s *Sealed) Load() (map[string]Secret, error) {
	raw, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Secret{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("delivered secrets: %w", err)
	}
	var f sealedFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("delivered secrets %s: not the sealed format", s.path)
	}
	var key []byte
	if s.sealer != nil {
		if key, err = s.sealer.Unseal(f.SealedKey); err != nil {
			return nil, fmt.Errorf("delivered secrets: unseal the key (another TPM?): %w", err)
		}
	} else if key, err = os.ReadFile(s.keyFile()); err != nil {
		return nil, fmt.Errorf("delivered secrets key file: %w", err)
	}
	data, err := secret.Decrypt(key, f.Ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("delivered secrets %s: does not decrypt (tampered, or another key)", s.path)
	}
	var plain sealedValues
	if err := json.Unmarshal(data, &plain); err != nil {
		return nil, fmt.Errorf("delivered secrets: %w", err)
	}
	// Every delivered value is bound: one kept without destinations (by
	// an agent before bindings) may be sent nowhere until delivered again.
	out := make(map[string]Secret, len(plain.Values))
	for n, v := range plain.Values {
		out[n] = secret.Bound(v, plain.Destinations[n]).WithProtection(plain.Protection[n])
	}
	return out, nil
}

// writeFileAtomic writes a 0600 file by rename, so a crash leaves the
// old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
