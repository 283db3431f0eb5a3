package tpm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// InsecureSoftwareIdentityFlag is the agent flag that selects
// OpenSoftwareIdentity. It is never the default.
const InsecureSoftwareIdentityFlag = "insecure-software-identity"

const softwareKeyFile = "insecure-software-identity.pem"

// OpenSoftwareIdentity loads or creates a P-256 key in a file under dir, for
// a laptop without a TPM. Anyone who can read the file can impersonate the
// gateway, and the cloud cannot tell it from a copy, so it logs a warning
// every time it is opened and such a gateway cannot get TPM attestation.
func OpenSoftwareIdentity(dir string, log *slog.Logger) (crypto.Signer, error) {
	if log == nil {
		log = slog.Default()
	}
	path := filepath.Join(dir, softwareKeyFile)
	log.Warn("INSECURE: using a software identity key instead of a TPM; the key can be copied and the gateway impersonated. Never use this in production.",
		"flag", "--"+InsecureSoftwareIdentityFlag, "key_file", path)
	raw, err := os.ReadFile(path)
	if err == nil {
		return parseSoftwareKey(raw)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read software identity: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("software identity dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate software identity: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode software identity: %w", err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, fmt.Errorf("keep software identity: %w", err)
	}
	return key, nil
}

func parseSoftwareKey(raw []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, errors.New("software identity: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("software identity: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("software identity: %T is not a signer", k)
	}
	return s, nil
}
