package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/streamforge/streamforge/adapters"
)

// Probe reads the nodes of group (a poll group or a subscription) of
// server device of cfg once, with the Read service, over a session of its
// own with the server's security settings, closed before returning: the
// running adapter's session is neither shared nor disturbed (a test
// connection). Connecting is bounded by three times the server's timeout
// and the read by the timeout, and both end early with ctx.
//
// The error is the connection's or the read's; otherwise it names every
// node that came back with a bad status (an unknown node id, say), whose
// readings are Bad and returned with it.
func Probe(ctx context.Context, gatewayID string, cfg Config, device, group string, log *slog.Logger) ([]adapters.Reading, error) {
	cfg, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Servers {
		srv := &cfg.Servers[i]
		if srv.Name != device {
			continue
		}
		s, err := newSession(gatewayID, srv, log.With("device", device, "probe", true))
		if err != nil {
			return nil, fmt.Errorf("opcua adapter %q: %w", cfg.Name, err)
		}
		handles := s.handles(func(n *Node) bool { return n.PollGroup == group || n.Subscription == group })
		if len(handles) == 0 {
			return nil, fmt.Errorf("server %q has no poll group or subscription %q with nodes", device, group)
		}
		c, err := s.connect(ctx)
		if err != nil {
			return nil, err
		}
		defer closeClient(c)
		results, err := s.read(ctx, c, s.readIDs(handles))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", group, err)
		}
		rs := make([]adapters.Reading, len(results))
		var bad []error
		for k, dv := range results {
			n := &srv.Nodes[handles[k]]
			rs[k] = reading(gatewayID, srv.Name, n.Name, dv)
			if rs[k].Quality == adapters.QualityBad {
				bad = append(bad, fmt.Errorf("node %s (%s): %w", n.Name, n.NodeID, dv.Status))
			}
		}
		return rs, errors.Join(bad...)
	}
	return nil, fmt.Errorf("opcua adapter %q has no server %q", cfg.Name, device)
}
