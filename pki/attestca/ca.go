// Package attestca is StreamForge's attestation CA, run by the cloud. It
// checks a gateway's TPM endorsement key certificate against the
// manufacturers' roots, proves by credential activation that the gateway's
// attestation key (AK) lives in the same TPM as that EK, and issues the AK
// certificate that step-ca's ACME device-attest-01 "tpm" format trusts.
// Everything the cloud must keep between requests (ChallengeState) is a
// plain struct it can store as JSON; no secret is kept in clear.
package attestca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Files of a CA directory.
const (
	CertFile = "attestation-ca.crt"
	KeyFile  = "attestation-ca.key"
)

// CA is the attestation CA: a self-signed root that signs AK certificates.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// Init creates a new attestation CA in dir (the key file is 0600) and
// refuses to overwrite one that exists.
func Init(dir string) (*CA, error) {
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		return nil, fmt.Errorf("attestation CA already exists in %s", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("attestation CA dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("attestation CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"StreamForge"}, CommonName: "StreamForge Attestation CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("attestation CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode attestation CA key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, fmt.Errorf("write attestation CA key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("write attestation CA certificate: %w", err)
	}
	return Load(dir)
}

// Load reads the attestation CA kept in dir.
func Load(dir string) (*CA, error) {
	cert, err := readCert(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("read attestation CA key: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, errors.New("attestation CA key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("attestation CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !publicEqual(signer.Public(), cert.PublicKey) {
		return nil, errors.New("attestation CA key does not match its certificate")
	}
	return &CA{cert: cert, key: signer}, nil
}

// Certificate is the CA's root: step-ca's ACME provisioner lists it in
// attestationRoots.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// CertificatePEM is Certificate as PEM.
func (c *CA) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func readCert(path string) (*x509.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return n
}
