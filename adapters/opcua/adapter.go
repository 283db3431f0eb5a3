// Package opcua is the OPC UA client adapter: per server one session with
// subscriptions (sampling interval, queue size, deadband) and polled reads,
// security None or Basic256Sha256 Sign/SignAndEncrypt, anonymous, username
// or certificate identity, a trust list for server certificates, and
// reconnect with re-subscription after the session is lost. See README.md.
package opcua

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/streamforge/streamforge/adapters"
)

// Adapter reads the servers of one Config.
type Adapter struct {
	name     string
	sessions []*session
}

var _ adapters.Adapter = (*Adapter)(nil)

// Validate checks cfg as New does, naming the first bad field, without
// loading files or building anything: the control plane checks pipelines
// with it (trust lists and certificates are files on the gateway).
//
// Its errors start with the field path inside the adapter
// ("servers[0].nodes[1].node_id: ..."), so that the caller can put the
// adapter's own path in front; New's name the adapter.
func Validate(cfg Config) error {
	cfg = withDefaults(cfg)
	return cfg.validate()
}

// prepare returns a copy of cfg with defaults applied, validated.
func prepare(cfg Config) (Config, error) {
	cfg = withDefaults(cfg)
	if err := cfg.validate(); err != nil {
		return cfg, fmt.Errorf("opcua adapter %q: %w", cfg.Name, err)
	}
	return cfg, nil
}

// withDefaults returns a copy of cfg with defaults applied.
func withDefaults(cfg Config) Config {
	cfg.Servers = slices.Clone(cfg.Servers) // defaults must not write into the caller's config
	for i := range cfg.Servers {
		cfg.Servers[i].Subscriptions = slices.Clone(cfg.Servers[i].Subscriptions)
		cfg.Servers[i].setDefaults()
	}
	return cfg
}

// New validates cfg (naming the first bad field), loads trust lists and
// certificates, and builds the adapter. Passwords must already be resolved.
func New(gatewayID string, cfg Config, log *slog.Logger) (*Adapter, error) {
	cfg, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	a := &Adapter{name: cfg.Name}
	log = log.With("adapter", cfg.Name)
	for i := range cfg.Servers {
		s, err := newSession(gatewayID, &cfg.Servers[i], log.With("device", cfg.Servers[i].Name))
		if err != nil {
			return nil, fmt.Errorf("opcua adapter %q: servers[%d]: %w", cfg.Name, i, err)
		}
		a.sessions = append(a.sessions, s)
	}
	return a, nil
}

func newSession(gatewayID string, cfg *Server, log *slog.Logger) (*session, error) {
	s := &session{cfg: cfg, gatewayID: gatewayID, log: log, appURI: "urn:streamforge:gateway:" + gatewayID,
		health: adapters.NewHealth(cfg.Name, log)}
	var err error
	if s.trust, err = loadTrust(cfg.Trust); err != nil {
		return nil, err
	}
	for _, n := range cfg.Nodes {
		nid, _ := parseNodeID(n.NodeID) // validated
		s.ids = append(s.ids, nid)
	}
	switch {
	case cfg.Certificate != "":
		if s.cert, s.key, err = loadKeyPair(cfg.Certificate, cfg.Key); err != nil {
			return nil, err
		}
		if c, _ := certURI(s.cert); c != "" {
			s.appURI = c
		}
	case cfg.Policy != "None":
		if s.cert, s.key, err = SelfSigned(s.appURI, []string{"localhost"}); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
	}
	if cfg.Identity.Type == "certificate" {
		if s.userCert, s.userKey, err = loadKeyPair(cfg.Identity.Certificate, cfg.Identity.Key); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
	}
	return s, nil
}

// Name is the configured adapter name.
func (a *Adapter) Name() string { return a.name }

// Run keeps every server's session going until ctx is done.
func (a *Adapter) Run(ctx context.Context, sink adapters.Sink) error {
	var wg sync.WaitGroup
	for _, s := range a.sessions {
		wg.Go(func() { s.run(ctx, sink) })
	}
	wg.Wait()
	return nil
}

// States reports each server's session health.
func (a *Adapter) States() []adapters.State {
	out := make([]adapters.State, len(a.sessions))
	for i, s := range a.sessions {
		out[i] = s.snapshot()
	}
	return out
}
