package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"time"

	"github.com/streamforge/streamforge/cloud/alarms"
	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/config"
	"github.com/streamforge/streamforge/cloud/configsign"
	"github.com/streamforge/streamforge/cloud/conntest"
	"github.com/streamforge/streamforge/cloud/gatewaylogs"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/proposals"
	"github.com/streamforge/streamforge/cloud/rollout"
	"github.com/streamforge/streamforge/cloud/secretbox"
	"github.com/streamforge/streamforge/cloud/secrets"
	"github.com/streamforge/streamforge/cloud/serviceaccounts"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/cloud/users"
	"github.com/streamforge/streamforge/pki/attestca"
)

func serve(ctx context.Context, log *slog.Logger, args []string) error {
	cfg, st, err := openStore(ctx, args)
	if err != nil {
		return err
	}
	defer st.Close()
	// The API's address is taken first: an address in use must fail the
	// start before anything is created (the first admin: bootstrap below).
	ln, err := listen("STREAMFORGE_LISTEN", cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	reg := newRegistry()
	// alarms (#13): started before the audit checkpoints, which report a
	// broken chain to it, and closed after them.
	evaluator, err := startAlarms(st, cfg.Alarms, log, reg)
	if err != nil {
		return err
	}
	defer evaluator.Close()
	// audit: checkpoints and the Kafka relay, stopped after the listeners.
	auditKeys, stopAudit, err := startAudit(cfg, st, log, reg, evaluator)
	if err != nil {
		return err
	}
	defer stopAudit()
	keys, err := auth.LoadKeyRing(cfg.JWTKeyDir)
	if err != nil {
		return err
	}
	auth.SetHashMemoryBudget(cfg.PasswordHashMemoryMiB, auth.DefaultHashWait)
	us := users.New(users.StoreRepo(st), keys, log, reg)
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
	// The gateways' batching goroutines stop once serve has shut the HTTP
	// app down and before the store closes (deferred after it, so run
	// before it): heartbeats queued at shutdown are written.
	gw.Start(ctx)
	defer gw.Close()
	secretKeys, err := secretbox.Open(cfg.SecretKeyDir) // secrets (#12)
	if err != nil {
		return fmt.Errorf("STREAMFORGE_SECRET_KEY_DIR: %w", err)
	}
	gw.OnHeartbeat = evaluator.Heartbeat
	deps := apiDeps(st, us, gw)
	deps.Alarms, deps.AuditAlarm, deps.AuditKeys = alarms.NewService(st), evaluator, auditKeys
	deps.Secrets = secrets.New(st.Secrets(), gw.Configs, secretKeys) // names from the signed bundle
	srv := api.New(deps, log, api.Options{
		TrustedProxies: cfg.TrustedProxies, RateLimitPerMinute: cfg.RateLimitPerMinute, GatewayRateLimit: cfg.GatewayRateLimit,
		BodyLimit: cfg.BodyLimit, MetricsToken: cfg.MetricsToken, TLS: cfg.TLSCert != "", Metrics: reg,
		AuditAnchorFile: cfg.Audit.AnchorFile,
	})
	// prune is waited for before the store closes, whatever ends serve.
	pruneCtx, stopPrune := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() { defer close(pruned); prune(pruneCtx, st, us, gw.Heartbeats, log) }()
	defer func() { stopPrune(); <-pruned }()
	// Staged rollouts (#12): the engine advances them until shutdown.
	rollouts := rollout.NewEngine(st.Rollouts(), pipelines.New(st.Pipelines()), srv.WriteConfig, log)
	rollouts.Start(ctx)
	defer rollouts.Close()
	// One app serves both listeners; its shutdown closes both.
	errc := make(chan error, 2)
	if cfg.GatewayListen != "" {
		ln, addr, err := gatewayListener(srv, cfg)
		if err != nil {
			return err
		}
		go func() { errc <- srv.App().Listener(ln) }()
		// The bound address: a port 0 is chosen by now.
		log.Info("gateway mTLS listener", "addr", addr)
		fmt.Printf("StreamForge gateway listener on https://%s\n", addr)
	}

	scheme, addr := "http", ln.Addr().String() // the bound address: a port 0 is chosen by now
	if cfg.TLSCert != "" {
		scheme = "https"
		tl, err := tlsListener(ln, cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			_ = ln.Close()
			return err
		}
		ln = tl
	}
	// Last before serving: a start that fails on any setting above must
	// not create the first admin, whose password is shown only once.
	if err := bootstrap(ctx, us, cfg); err != nil {
		return err
	}
	go func() { errc <- srv.App().Listener(ln) }()
	log.Info("serving", "url", scheme+"://"+addr, "database", st.Dialect)
	fmt.Printf("StreamForge control plane listening on %s://%s (database: %s)\n", scheme, addr, st.Dialect)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		log.Info("shutting down")
		return srv.App().ShutdownWithTimeout(10 * time.Second)
	}
}

// openStore reads the settings from args and the environment and opens
// the database they name (running its pending migrations).
func openStore(ctx context.Context, args []string) (*config.Config, *store.Store, error) {
	cfg, err := config.Load(args)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// apiDeps are the services the API's handlers call, over st.
func apiDeps(st *store.Store, us *users.Service, gw *gateways.Service) api.Deps {
	return api.Deps{
		Database: st, DatabaseName: st.Dialect,
		Audit: func(ctx context.Context, scope *audit.Scope) api.AuditReader { return st.Audit(ctx).Within(scope) },
		Trail: st.AuditLog(), Users: us, Gateways: gw,
		Pipelines: pipelines.New(st.Pipelines()), GatewayLogs: gatewaylogs.New(st),
		Copilot: copilotServices(st), Rollouts: rollout.New(st.Rollouts(), pipelines.New(st.Pipelines())),
	}
}

// copilotServices are the #12 services over st: service accounts,
// proposals, connection tests (hints read at most once a second).
func copilotServices(st *store.Store) api.CopilotServices {
	p := pipelines.New(st.Pipelines())
	return api.CopilotServices{Accounts: serviceaccounts.New(st.ServiceAccounts()), Proposals: proposals.New(st.Proposals(), p),
		Tests: conntest.New(st.ConnectionTests(), p), Hints: conntest.NewHints(st.ConnectionTests(), time.Second)}
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
func prune(ctx context.Context, st *store.Store, us *users.Service, gw *gateways.Heartbeats, log *slog.Logger) {
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
			if err := st.Audit(ctx).CloseTallies(time.Now()); err != nil {
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
	fmt.Printf("new JWT signing key %s in %s; running processes sign with it within a minute (they reread the directory) and verify it at once\n", kid, cfg.JWTKeyDir)
	return nil
}

// configKeysRotate adds a config signing key endorsed by the current one,
// which keeps verifying for STREAMFORGE_CONFIG_KEY_GRACE, and audits it.
// The database is opened first: no rotation goes unrecorded because the
// database was unreachable.
func configKeysRotate(ctx context.Context, args []string) error {
	cfg, st, err := openStore(ctx, args)
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
	if _, err := store.AppendAudit(st.DB.WithContext(ctx), ev); err != nil { // its own transaction
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

// gatewayListener is the gateways' mTLS listener, with step-ca's webhook,
// and the address it is bound to.
func gatewayListener(srv *api.Server, cfg *config.Config) (net.Listener, string, error) {
	ln, err := listen("STREAMFORGE_GATEWAY_LISTEN", cfg.GatewayListen)
	if err != nil {
		return nil, "", err
	}
	gl, err := srv.GatewayListener(ln, cfg.StepCADir)
	if err != nil {
		_ = ln.Close()
		return nil, "", fmt.Errorf("STREAMFORGE_STEPCA_DIR: %w", err)
	}
	return gl, ln.Addr().String(), nil
}
