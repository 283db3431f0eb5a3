package attestca

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/streamforge/streamforge/pki/internal/tcgsan"
)

var (
	errEKMismatch       = errors.New("EK certificate does not certify the EK the gateway presented")
	errNoEKRootsInDir   = errors.New("no certificates found")
	errUnsupportedEKKey = errors.New("EK is not an RSA or ECDSA key")
)

// TPMDetails are the TPM manufacturer, model and version that the AK
// certificate names (TCG EK profile directoryName attributes).
type TPMDetails = tcgsan.TPM

func complete(d TPMDetails) bool {
	return d.Manufacturer != "" && d.Model != "" && d.Version != ""
}

// EKResult is the outcome of checking an EK. An EK whose certificate does
// not chain to a configured manufacturer root is not refused: Verified is
// false and Reason says why, so the cloud can hold the gateway for an admin.
type EKResult struct {
	Verified    bool       `json:"verified"`
	Reason      string     `json:"reason,omitempty"`
	Fingerprint string     `json:"fingerprint"`
	TPM         TPMDetails `json:"tpm"`
}

// EKRoots are the TPM manufacturers' CA certificates.
type EKRoots struct {
	roots, intermediates *x509.CertPool
}

// LoadEKRoots reads every PEM certificate in dir: self-signed ones are
// roots, the others intermediates.
func LoadEKRoots(dir string) (*EKRoots, error) {
	r := &EKRoots{roots: x509.NewCertPool(), intermediates: x509.NewCertPool()}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("EK roots: %w", err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("EK roots: %w", err)
		}
		for b, rest := pem.Decode(raw); b != nil; b, rest = pem.Decode(rest) {
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("EK roots: %s: %w", e.Name(), err)
			}
			if c.CheckSignatureFrom(c) == nil {
				r.roots.AddCert(c)
			} else {
				r.intermediates.AddCert(c)
			}
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("EK roots in %s: %w", dir, errNoEKRootsInDir)
	}
	return r, nil
}

// VerifyEK checks that certDER (may be empty: not every TPM has an EK
// certificate) certifies ekPub and chains to a manufacturer root. It errors
// only on evidence that is wrong, never on evidence that is merely unknown.
func (r *EKRoots) VerifyEK(ekPub crypto.PublicKey, certDER []byte) (EKResult, error) {
	fp, err := EKFingerprint(ekPub)
	if err != nil {
		return EKResult{}, err
	}
	res := EKResult{Fingerprint: fp}
	if len(certDER) == 0 {
		res.Reason = "TPM has no EK certificate"
		return res, nil
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return EKResult{}, fmt.Errorf("parse EK certificate: %w", err)
	}
	if !publicEqual(ekPub, cert.PublicKey) {
		return EKResult{}, errEKMismatch
	}
	res.TPM, _, err = tcgsan.Parse(cert)
	if err != nil {
		return EKResult{}, fmt.Errorf("EK certificate: %w", err)
	}
	// EK certificates carry a critical SAN with only a directoryName, which
	// Go does not handle; it was parsed above.
	cert.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(cert.UnhandledCriticalExtensions),
		func(o asn1.ObjectIdentifier) bool { return o.Equal(tcgsan.OIDSubjectAltName) })
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:         r.roots,
		Intermediates: r.intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		res.Reason = "EK certificate does not chain to a known TPM manufacturer root: " + err.Error()
		return res, nil
	}
	res.Verified = true
	return res, nil
}

// EKFingerprint is the hex SHA-256 of the EK's PKIX encoding: the gateway's
// hardware identity, which the control plane binds the gateway to.
func EKFingerprint(ekPub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(ekPub)
	if err != nil {
		return "", fmt.Errorf("EK public key: %w: %v", errUnsupportedEKKey, err)
	}
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:]), nil
}

// NoEKRoots knows no manufacturer: every EK is "unverified" and goes to an
// admin for review (the control plane's default until roots are configured).
func NoEKRoots() *EKRoots {
	return &EKRoots{roots: x509.NewCertPool(), intermediates: x509.NewCertPool()}
}
