// Command streamforge-agent is the edge runtime: it reads PLCs through the
// configured adapters, keeps every reading in a durable buffer and forwards
// it to Kafka.
//
//	streamforge-agent run   --config agent.yaml   run until SIGTERM or SIGINT
//	streamforge-agent check --config agent.yaml   load and validate, then exit
//
// The configuration is documented in docs/agent-config.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/agent/logring"
	"github.com/streamforge/streamforge/agent/run"
	"github.com/streamforge/streamforge/agent/tpm"
)

const usage = `usage: streamforge-agent <command> --config FILE

commands:
  run     run the data path until SIGTERM or SIGINT
  check   load and validate the configuration (secrets included), then exit
`

func main() {
	if err := mainErr(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "streamforge-agent:", err)
		os.Exit(1)
	}
}

func mainErr(args []string, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "run" && args[0] != "check") {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "agent.yaml", "configuration file")
	var cp cpFlags
	fs.StringVar(&cp.url, "control-plane-url", "", "control plane URL (CONTROL_PLANE_URL; default: control_plane.url)")
	fs.StringVar(&cp.gatewayID, "gateway-id", "", "gateway id (CONTROL_PLANE_GATEWAY_ID; default: gateway_id)")
	fs.StringVar(&cp.enrollmentToken, "enrollment-token", "", "enrollment token (CONTROL_PLANE_ENROLLMENT_TOKEN; default: control_plane.enrollment_token)")
	fs.StringVar(&cp.tpmPath, "tpm", tpm.DefaultPath, "TPM device or swtpm socket (unix:PATH, tcp:HOST:PORT) holding the gateway identity")
	fs.BoolVar(&cp.insecureSoftwareIdentity, tpm.InsecureSoftwareIdentityFlag, false, "use a software identity key instead of a TPM (INSECURE; for laptops)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if args[0] == "check" {
		fmt.Fprintf(stderr, "%s: ok (%d adapters)\n", *path, len(cfg.Adapters))
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	// Every line is scrubbed of secrets before it reaches stderr or the
	// ring of recent lines the control plane can read.
	logs := logring.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}), cfg.SecretValues()...)
	log := slog.New(logs)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cp.fromEnv()
	if cp.url == "" {
		cp.url = cfg.ControlPlane.URL
	}
	if cp.gatewayID == "" {
		cp.gatewayID = cfg.GatewayID
	}
	if cp.enrollmentToken == "" {
		cp.enrollmentToken = cfg.Secrets.EnrollmentToken.Reveal()
	}
	logs.Scrubber().Add(cp.enrollmentToken)
	if cp.url != "" {
		return runManaged(ctx, cp, *path, cfg, log, logs)
	}
	agent, err := run.New(cfg, log)
	if err != nil {
		return err
	}
	return agent.Run(ctx)
}
