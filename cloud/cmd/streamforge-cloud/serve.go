package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/user"
	"time"

	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/config"
	"github.com/streamforge/streamforge/cloud/configsign"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/rollout"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/cloud/users"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

func serve(ctx context.Context, log *slog.Logger, args []string) error {
	cfg, err := config.Load(args)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := auth.LoadKeyRing(cfg.JWTKeyDir)
	if err != nil {
		return err
	}
	auth.SetHashMemoryBudget(cfg.PasswordHashMemoryMiB, auth.DefaultHashWait)
	us := users.New(st, keys, log)
	if err := bootstrap(ctx, us, cfg); err != nil {
		return err
	}
	gw := gateways.New(st, keys, log)
	gw.AllowKeyIdentity = cfg.AllowKeyIdentity
	if gw.ConfigKeys, err = configsign.Load(cfg.ConfigKeyDir); err != nil {
		return fmt.Errorf("STREAMFORGE_CONFIG_KEY_DIR: %w", err)
	}
	if cfg.TPMRootsDir != "" {
		if gw.EKRoots, err = attestca.LoadEKRoots(cfg.TPMRootsDir); err != nil {
			return fmt.Errorf("STREAMFORGE_TPM_ROOTS_DIR: %w", err)
		}
	}
	if cfg.AttestationCADir != "" {
		if gw.AttestCA, err = attestca.Load(cfg.AttestationCADir); err != nil {
			return fmt.Errorf("STREAMFORGE_ATTESTATION_CA_DIR: %w", err)
		}
	}
	srv := api.New(st, us, gw, log, api.Options{
		TrustedProxies: cfg.TrustedProxies, RateLimitPerMinute: cfg.RateLimitPerMinute, GatewayRateLimit: cfg.GatewayRateLimit,
		BodyLimit: cfg.BodyLimit, MetricsToken: cfg.MetricsToken, TLS: cfg.TLSCert != "",
	})
	go prune(ctx, st, us, gw, log)
	// Staged rollouts (#12): the engine advances them until shutdown.
	rollouts := rollout.NewEngine(st.Rollouts(), pipelines.New(st.Pipelines()), srv.WriteConfig, log)
	rollouts.Start(ctx)
	defer rollouts.Close()
	if cfg.GatewayListen != "" {
		gwSrv, err := gatewayListener(srv, cfg)
		if err != nil {
			return err
		}
		go func() {
			if err := gwSrv.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("gateway listener", "err", err)
			}
		}()
		defer gwSrv.Close()
		log.Info("gateway mTLS listener", "addr", cfg.GatewayListen)
	}

	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.App().ListenTLS(cfg.Listen, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.App().Listen(cfg.Listen)
		}
	}()
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	log.Info("serving", "url", scheme+"://"+cfg.Listen, "database", st.Dialect)
	fmt.Printf("StreamForge control plane listening on %s://%s (database: %s)\n", scheme, cfg.Listen, st.Dialect)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		log.Info("shutting down")
		return srv.App().ShutdownWithTimeout(10 * time.Second)
	}
}

// bootstrap creates the first admin when there are no users, printing a
// generated password once, to the terminal only (never to the log).
func bootstrap(ctx context.Context, us *users.Service, cfg *config.Config) error {
	created, pw, err := us.Bootstrap(ctx, cfg.BootstrapAdminEmail, cfg.BootstrapAdminPassword)
	if err != nil || !created {
		return err
	}
	email := cfg.BootstrapAdminEmail
	if email == "" {
		email = users.DefaultBootstrapEmail
	}
	fmt.Fprintln(os.Stdout, "First admin created:")
	fmt.Fprintf(os.Stdout, "  email:    %s\n", email)
	if cfg.BootstrapAdminPassword == "" {
		fmt.Fprintf(os.Stdout, "  password: %s\n  (shown once: store it now)\n", pw)
	} else {
		fmt.Fprintln(os.Stdout, "  password: the one given in STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD")
	}
	return nil
}

// prune deletes expired sessions and finished throttle windows, and
// records the audit tallies whose window closed.
func prune(ctx context.Context, st *store.Store, us *users.Service, gw *gateways.Service, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := us.PruneSessions(ctx); err != nil {
				log.Warn("prune sessions", "err", err)
			}
			if err := us.PruneThrottles(ctx); err != nil {
				log.Warn("prune login throttles", "err", err)
			}
			if err := gw.Prune(ctx); err != nil {
				log.Warn("prune gateway heartbeats", "err", err)
			}
			if err := audit.CloseTallies(st.DB.WithContext(ctx), time.Now()); err != nil {
				log.Warn("close audit tallies", "err", err)
			}
		}
	}
}

func keysRotate(args []string) error {
	cfg, err := config.Load(args)
	if err != nil {
		return err
	}
	keys, err := auth.LoadKeyRing(cfg.JWTKeyDir)
	if err != nil {
		return err
	}
	kid, err := keys.Rotate()
	if err != nil {
		return err
	}
	fmt.Printf("new JWT signing key %s in %s; processes pick it up on the next token they see signed by it, or at restart\n", kid, cfg.JWTKeyDir)
	return nil
}

// configKeysRotate adds a config signing key endorsed by the current one,
// which keeps verifying for STREAMFORGE_CONFIG_KEY_GRACE, and audits it.
// The database is opened first: no rotation goes unrecorded because the
// database was unreachable.
func configKeysRotate(ctx context.Context, args []string) error {
	cfg, err := config.Load(args)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	ring, err := configsign.Load(cfg.ConfigKeyDir)
	if err != nil {
		return err
	}
	prev := ring.Newest()
	now := time.Now()
	kid, err := ring.Rotate(cfg.ConfigKeyGrace, now)
	if err != nil {
		return err
	}
	ev := audit.Origin{Actor: cliActor()}.Event("config.keys.rotate", "config_signing_key", kid, "rotate", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"signing_key": {Old: prev, New: kid}, "previous_retires_at": {New: now.Add(cfg.ConfigKeyGrace).UTC()}}
	if _, err := audit.Append(st.DB.WithContext(ctx), ev); err != nil { // its own transaction
		return fmt.Errorf("config signing key %s made, but its audit record failed: %w", kid, err)
	}
	fmt.Printf("new config signing key %s in %s: the next deploy signs with it; configs signed before keep verifying for %s\n",
		kid, cfg.ConfigKeyDir, cfg.ConfigKeyGrace)
	return nil
}

// cliActor names who ran a command, for its audit record.
func cliActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return "cli:" + name
}

// configKeysList prints the config signing keys in service as YAML list
// items for agent.yaml's control_plane.config_keys.
func configKeysList(args []string) error {
	cfg, err := config.Load(args)
	if err != nil {
		return err
	}
	ring, err := configsign.Load(cfg.ConfigKeyDir)
	if err != nil {
		return err
	}
	for _, k := range ring.Trusted(time.Now()) {
		line := fmt.Sprintf("- %q", k.String())
		if k.RetiresAt != nil {
			line += "  # retires " + k.RetiresAt.Format(time.RFC3339)
		}
		fmt.Println(line)
	}
	return nil
}

// gatewayListener is the gateways' mTLS listener, with step-ca's webhook.
func gatewayListener(srv *api.Server, cfg *config.Config) (*http.Server, error) {
	tlsCfg, layout, err := srv.GatewayTLSConfig(cfg.StepCADir)
	if err != nil {
		return nil, fmt.Errorf("STREAMFORGE_STEPCA_DIR: %w", err)
	}
	h := srv.GatewayListener(stepca.WebhookOptions{CANames: layout.DNSNames})
	return &http.Server{Addr: cfg.GatewayListen, Handler: h, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}, nil
}
