package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/streamforge/streamforge/agent/clock"
	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/agent/logring"
	"github.com/streamforge/streamforge/agent/run"
	"github.com/streamforge/streamforge/agent/tpm"
	"github.com/streamforge/streamforge/pkg/wire"
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

// runManaged runs the data path under the control plane: the loop enrolls,
// waits for approval and polls config; each new config (merged over the
// local file) restarts the data path, whose buffer keeps every reading.
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

	next := make(chan *config.Config, 1)
	offer := func(c *config.Config) {
		select {
		case <-next:
		default:
		}
		next <- c
	}
	var (
		mu      sync.Mutex
		current *run.Agent
	)
	health := func() wire.Heartbeat {
		mu.Lock()
		defer mu.Unlock()
		if current == nil {
			return wire.Heartbeat{Status: "starting"}
		}
		hb := current.Health()
		hb.AgentVersion = version
		return hb
	}
	apply := func(_ context.Context, rc wire.ConfigResponse) error {
		merged, err := config.Merge(local, rc.Config)
		if err != nil {
			return err
		}
		c, err := config.Parse(merged)
		if err != nil {
			return fmt.Errorf("config v%d: %w", rc.Version, err)
		}
		logs.Scrubber().Add(c.SecretValues()...)
		offer(c)
		return nil
	}
	client := controlplane.NewClient(f.url, f.gatewayID, signer)
	client.Attestor = attestor
	clk := clock.New(log) // certificates are judged by the control plane's time
	client.Clock = clk
	var sealer controlplane.Sealer // with a TPM, the claim code is sealed to it
	if a, ok := attestor.(tpm.Attestor); ok {
		sealer = a.TPM
	}
	var mtls func(context.Context, [][]byte) (*http.Client, error)
	if m := cfg.ControlPlane.MTLS; m.GatewayURL != "" {
		a, ok := attestor.(tpm.Attestor)
		if !ok {
			return fmt.Errorf("control_plane.mtls needs a TPM: a software identity cannot be attested")
		}
		mtls = stepcaMTLS(a.TPM, m, f.gatewayID, cfg.DataDir, log, clk, func(ctx context.Context) ([][]byte, error) {
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
		Apply: apply, Health: health, Log: log, MTLS: mtls, ConfigKeys: configKeys, MTLSURL: cfg.ControlPlane.MTLS.GatewayURL, Sealer: sealer,
		Logs: logs.Ring(), Now: clk.Now,
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
	if len(next) == 0 {
		offer(cfg) // no last-known-good yet: run on the local file
	}
	loopDone := make(chan error, 1)
	go func() { loopDone <- loop.Run(ctx) }()
	status := controlplane.StatusHandler(loop, f.url)

	for c := range next {
		a, err := run.New(c, log)
		if err != nil {
			return err
		}
		a.Mount("GET /{$}", status)
		a.Mount("GET /claim-qr.png", status)
		mu.Lock()
		current = a
		mu.Unlock()
		actx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(actx) }()
		select {
		case <-ctx.Done():
			stop()
			err := <-done
			<-loopDone
			return err
		case c2 := <-next:
			log.Info("restarting the data path with a new config")
			stop()
			if err := <-done; err != nil {
				log.Warn("data path stopped with an error", "err", err)
			}
			offer(c2)
		case err := <-done:
			stop()
			if err != nil {
				return err
			}
			return errors.New("data path stopped")
		}
	}
	return nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
