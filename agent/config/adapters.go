package config

import (
	"fmt"
	"log/slog"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/agent/secrets"
)

// NewAdapter builds the adapter; it validates the adapter's configuration.
func NewAdapter(a *Adapter, gatewayID string, log *slog.Logger) (adapters.Adapter, error) {
	if a.OPCUA != nil {
		return opcua.New(gatewayID, *a.OPCUA, log)
	}
	return modbus.New(gatewayID, *a.Modbus, log)
}

// buildAdapters builds every adapter once, after the shared validation
// (pkg/pipeline), so that what only the gateway can check, such as a
// missing trust or certificate file, is a load error naming the adapter.
func (c *Config) buildAdapters() error {
	for i := range c.Adapters {
		probe := c.Adapters[i]
		if probe.OPCUA != nil { // a password reference is not a password yet
			probe.OPCUA = placeholderPasswords(probe.OPCUA)
		}
		if _, err := NewAdapter(&probe, c.GatewayID, slog.New(slog.DiscardHandler)); err != nil {
			return fmt.Errorf("adapters[%d]: %w", i, err)
		}
	}
	return nil
}

func placeholderPasswords(c *opcua.Config) *opcua.Config {
	cp := *c
	cp.Servers = append([]opcua.Server(nil), c.Servers...)
	for i := range cp.Servers {
		if cp.Servers[i].Identity.Password != "" {
			cp.Servers[i].Identity.Password = "placeholder"
		}
	}
	return &cp
}

// resolve replaces OPC UA identity password references with their values.
func resolveAdapter(a *Adapter, field string, store *secrets.Store) error {
	if a.OPCUA == nil {
		return nil
	}
	for i := range a.OPCUA.Servers {
		id := &a.OPCUA.Servers[i].Identity
		sec, err := store.Resolve(fmt.Sprintf("%s.servers[%d].identity.password", field, i), id.Password)
		if err != nil {
			return err
		}
		id.Password = sec.Reveal()
	}
	return nil
}
