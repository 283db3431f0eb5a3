package opcua

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
)

// ErrUntrusted means the server's certificate is not in the trust list.
var ErrUntrusted = errors.New("server certificate not trusted")

// loadTrust reads every certificate in the listed files and directories.
func loadTrust(paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		files := []string{p}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("trust %s: %w", p, err)
			}
			files = files[:0]
			for _, e := range entries {
				if !e.IsDir() {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
		}
		for _, f := range files {
			certs, err := readCerts(f)
			if err != nil {
				return nil, fmt.Errorf("trust %s: %w", f, err)
			}
			out = append(out, certs...)
		}
	}
	return out, nil
}

// readCerts parses a PEM file (any number of certificates) or one DER certificate.
func readCerts(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(b)
		return []*x509.Certificate{c}, err
	}
	var out []*x509.Certificate
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// trusted reports whether der is a listed certificate or is signed by one.
// OPC UA servers mostly use self-signed certificates, so pinning the exact
// certificate is the common case; hostnames are not checked because
// endpoints are often reached by IP address.
func trusted(der []byte, trust []*x509.Certificate) error {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parse server certificate: %w", err)
	}
	for _, t := range trust {
		if bytes.Equal(t.Raw, der) || (cert.CheckSignatureFrom(t) == nil && time.Now().Before(cert.NotAfter)) {
			return nil
		}
	}
	return fmt.Errorf("%w: subject %q", ErrUntrusted, cert.Subject.CommonName)
}

// loadKeyPair reads a certificate and its RSA key (PEM or DER files).
func loadKeyPair(certFile, keyFile string) ([]byte, *rsa.PrivateKey, error) {
	certs, err := readCerts(certFile)
	if err != nil || len(certs) == 0 {
		return nil, nil, fmt.Errorf("certificate %s: no certificate (%v)", certFile, err)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	if block, _ := pem.Decode(b); block != nil {
		b = block.Bytes
	}
	if k, err := x509.ParsePKCS1PrivateKey(b); err == nil {
		return certs[0].Raw, k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b)
	if rk, ok := k.(*rsa.PrivateKey); ok && err == nil {
		return certs[0].Raw, rk, nil
	}
	return nil, nil, fmt.Errorf("key %s: not an RSA private key", keyFile)
}

// SelfSigned makes an RSA-2048 application instance certificate for appURI,
// valid for hosts (DNS names or IPs); it returns DER and the key.
func SelfSigned(appURI string, hosts []string) ([]byte, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	u, err := url.Parse(appURI)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "StreamForge " + u.Opaque + u.Host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(2, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment |
			x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, URIs: []*url.URL{u},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return der, key, err
}

// clientOptions picks the endpoint matching the configured security, checks
// the server's certificate against the trust list and returns the options
// for a session with the configured identity.
func (s *session) clientOptions(ctx context.Context, dialer *abortableDialer) ([]opcua.Option, error) {
	cfg := s.cfg
	eps, err := opcua.GetEndpoints(ctx, cfg.Endpoint, opcua.Dialer(dialer.uacp(time.Duration(cfg.Timeout))))
	if err != nil {
		return nil, fmt.Errorf("get endpoints: %w", err)
	}
	ep, err := opcua.SelectEndpoint(eps, cfg.Policy, ua.MessageSecurityModeFromString(cfg.Mode))
	if err != nil {
		return nil, fmt.Errorf("no endpoint with %s/%s: %w", cfg.Policy, cfg.Mode, err)
	}
	if cfg.Policy != "None" && !cfg.Insecure {
		if err := trusted(ep.ServerCertificate, s.trust); err != nil {
			return nil, err
		}
	}
	tokenType := map[string]ua.UserTokenType{"anonymous": ua.UserTokenTypeAnonymous,
		"username": ua.UserTokenTypeUserName, "certificate": ua.UserTokenTypeCertificate}[cfg.Identity.Type]
	opts := []opcua.Option{
		opcua.AutoReconnect(false), // we rebuild the whole session ourselves, see session.run
		opcua.Dialer(dialer.uacp(time.Duration(cfg.Timeout))), opcua.RequestTimeout(s.requestTimeout()),
		opcua.SecurityPolicy(ep.SecurityPolicyURI), opcua.SecurityMode(ep.SecurityMode),
		opcua.ApplicationURI(s.appURI), opcua.SessionName("streamforge " + s.gatewayID),
	}
	if s.cert != nil {
		opts = append(opts, opcua.Certificate(s.cert), opcua.PrivateKey(s.key))
	}
	switch cfg.Identity.Type {
	case "username":
		opts = append(opts, opcua.AuthUsername(cfg.Identity.Username, cfg.Identity.Password))
	case "certificate":
		opts = append(opts, opcua.AuthCertificate(s.userCert), opcua.AuthPrivateKey(s.userKey))
	default:
		opts = append(opts, opcua.AuthAnonymous())
	}
	return append(opts, opcua.SecurityFromEndpoint(ep, tokenType)), nil
}

// certURI returns the application URI a certificate carries, if any.
func certURI(der []byte) (string, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil || len(c.URIs) == 0 {
		return "", err
	}
	return c.URIs[0].String(), nil
}
