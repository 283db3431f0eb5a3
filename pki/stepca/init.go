// Package stepca sets up and talks to the step-ca program (smallstep
// certificates v0.30.2) that issues gateways their mTLS certificates: it
// writes a CA whose only provisioner is ACME device-attest-01 (format tpm)
// trusting StreamForge's attestation CA and asking the cloud, through an
// authorizing webhook, whether the gateway may have a certificate. It also
// holds the webhook's request/response types and handler, and the TLS
// settings of the cloud's gateway listener.
package stepca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// DefaultCertLifetime is the lifetime of a gateway's TLS certificate.
const DefaultCertLifetime = 24 * time.Hour

// ProvisionerName is the ACME provisioner gateways use; its directory is
// https://<address>/acme/<ProvisionerName>/directory.
const ProvisionerName = "gateways"

// InitOptions configure a new CA.
type InitOptions struct {
	// Dir receives certs/, secrets/, config/ca.json, db/ and webhook/.
	Dir string
	// Name prefixes the CA certificates' common names.
	Name string
	// Address step-ca listens on, e.g. "127.0.0.1:9443" or ":9443".
	Address string
	// DNSNames are the names (or IPs) gateways use to reach step-ca.
	DNSNames []string
	// AttestationRootsPEM is the attestation CA root(s) step-ca trusts for
	// AK certificates.
	AttestationRootsPEM []byte
	// WebhookURL is the cloud's https endpoint serving the webhook (WebhookOptions.Decide).
	WebhookURL string
	// WebhookHosts are the names (or IPs) in the certificate written for the
	// cloud's webhook listener; default: the host of WebhookURL.
	WebhookHosts []string
	// CertLifetime of gateway certificates; default 24h.
	CertLifetime time.Duration
	// Backdate moves NotBefore back against clock skew; default 1m (step-ca's).
	Backdate time.Duration
}

// Layout says where Init put things.
type Layout struct {
	Config         string // config/ca.json: run `step-ca <Config>`
	RootCert       string // trust anchor for gateway certificates
	WebhookCert    string // the cloud's webhook listener certificate
	WebhookKey     string
	ACMEDirectory  string // the ACME directory URL, as DNSNames[0] reaches it
	ProvisionerURL string
	// DNSNames are step-ca's names: its webhook client certificate carries
	// them (WebhookOptions.CANames).
	DNSNames []string
}

// webhookID names the webhook in step-ca's X-Smallstep-Webhook-ID header.
const webhookID = "streamforge-gateway-authorization"

func layout(dir, address, dnsName string) *Layout {
	p := func(parts ...string) string { return filepath.Join(append([]string{dir}, parts...)...) }
	_, port, _ := net.SplitHostPort(address)
	prov := "https://" + net.JoinHostPort(dnsName, port) + "/acme/" + ProvisionerName
	return &Layout{
		Config:         p("config", "ca.json"),
		RootCert:       p("certs", "root_ca.crt"),
		WebhookCert:    p("webhook", "webhook.crt"),
		WebhookKey:     p("webhook", "webhook.key"),
		ProvisionerURL: prov,
		ACMEDirectory:  prov + "/directory",
	}
}

// ReadLayout finds the files of a CA that Init wrote in dir.
func ReadLayout(dir string) (*Layout, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "config", "ca.json"))
	if err != nil {
		return nil, fmt.Errorf("step-ca config: %w", err)
	}
	var cfg struct {
		Address  string   `json:"address"`
		DNSNames []string `json:"dnsNames"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("step-ca config: %w", err)
	}
	if len(cfg.DNSNames) == 0 {
		return nil, errors.New("step-ca config: no dnsNames")
	}
	l := layout(dir, cfg.Address, cfg.DNSNames[0])
	l.DNSNames = cfg.DNSNames
	return l, nil
}

// Init writes a new CA (root, intermediate, ca.json, webhook listener
// certificate) into opts.Dir. Keys are unencrypted PEM files readable only
// by their owner (0600): protect the directory as a whole.
func Init(opts InitOptions) (*Layout, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, "config", "ca.json")); err == nil {
		return nil, fmt.Errorf("a CA already exists in %s", opts.Dir)
	}
	for _, d := range []string{"certs", "secrets", "config", "db", "webhook"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("step-ca dir: %w", err)
		}
	}
	p := func(parts ...string) string { return filepath.Join(append([]string{opts.Dir}, parts...)...) }
	l := layout(opts.Dir, opts.Address, opts.DNSNames[0])
	l.DNSNames = opts.DNSNames

	now := time.Now()
	root, rootKey, err := issue(&x509.Certificate{
		Subject:   pkix.Name{CommonName: opts.Name + " Gateway Root CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1,
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	inter, interKey, err := issue(&x509.Certificate{
		Subject:   pkix.Name{CommonName: opts.Name + " Gateway Intermediate CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}, root, rootKey)
	if err != nil {
		return nil, err
	}
	webhook, webhookKey, err := issue(serverTemplate(opts.webhookHosts(), now), inter, interKey)
	if err != nil {
		return nil, err
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{l.RootCert, certPEM(root), 0o644},
		{p("certs", "intermediate_ca.crt"), certPEM(inter), 0o644},
		{p("secrets", "root_ca_key"), keyPEM(rootKey), 0o600},
		{p("secrets", "intermediate_ca_key"), keyPEM(interKey), 0o600},
		{l.WebhookCert, append(certPEM(webhook), certPEM(inter)...), 0o644},
		{l.WebhookKey, keyPEM(webhookKey), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	cfg, err := json.MarshalIndent(opts.caJSON(p), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode ca.json: %w", err)
	}
	if err := os.WriteFile(l.Config, cfg, 0o600); err != nil {
		return nil, fmt.Errorf("write ca.json: %w", err)
	}
	return l, nil
}

func (o *InitOptions) validate() error {
	switch {
	case o.Dir == "":
		return errors.New("step-ca init: dir is required")
	case len(o.DNSNames) == 0:
		return errors.New("step-ca init: at least one DNS name is required")
	case len(o.AttestationRootsPEM) == 0:
		return errors.New("step-ca init: attestation roots are required")
	}
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		return fmt.Errorf("step-ca init: address: %w", err)
	}
	u, err := url.Parse(o.WebhookURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return errors.New("step-ca init: webhook URL must be an https URL (step-ca refuses others)")
	}
	if o.Name == "" {
		o.Name = "StreamForge"
	}
	if o.CertLifetime <= 0 {
		o.CertLifetime = DefaultCertLifetime
	}
	if o.Backdate <= 0 {
		o.Backdate = time.Minute
	}
	return nil
}

func (o *InitOptions) webhookHosts() []string {
	if len(o.WebhookHosts) > 0 {
		return o.WebhookHosts
	}
	u, _ := url.Parse(o.WebhookURL)
	return []string{u.Hostname()}
}

// caJSON is step-ca's configuration: one ACME provisioner for
// device-attest-01/tpm. disableRenewal closes step-ca's /renew endpoint
// for these certificates, so every new certificate goes through attestation
// and the webhook: a disabled gateway cannot renew.
func (o *InitOptions) caJSON(p func(...string) string) map[string]any {
	life := o.CertLifetime.String()
	return map[string]any{
		"root":     p("certs", "root_ca.crt"),
		"crt":      p("certs", "intermediate_ca.crt"),
		"key":      p("secrets", "intermediate_ca_key"),
		"address":  o.Address,
		"dnsNames": o.DNSNames,
		"logger":   map[string]any{"format": "text"},
		"db":       map[string]any{"type": "badgerv2", "dataSource": p("db")},
		"authority": map[string]any{
			"backdate": o.Backdate.String(),
			"provisioners": []any{map[string]any{
				"type":               "ACME",
				"name":               ProvisionerName,
				"challenges":         []string{"device-attest-01"},
				"attestationFormats": []string{"tpm"},
				"attestationRoots":   o.AttestationRootsPEM,
				"claims": map[string]any{
					"minTLSCertDuration":     min(5*time.Minute, o.CertLifetime).String(),
					"maxTLSCertDuration":     life,
					"defaultTLSCertDuration": life,
					"disableRenewal":         true,
				},
				"options": map[string]any{"webhooks": []any{map[string]any{
					"id":       webhookID,
					"name":     "streamforge-authorize",
					"url":      o.WebhookURL,
					"kind":     "AUTHORIZING",
					"certType": "X509",
				}}},
			}},
		},
		"tls": map[string]any{"minVersion": 1.2, "maxVersion": 1.3},
	}
}

func serverTemplate(hosts []string, now time.Time) *x509.Certificate {
	t := &x509.Certificate{
		Subject:   pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else {
			t.DNSNames = append(t.DNSNames, h)
		}
	}
	return t
}

// issue creates a P-256 key and a certificate for it, self-signed when
// parent is nil.
func issue(tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k crypto.Signer) []byte {
	der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	if err != nil {
		panic(err) // a P-256 key we just generated always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}
