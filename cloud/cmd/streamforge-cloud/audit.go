package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/config"
	"github.com/streamforge/streamforge/cloud/store"
)

func openStore(ctx context.Context, args []string) (*store.Store, []string, error) {
	cfg, err := config.Load(args)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	return st, nil, err
}

// auditVerify exits non-zero, naming the first bad record, when the chain
// has been edited, cut or reordered.
func auditVerify(ctx context.Context, args []string) error {
	st, _, err := openStore(ctx, args)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := audit.Verify(st.Audit(ctx))
	if err != nil {
		return err
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	if !rep.OK {
		return fmt.Errorf("audit chain broken: %s", rep.Problem)
	}
	return nil
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
	st, _, err := openStore(ctx, rest)
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
