package auditrelay

import (
	"context"
	"log/slog"
)

// EnsureTopic creates cfg.Topic as the relay would.
func EnsureTopic(ctx context.Context, cfg Config) error {
	cfg.defaults()
	p, err := newProducer(cfg, slog.Default())
	if err != nil {
		return err
	}
	defer p.close()
	return ensureTopic(ctx, p.p, cfg, slog.Default())
}
