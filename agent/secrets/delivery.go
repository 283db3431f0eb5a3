package secrets

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/streamforge/streamforge/pkg/secret"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Delivery gets the values of a config's ${secret:name} references from
// the control plane (over mTLS), keeps them sealed on disk (Sealed), and
// falls back to that sealed copy when the control plane cannot be asked,
// so that a gateway restarts offline with the config it last applied.
// The values reach the config in memory only.
type Delivery struct {
	Fetch  func(ctx context.Context) (wire.SecretsResponse, error)
	Sealed *Sealed
	Log    *slog.Logger
}

// For returns the delivered values for config rc (nil when it references
// no ${secret:name}), each bound to the destinations the control plane
// answered for it (none when it answered none) and the protection it
// answered (any when it answered none).
func (d *Delivery) For(ctx context.Context, rc wire.ConfigResponse) (map[string]Secret, error) {
	names, err := secret.Names(rc.Config)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	res, ferr := d.Fetch(ctx)
	if ferr == nil {
		vals := make(map[string]Secret, len(res.Secrets))
		for n, v := range res.Secrets {
			vals[n] = secret.Bound(v, res.Destinations[n]).WithProtection(res.Protection[n])
		}
		if err := d.Sealed.Save(vals); err != nil {
			// The values still serve this process; only an offline restart
			// would miss them.
			d.Log.Warn("could not keep the delivered secrets sealed on disk", "err", err)
		}
		if len(res.Missing) > 0 {
			d.Log.Warn("the control plane holds no value for some referenced secrets; looking for them locally", "names", res.Missing)
		}
		return vals, nil
	}
	vals, err := d.Sealed.Load()
	if err != nil {
		return nil, fmt.Errorf("fetch from the control plane: %w; sealed copy: %w", ferr, err)
	}
	if len(vals) == 0 {
		// Nothing kept (never delivered, or no mTLS): the references
		// resolve locally or fail naming themselves.
		d.Log.Debug("secrets not fetched from the control plane and none kept", "err", ferr)
		return vals, nil
	}
	d.Log.Warn("secrets not fetched from the control plane; using the sealed copy on disk", "err", ferr, "names", len(vals))
	return vals, nil
}
