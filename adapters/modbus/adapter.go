// Package modbus is the Modbus TCP and RTU adapter: it polls registers and
// coils of each configured device in its own goroutine, merges neighbouring
// tags into requests, decodes them by type and byte order, and emits
// readings report-by-exception. See README.md for the configuration.
package modbus

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/streamforge/streamforge/adapters"
)

// Adapter polls the devices of one Config.
type Adapter struct {
	name    string
	devices []*device
}

var _ adapters.Adapter = (*Adapter)(nil)

// Validate checks cfg as New does, naming the first bad field, without
// building anything: the control plane checks pipelines with it.
//
// Its errors start with the field path inside the adapter
// ("devices[0].tags[1].address: ..."), so that the caller can put the
// adapter's own path in front; New's name the adapter.
func Validate(cfg Config) error {
	cfg = withDefaults(cfg)
	return cfg.validate()
}

// prepare returns a copy of cfg with defaults applied, validated.
func prepare(cfg Config) (Config, error) {
	cfg = withDefaults(cfg)
	if err := cfg.validate(); err != nil {
		return cfg, fmt.Errorf("modbus adapter %q: %w", cfg.Name, err)
	}
	return cfg, nil
}

// withDefaults returns a copy of cfg with defaults applied.
func withDefaults(cfg Config) Config {
	cfg.Devices = slices.Clone(cfg.Devices) // defaults must not write into the caller's config
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		d.Tags, d.PollGroups = slices.Clone(d.Tags), slices.Clone(d.PollGroups)
		if d.RTU != nil {
			rtu := *d.RTU
			d.RTU = &rtu
		}
		d.setDefaults()
	}
	return cfg
}

// New validates cfg (naming the first bad field) and builds the adapter.
func New(gatewayID string, cfg Config, log *slog.Logger) (*Adapter, error) {
	cfg, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	log = log.With("adapter", cfg.Name)
	a := &Adapter{name: cfg.Name}
	for i := range cfg.Devices {
		a.devices = append(a.devices, newDevice(gatewayID, &cfg.Devices[i], log))
	}
	return a, nil
}

// Name is the configured adapter name.
func (a *Adapter) Name() string { return a.name }

// Run polls all devices until ctx is done.
func (a *Adapter) Run(ctx context.Context, sink adapters.Sink) error {
	var wg sync.WaitGroup
	for _, d := range a.devices {
		wg.Go(func() { d.run(ctx, sink) })
	}
	wg.Wait()
	return nil
}

// States reports each device's health.
func (a *Adapter) States() []adapters.State {
	out := make([]adapters.State, len(a.devices))
	for i, d := range a.devices {
		out[i] = d.snapshot()
	}
	return out
}
