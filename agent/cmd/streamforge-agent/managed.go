package main

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/agent/clock"
	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/agent/conntest"
	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/agent/logring"
	"github.com/streamforge/streamforge/agent/run"
	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/agent/statuspage"
	"github.com/streamforge/streamforge/agent/tpm"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/acmeclient"
)

// version is reported in heartbeats; set with -ldflags "-X main.version=...".
var version = "dev"

// cpFlags say how the agent reaches its control plane. The environment
// variables of the spec (CONTROL_PLANE_URL, CONTROL_PLANE_GATEWAY_ID,
// CONTROL_PLANE_ENROLLMENT_TOKEN) fill what the flags leave empty; the
// config file's control_plane section comes last.
type cpFlags struct {
	url, gatewayID, enrollmentToken, tpmPath string
	insecureSoftwareIdentity                 bool
}

func (f *cpFlags) fromEnv() {
	for _, v := range []struct {
		dst *string
		env string
	}{{&f.url, "CONTROL_PLANE_URL"}, {&f.gatewayID, "CONTROL_PLANE_GATEWAY_ID"}, {&f.enrollmentToken, "CONTROL_PLANE_ENROLLMENT_TOKEN"}} {
		if *v.dst == "" {
			*v.dst = os.Getenv(v.env)
		}
	}
}

// identity opens the key the gateway proves itself with: a key inside the
// TPM, or (only when asked for explicitly) a software key.
func identity(f cpFlags, dataDir string, log *slog.Logger) (crypto.Signer, controlplane.Attestor, func(), error) {
	dir := filepath.Join(dataDir, "identity")
	if f.insecureSoftwareIdentity {
		s, err := tpm.OpenSoftwareIdentity(dir, log)
		return s, nil, func() {}, err
	}
	t, err := tpm.Open(tpm.Config{Path: f.tpmPath, DataDir: dir, Logger: log})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w (a machine without a TPM may run with --%s)", err, tpm.InsecureSoftwareIdentityFlag)
	}
	if err := t.LoadOrCreateAK(); err != nil {
		t.Close()
		return nil, nil, nil, err
	}
	key, err := t.LoadKey("identity-key.blob")
	if err != nil {
		if key, err = t.NewKey(nil); err == nil {
			err = key.Save("identity-key.blob")
		}
	}
	if err != nil {
		t.Close()
		return nil, nil, nil, fmt.Errorf("TPM identity key: %w", err)
	}
	return key, tpm.Attestor{TPM: t, Key: key}, func() { key.Close(); t.Close() }, nil
}

// runManaged wires the control plane loop (identity, client, mTLS) to a
// run.Supervisor, which runs the data path on the configs it delivers; logs
// is the scrubbing log handler, whose ring ships with heartbeats.
func runManaged(ctx context.Context, f cpFlags, localPath string, cfg *config.Config, log *slog.Logger, logs *logring.Handler) error {
	if cfg.GatewayID != f.gatewayID {
		return fmt.Errorf("gateway id %q (CONTROL_PLANE_GATEWAY_ID) differs from gateway_id %q in %s", f.gatewayID, cfg.GatewayID, localPath)
	}
	local, err := os.ReadFile(localPath)
	if err != nil {
		return err
	}
	signer, attestor, closeID, err := identity(f, cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer closeID()

	client := controlplane.NewClient(f.url, f.gatewayID, signer)
	client.Attestor = attestor
	clk := clock.New(log) // certificates are judged by the control plane's time
	client.Clock = clk
	var sealer controlplane.Sealer  // with a TPM, the claim code is sealed to it
	var secretSealer secrets.Sealer // and so is the key of the delivered secrets
	if a, ok := attestor.(tpm.Attestor); ok {
		sealer, secretSealer = a.TPM, a.TPM
	}
	delivery := &secrets.Delivery{Fetch: client.FetchSecrets, Log: log,
		Sealed: secrets.NewSealed(filepath.Join(cfg.DataDir, "controlplane"), secretSealer)}
	sup := run.NewSupervisor(run.SupervisorOptions{Local: local, Initial: cfg, Version: version, Log: log,
		Accepted: func(c *config.Config) { logs.Scrubber().Add(c.SecretValues()...) }, Secrets: delivery.For})
	var mtls func(context.Context, [][]byte) (*http.Client, error)
	renewal := &acmeclient.RenewStatus{} // its last error goes into the heartbeats
	if m := cfg.ControlPlane.MTLS; m.GatewayURL != "" {
		a, ok := attestor.(tpm.Attestor)
		if !ok {
			return fmt.Errorf("control_plane.mtls needs a TPM: a software identity cannot be attested")
		}
		mtls = stepcaMTLS(a.TPM, m, f.gatewayID, cfg.DataDir, log, clk, renewal, func(ctx context.Context) ([][]byte, error) {
			chain, err := client.AKCertificate(ctx)
			if err == nil {
				return chain, nil
			}
			// The mTLS listener is out of reach once the certificate has
			// expired (a gateway offline for long): re-prove the TPM
			// identity key on the plain API instead.
			plain := controlplane.NewClient(f.url, f.gatewayID, signer)
			plain.Attestor, plain.Clock = attestor, clk
			if _, perr := plain.ObtainToken(ctx); perr != nil {
				return nil, fmt.Errorf("%w; on the plain API: %w", err, perr)
			}
			return plain.AKCertificate(ctx)
		})
	}
	var configKeys []wire.ConfigKey
	for _, k := range cfg.ControlPlane.ConfigKeys {
		ck, err := wire.ParseConfigKey(k) // checked by config.Parse
		if err != nil {
			return err
		}
		configKeys = append(configKeys, ck)
	}
	loop, err := controlplane.NewLoop(ctx, controlplane.Options{
		Client: client, EnrollmentToken: f.enrollmentToken, Hostname: hostname(), StateDir: filepath.Join(cfg.DataDir, "controlplane"),
		PollInterval: cfg.ControlPlane.PollInterval, HeartbeatInterval: cfg.ControlPlane.HeartbeatInterval,
		Apply: sup.Apply, Health: func() wire.Heartbeat {
			hb := sup.Health()
			hb.CertRenewalError = logs.Scrubber().Scrub(renewal.LastError())
			return hb
		}, Log: log, MTLS: mtls, ConfigKeys: configKeys, MTLSURL: cfg.ControlPlane.MTLS.GatewayURL, Sealer: sealer,
		Logs: logs.Ring(), Now: clk.Now,
		// Connection tests probe a source beside the running data path (#12).
		// A password goes only where the running config already sends it.
		ConnectionTest: conntest.Runner{GatewayID: f.gatewayID, Log: log, Password: func(srv opcua.Server) (string, error) {
			return sup.Config().TestPassword(srv)
		}}.Run,
		// The claim code is a secret of the device: it is shown on the
		// status page (and its QR code) only, never logged.
		OnEnrolled: func(code string, _ time.Time) {
			logs.Scrubber().Add(code, strings.ReplaceAll(code, "-", ""))
			log.Info("claim this gateway with the claim code or QR code on its local status page (/ on the metrics listener)")
		},
	})
	if err != nil {
		return err
	}
	sup.Mount(statuspage.Routes(loop, f.url))
	return sup.Run(ctx, loop.Run)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
