package acmeclient

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/streamforge/streamforge/internal/durable"
)

// RenewAt is when a certificate should be replaced: at 2/3 of its
// lifetime, as step's own renewal daemon does.
func RenewAt(leaf *x509.Certificate) time.Time {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotBefore.Add(life * 2 / 3)
}

// Store keeps the certificate chain and its TPM key blob in a directory.
type Store struct {
	Dir string
}

const (
	certFile = "tls.crt"
	keyBlob  = "tls-key.blob"
)

// Save writes the key blob and the chain (PEM). A crash between the two
// leaves a pair Load refuses, and the agent simply obtains a new one.
func (s Store) Save(c *Certificate) error {
	if err := c.Key.Save(keyBlob); err != nil {
		return err
	}
	var pemChain []byte
	for _, der := range c.Chain {
		pemChain = append(pemChain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := durable.WriteFile(filepath.Join(s.Dir, certFile), pemChain, 0o600); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}

// ErrNoCertificate means the store holds no usable certificate.
var ErrNoCertificate = errors.New("no stored gateway certificate")

// Load reads the stored certificate and loads its key into the TPM.
func (s Store) Load(t KeySource) (*Certificate, error) {
	raw, err := os.ReadFile(filepath.Join(s.Dir, certFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCertificate
	}
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	var chain [][]byte
	for b, rest := pem.Decode(raw); b != nil; b, rest = pem.Decode(rest) {
		chain = append(chain, b.Bytes)
	}
	if len(chain) == 0 {
		return nil, ErrNoCertificate
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("parse stored certificate: %w", err)
	}
	key, err := t.LoadKey(keyBlob)
	if err != nil {
		return nil, err
	}
	if k, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(key.Public()) {
		_ = key.Close()
		return nil, fmt.Errorf("%w: stored key and certificate differ", ErrNoCertificate)
	}
	return &Certificate{Key: key, Chain: chain, Leaf: leaf}, nil
}

// Holder serves the current certificate to crypto/tls while the renewer
// swaps it.
type Holder struct {
	cur atomic.Pointer[tls.Certificate]
}

// Set makes c the certificate presented from now on.
func (h *Holder) Set(c *Certificate) {
	tc := c.TLSCertificate()
	h.cur.Store(&tc)
}

// GetClientCertificate is for tls.Config.GetClientCertificate.
func (h *Holder) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if c := h.cur.Load(); c != nil {
		return c, nil
	}
	return &tls.Certificate{}, nil
}

// Renewer keeps a gateway certificate fresh.
type Renewer struct {
	Client *Client
	Keys   KeySource
	Store  *Store
	// OnCert installs a new certificate (Holder.Set); the previous key is
	// unloaded from the TPM after it returns.
	OnCert func(*Certificate)
	// OnError reports a failed attempt; the renewer retries with back-off,
	// also after the certificate expired (re-attestation needs only the
	// AK certificate), until ctx ends.
	OnError            func(error)
	RetryMin, RetryMax time.Duration
	// Now, when set, is the clock renewal times are judged by (the agent's
	// clock corrected for skew); time.Now otherwise.
	Now func() time.Time
	// Status, when set, keeps the newest attempt's outcome (the agent
	// reports it in its heartbeats).
	Status *RenewStatus
}

// RenewStatus is the outcome of the newest renewal attempt: the error of
// a failed one, cleared by a success. Safe for concurrent use.
type RenewStatus struct{ last atomic.Pointer[string] }

// LastError is why the newest attempt failed; empty when it succeeded (or
// none was made yet).
func (s *RenewStatus) LastError() string {
	if p := s.last.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *RenewStatus) record(err error) {
	if s == nil {
		return
	}
	if err == nil {
		s.last.Store(nil)
		return
	}
	msg := err.Error()
	s.last.Store(&msg)
}

// Run renews cur at RenewAt and then each new certificate, until ctx ends.
func (r *Renewer) Run(ctx context.Context, cur *Certificate) error {
	if r.RetryMin <= 0 {
		r.RetryMin = 5 * time.Second
	}
	if r.RetryMax <= 0 {
		r.RetryMax = 10 * time.Minute
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	wait := RenewAt(cur.Leaf).Sub(now())
	backoff := r.RetryMin
	for {
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		next, err := r.renew(ctx)
		r.Status.record(err)
		if err != nil {
			if r.OnError != nil {
				r.OnError(err)
			}
			wait, backoff = backoff, min(2*backoff, r.RetryMax)
			continue
		}
		r.OnCert(next)
		_ = cur.Key.Close()
		cur, backoff = next, r.RetryMin
		wait = RenewAt(cur.Leaf).Sub(now())
	}
}

func (r *Renewer) renew(ctx context.Context) (*Certificate, error) {
	c, err := r.Client.Obtain(ctx, r.Keys)
	if err != nil {
		return nil, fmt.Errorf("renew gateway certificate: %w", err)
	}
	if r.Store != nil {
		if err := r.Store.Save(c); err != nil {
			_ = c.Key.Close()
			return nil, fmt.Errorf("keep renewed certificate: %w", err)
		}
	}
	return c, nil
}
