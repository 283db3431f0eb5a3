package attestca

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/streamforge/streamforge/pki/internal/tcgsan"
)

// DefaultAKCertLifetime bounds how long an AK certificate can be used at
// step-ca: it is needed only for one ACME ceremony, so the agent fetches a
// fresh one for each, and a device cut off by the control plane holds a
// useless one within the hour. (The authorizing webhook also refuses, at
// every issuance, a certificate whose enrollment is not the gateway's.)
const DefaultAKCertLifetime = time.Hour

// ErrTPMDetails means the AK certificate would lack the TPM manufacturer,
// model or version, which step-ca requires.
var ErrTPMDetails = errors.New("TPM manufacturer, model and version are required")

// AKCertRequest is an approved gateway's AK, as proven by credential
// activation.
type AKCertRequest struct {
	// Challenge is the state whose Verify succeeded.
	Challenge ChallengeState
	// GatewayID becomes the permanentIdentifier: step-ca issues only for
	// ACME orders naming this identifier. The control plane passes
	// stepca.PermanentID (gateway id and enrollment id).
	GatewayID string
	// TPM comes from the EK certificate (EKResult.TPM) or, for an EK an
	// admin approved without one, from what the agent reported.
	TPM      TPMDetails
	Lifetime time.Duration
}

// IssueAKCert signs the AK certificate step-ca's device-attest-01 "tpm"
// format expects (WebAuthn TPM attestation rules): v3, empty subject, a
// critical SAN with the TPM directoryName and the permanentIdentifier,
// EKU tcg-kp-AIKCertificate, not a CA. It returns DER.
func (c *CA) IssueAKCert(r AKCertRequest) ([]byte, error) {
	if r.GatewayID == "" {
		return nil, errors.New("AK certificate: gateway id is required")
	}
	if !complete(r.TPM) {
		return nil, fmt.Errorf("AK certificate: %w", ErrTPMDetails)
	}
	akPub, err := r.Challenge.AKPublicKey()
	if err != nil {
		return nil, fmt.Errorf("AK certificate: %w", err)
	}
	san, err := tcgsan.Marshal(r.TPM, r.GatewayID)
	if err != nil {
		return nil, fmt.Errorf("AK certificate SAN: %w", err)
	}
	if r.Lifetime <= 0 {
		r.Lifetime = DefaultAKCertLifetime
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(r.Lifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{{2, 23, 133, 8, 3}}, // tcg-kp-AIKCertificate
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{{Id: tcgsan.OIDSubjectAltName, Critical: true, Value: san}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, akPub, c.key)
	if err != nil {
		return nil, fmt.Errorf("sign AK certificate: %w", err)
	}
	return der, nil
}

// AKCert is a parsed AK certificate.
type AKCert struct {
	Cert      *x509.Certificate
	GatewayID string
	TPM       TPMDetails
}

// ParseAKCert parses an AK certificate and reads its gateway id
// (permanentIdentifier) and TPM details.
func ParseAKCert(der []byte) (AKCert, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return AKCert{}, fmt.Errorf("parse AK certificate: %w", err)
	}
	d, ids, err := tcgsan.Parse(c)
	if err != nil {
		return AKCert{}, fmt.Errorf("AK certificate: %w", err)
	}
	if len(ids) != 1 {
		return AKCert{}, fmt.Errorf("AK certificate names %d gateway ids, want 1", len(ids))
	}
	return AKCert{Cert: c, GatewayID: ids[0], TPM: d}, nil
}
