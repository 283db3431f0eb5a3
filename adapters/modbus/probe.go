package modbus

import (
	"fmt"
	"log/slog"

	"github.com/streamforge/streamforge/adapters"
)

// Probe reads poll group group of device device of cfg once, over a
// connection of its own that it closes before returning, so it neither
// shares nor disturbs the running adapter's connection and state (a test
// connection). Every tag of the group is returned, changed or not. The
// error is the transport's, or the device's exception when it refused
// every request of the group; the readings are returned either way
// (Bad where no value came).
func Probe(gatewayID string, cfg Config, device, group string, log *slog.Logger) ([]adapters.Reading, error) {
	cfg, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Devices {
		if cfg.Devices[i].Name != device {
			continue
		}
		d := newDevice(gatewayID, &cfg.Devices[i], log.With("probe", true))
		defer d.h.Close()
		for _, g := range d.groups {
			if g.cfg.Name != group {
				continue
			}
			readings, err := d.poll(g)
			if err == nil {
				err = g.refused
			}
			return readings, err
		}
		return nil, fmt.Errorf("device %q has no poll group %q", device, group)
	}
	return nil, fmt.Errorf("modbus adapter %q has no device %q", cfg.Name, device)
}
