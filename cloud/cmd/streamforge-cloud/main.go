// Command streamforge-cloud runs the StreamForge control plane.
//
//	streamforge-cloud serve [flags]           serve the API (see docs/cloud-config.md)
//	streamforge-cloud audit verify [--kafka]  check the audit hash chain against its checkpoints (and the audit topic)
//	streamforge-cloud audit compliance KIND   gdpr --user EMAIL | soc2 [--from --to] | iso27001
//	streamforge-cloud keys rotate             add a JWT signing key (old tokens stay valid)
//	streamforge-cloud config-keys rotate      add a config signing key (the old one verifies for a grace period)
//	streamforge-cloud config-keys list        print the config signing keys in service (for agent.yaml)
//	streamforge-cloud secret-keys rotate      add a key-encryption key for the secrets and rewrap every value with it
//	streamforge-cloud secret-keys rewrap      rewrap values still under an older key-encryption key
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  streamforge-cloud serve [flags]
  streamforge-cloud audit verify [--kafka] [flags]
  streamforge-cloud audit compliance gdpr --user EMAIL | soc2 [--from RFC3339 --to RFC3339] | iso27001
  streamforge-cloud keys rotate [flags]
  streamforge-cloud config-keys rotate|list [flags]
  streamforge-cloud secret-keys rotate|rewrap [flags]
Settings are environment variables (STREAMFORGE_*) or the same-named flags; run "serve -h".`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, log, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "streamforge-cloud:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	switch {
	case args[0] == "serve":
		return serve(ctx, log, args[1:])
	case len(args) >= 2 && args[0] == "audit" && args[1] == "verify":
		return auditVerify(ctx, args[2:])
	case len(args) >= 3 && args[0] == "audit" && args[1] == "compliance":
		return auditCompliance(ctx, args[2], args[3:])
	case len(args) >= 2 && args[0] == "keys" && args[1] == "rotate":
		return keysRotate(args[2:])
	case len(args) >= 2 && args[0] == "config-keys" && args[1] == "rotate":
		return configKeysRotate(ctx, args[2:])
	case len(args) >= 2 && args[0] == "config-keys" && args[1] == "list":
		return configKeysList(args[2:])
	case len(args) >= 2 && args[0] == "secret-keys" && (args[1] == "rotate" || args[1] == "rewrap"):
		return secretKeysRotate(ctx, args[2:], args[1] == "rotate")
	}
	return fmt.Errorf("%s", usage)
}
