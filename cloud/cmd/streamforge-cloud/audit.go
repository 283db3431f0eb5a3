package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/alarms"
	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auditrelay"
	"github.com/streamforge/streamforge/cloud/config"
	"github.com/streamforge/streamforge/cloud/configsign"
	"github.com/streamforge/streamforge/cloud/store"
)

// auditVerify exits non-zero, naming the first bad record, when the chain
// has been edited, cut or reordered, or no longer holds a signed
// checkpoint. With --kafka it also reads the trail from the audit topic
// and compares it with the database.
func auditVerify(ctx context.Context, args []string) error {
	withKafka := false
	var rest []string
	for _, a := range args {
		if trimDashes(a) == "kafka" {
			withKafka = true
			continue
		}
		rest = append(rest, a)
	}
	cfg, st, err := openStore(ctx, rest)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := configsign.Load(cfg.Audit.KeyDir)
	if err != nil {
		return fmt.Errorf("STREAMFORGE_AUDIT_KEY_DIR: %w", err)
	}
	anchor, err := audit.ReadAnchor(cfg.Audit.AnchorFile)
	if err != nil {
		return err
	}
	rep, err := audit.VerifyWithCheckpoints(st.Audit(ctx), keys, anchor)
	if err != nil {
		return err
	}
	printJSON(rep)
	if !rep.OK {
		if aerr := raiseAuditAlarm(ctx, st, cfg, rep.Problem); aerr != nil { // alarms (#13)
			fmt.Fprintf(os.Stderr, "raising the security alarm failed too: %v\n", aerr)
		}
		return fmt.Errorf("audit chain broken: %s", rep.Problem)
	}
	if anchor == nil && rep.Checkpoints == 0 {
		fmt.Fprintln(os.Stderr, "note: no signed checkpoint yet; nothing outside the database anchors the chain")
	}
	if !withKafka {
		return nil
	}
	if cfg.Audit.KafkaBrokers == "" {
		return fmt.Errorf("--kafka: STREAMFORGE_AUDIT_KAFKA_BROKERS is not set")
	}
	trail, err := auditrelay.ReadTopicTimeout(ctx, relayConfig(cfg.Audit))
	if err != nil {
		return err
	}
	pending, err := st.Audit(ctx).OutboxLen()
	if err != nil {
		return err
	}
	krep, err := audit.CompareTopic(st.Audit(ctx), trail.Records, trail.Checkpoints, keys, pending)
	if err != nil {
		return err
	}
	printJSON(krep)
	if !krep.OK {
		return fmt.Errorf("audit topic disagrees: %s", krep.Problem)
	}
	return nil
}

// raiseAuditAlarm opens the audit verification alarm and, with a webhook
// configured, posts it there as the serving processes would.
func raiseAuditAlarm(ctx context.Context, st *store.Store, cfg *config.Config, problem string) error {
	var hook *alarms.Webhook
	if cfg.Alarms.WebhookURL != "" {
		var err error
		if hook, err = alarms.NewWebhook(cfg.Alarms.WebhookURL, cfg.Alarms.WebhookSecret, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
			return err
		}
	}
	return alarms.RaiseAuditFailure(ctx, st, problem, time.Now(), hook)
}

func printJSON(v any) {
	out, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(out))
}

// startAudit starts what anchors the audit trail outside the database:
// the checkpoint signer and, when brokers are configured, the relay to
// Kafka, their metrics in reg. A chain the signer finds broken goes to
// alarm. It returns the checkpoint keys (for the API's verification);
// stop signs the head a last time and stops both.
func startAudit(cfg *config.Config, st *store.Store, log *slog.Logger, reg prometheus.Registerer,
	alarm audit.VerificationAlarm) (keys *configsign.Ring, stop func(), err error) {
	keys, err = configsign.Load(cfg.Audit.KeyDir)
	if err != nil {
		return nil, nil, fmt.Errorf("STREAMFORGE_AUDIT_KEY_DIR: %w", err)
	}
	repo := st.Audit(context.Background())
	relayMetrics, err := auditrelay.NewMetrics(reg, func(ctx context.Context) (int64, error) { return st.Audit(ctx).OutboxLen() })
	if err != nil {
		return nil, nil, err
	}
	cp := audit.NewCheckpointer(repo, keys, cfg.Audit.AnchorFile, cfg.Audit.CheckpointInterval, log)
	cp.Alarm = alarm
	if err := cp.Register(reg); err != nil {
		return nil, nil, err
	}
	cp.Start()
	var relay *auditrelay.Relay
	if cfg.Audit.KafkaBrokers != "" {
		rc := relayConfig(cfg.Audit)
		rc.Metrics = relayMetrics
		log.Info("audit relay", "brokers", rc.Brokers, "topic", rc.Topic, "security", rc.Security)
		relay = auditrelay.New(rc, repo, st, log)
		relay.Start()
	}
	return keys, func() {
		if err := cp.Close(); err != nil {
			log.Error("audit checkpoint at shutdown", "err", err)
		}
		if relay != nil {
			_ = relay.Close()
		}
	}, nil
}

// relayConfig is where and how the relay writes, and `audit verify
// --kafka` reads, the audit topic: both use the same settings.
func relayConfig(a config.Audit) auditrelay.Config {
	return auditrelay.Config{
		Brokers: a.KafkaBrokers, Topic: a.KafkaTopic, Security: a.KafkaSecurity, MinInsyncReplicas: a.MinInsyncReplicas,
		ReplicationFactor: a.ReplicationFactor, Interval: a.RelayInterval,
	}
}

func auditCompliance(ctx context.Context, kind string, args []string) error {
	fs := flag.NewFlagSet("compliance", flag.ContinueOnError)
	user := fs.String("user", "", "gdpr: the user's email")
	from := fs.String("from", "", "soc2: start (RFC 3339; default a year ago)")
	to := fs.String("to", "", "soc2: end (RFC 3339; default now)")
	var rest []string
	// compliance flags first, then store settings (--data-dir, --database-url)
	for i := 0; i < len(args); i++ {
		if f := fs.Lookup(trimDashes(args[i])); f != nil && i+1 < len(args) {
			_ = f.Value.Set(args[i+1])
			i++
			continue
		}
		rest = append(rest, args[i])
	}
	_, st, err := openStore(ctx, rest)
	if err != nil {
		return err
	}
	defer st.Close()
	db := st.Audit(ctx)
	now := time.Now().UTC()
	var result any
	switch kind {
	case "gdpr":
		if *user == "" {
			return fmt.Errorf("gdpr: --user EMAIL is required")
		}
		result, err = audit.GDPRUserEvents(db, *user, now)
	case "soc2":
		end, start := now, now.AddDate(-1, 0, 0)
		if *to != "" {
			if end, err = time.Parse(time.RFC3339, *to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
		}
		if *from != "" {
			if start, err = time.Parse(time.RFC3339, *from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
		}
		result, err = audit.SOC2ConfigChanges(db, start, end)
	case "iso27001":
		result, err = audit.ISO27001FailedLogins(db, now)
	default:
		return fmt.Errorf("unknown compliance query %q (gdpr, soc2, iso27001)", kind)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(result)
}

func trimDashes(s string) string {
	for len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	return s
}
