package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/streamforge/streamforge/agent/clock"
	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/agent/tpm"
	"github.com/streamforge/streamforge/pki/acmeclient"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// stepcaMTLS obtains the gateway's certificate from step-ca with ACME
// device-attest-01 (its key made inside the TPM, certified by the AK),
// keeps it on disk and renewed at 2/3 of its lifetime, and presents it on
// the control plane's mTLS listener. AK certificates live an hour, so each
// ceremony fetches a fresh one from akSource.
//
// Certificates are judged by clk (the local clock corrected by the control
// plane's Date, never before the newest NotBefore seen), so a gateway
// whose clock is hours off still reaches step-ca and the listener. The
// renewals' outcome goes to renewal, for the heartbeats.
func stepcaMTLS(t *tpm.TPM, cfg config.MTLS, gatewayID, dataDir string, log *slog.Logger, clk *clock.Clock, renewal *acmeclient.RenewStatus,
	akSource func(context.Context) ([][]byte, error)) func(context.Context, [][]byte) (*http.Client, error) {
	return func(ctx context.Context, akChain [][]byte) (*http.Client, error) {
		roots, err := stepca.LoadRoots(cfg.StepCARoot)
		if err != nil {
			return nil, fmt.Errorf("control_plane.mtls.stepca_root: %w", err)
		}
		ac, err := acmeclient.New(acmeclient.Config{DirectoryURL: cfg.ACMEDirectory, Roots: roots, GatewayID: gatewayID, AKChain: akChain,
			AKSource: akSource, Time: clk.Now})
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(dataDir, "identity", "certificate")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		store := &acmeclient.Store{Dir: dir}
		keys := acmeclient.TPMKeys(t)
		cert, err := store.Load(keys)
		if err == nil && !sameEnrollment(cert, akChain) {
			// Issued for an earlier enrollment of this gateway id: the
			// control plane refuses it.
			_ = cert.Key.Close()
			err = acmeclient.ErrNoCertificate
		}
		if err == nil {
			clk.SawCertificates(cert.Leaf)
		}
		if err != nil || clk.Now().After(cert.Leaf.NotAfter) {
			if cert, err = ac.Obtain(ctx, keys); err != nil {
				return nil, fmt.Errorf("device-attest-01 at step-ca: %w", err)
			}
			if err := store.Save(cert); err != nil {
				return nil, err
			}
			clk.SawCertificates(cert.Leaf)
		}
		log.Info("gateway certificate", "not_after", cert.Leaf.NotAfter, "renew_at", acmeclient.RenewAt(cert.Leaf))
		holder := &acmeclient.Holder{}
		holder.Set(cert)
		renewer := &acmeclient.Renewer{Client: ac, Keys: keys, Store: store, OnCert: holder.Set, Now: clk.Now, Status: renewal,
			OnError: func(err error) { log.Warn("certificate renewal failed; retrying", "err", err) }}
		go func() { _ = renewer.Run(ctx, cert) }()
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: roots, MinVersion: tls.VersionTLS13, GetClientCertificate: holder.GetClientCertificate, Time: clk.Now,
			VerifyConnection: func(cs tls.ConnectionState) error {
				clk.SawCertificates(cs.PeerCertificates[0]) // verified already: a floor for later handshakes
				return nil
			}}}}, nil
	}
}

// sameEnrollment reports whether cert names the enrollment the AK
// certificate names.
func sameEnrollment(cert *acmeclient.Certificate, akChain [][]byte) bool {
	ak, err := attestca.ParseAKCert(akChain[0])
	if err != nil {
		return false
	}
	id, enrollment, err := stepca.GatewayIdentity(cert.Leaf)
	return err == nil && stepca.PermanentID(id, enrollment) == ak.GatewayID
}
