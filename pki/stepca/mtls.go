package stepca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/streamforge/streamforge/pki/internal/tcgsan"
)

// LoadRoots reads a PEM bundle (step-ca's root_ca.crt) into a pool.
func LoadRoots(path string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read roots: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("%s: no PEM certificates", path)
	}
	return pool, nil
}

// ServerTLSConfig is a TLS 1.3 listener that requires a client
// certificate chaining to clientRoots: the cloud's gateway listener
// (clientRoots = step-ca's root) and its webhook listener (the same root:
// step-ca presents its own certificate from it).
func ServerTLSConfig(cert tls.Certificate, clientRoots *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientRoots,
	}
}

// ErrNoGatewayID means a client certificate carries no gateway identity.
var ErrNoGatewayID = errors.New("client certificate names no gateway")

// PermanentID is the identifier a gateway's AK certificate, ACME order and
// TLS certificate carry: its gateway id and the id of its enrollment, so
// that a credential of a deleted (or re-enrolled) gateway names an
// enrollment the control plane no longer knows. Gateway ids cannot contain
// ':'.
func PermanentID(gatewayID, enrollmentID string) string { return gatewayID + ":" + enrollmentID }

// SplitPermanentID is PermanentID's inverse; enrollmentID is empty for an
// identifier that names none.
func SplitPermanentID(pid string) (gatewayID, enrollmentID string) {
	gatewayID, enrollmentID, _ = strings.Cut(pid, ":")
	return gatewayID, enrollmentID
}

// GatewayIdentity returns the gateway id and enrollment id a step-ca
// gateway certificate was issued for: its permanentIdentifier SAN, which
// step-ca copies from the attested ACME order, and which must equal the
// subject CN when one is set.
func GatewayIdentity(cert *x509.Certificate) (gatewayID, enrollmentID string, err error) {
	_, ids, err := tcgsan.Parse(cert)
	if err != nil {
		return "", "", fmt.Errorf("client certificate: %w", err)
	}
	if len(ids) != 1 || (cert.Subject.CommonName != "" && cert.Subject.CommonName != ids[0]) {
		return "", "", ErrNoGatewayID
	}
	gatewayID, enrollmentID = SplitPermanentID(ids[0])
	return gatewayID, enrollmentID, nil
}

// GatewayID returns the gateway id a step-ca gateway certificate was
// issued for (see GatewayIdentity).
func GatewayID(cert *x509.Certificate) (string, error) {
	id, _, err := GatewayIdentity(cert)
	return id, err
}
