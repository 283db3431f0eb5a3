package modbus

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/adapters"
)

func validConfig() Config {
	return Config{Name: "mb", Devices: []Device{{
		Name: "plc1", TCP: "127.0.0.1:502", UnitID: 1,
		PollGroups: []PollGroup{{Name: "fast", Interval: Duration(100e6)}},
		Tags:       []Tag{{Name: "t", Register: HoldingRegister, Type: adapters.TypeFloat32, Group: "fast"}},
	}}}
}

func TestNewValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // substring naming the bad field; "" means valid
	}{
		{"ok", func(*Config) {}, ""},
		{"fail-no-name", func(c *Config) { c.Name = "" }, "name: required"},
		{"fail-both-transports", func(c *Config) { c.Devices[0].RTU = &Serial{Device: "/dev/x"} }, "devices[0]: exactly one of tcp or rtu"},
		{"fail-tcp-address", func(c *Config) { c.Devices[0].TCP = "127.0.0.1" }, "devices[0].tcp"},
		{"fail-shared-serial-line", func(c *Config) {
			d := c.Devices[0]
			d.TCP, d.RTU = "", &Serial{Device: "/dev/ttyS0"}
			e := d
			e.Name = "plc2"
			c.Devices = []Device{d, e}
		}, "devices[1].rtu.device"},
		{"fail-parity", func(c *Config) { c.Devices[0].TCP = ""; c.Devices[0].RTU = &Serial{Device: "/dev/x", Parity: "X"} }, "devices[0].rtu.parity"},
		{"fail-max-registers", func(c *Config) { c.Devices[0].MaxRegisters = 126 }, "devices[0].max_registers"},
		{"fail-group-interval", func(c *Config) { c.Devices[0].PollGroups[0].Interval = 0 }, "devices[0].poll_groups[0].interval"},
		{"fail-unknown-group", func(c *Config) { c.Devices[0].Tags[0].Group = "slow" }, "devices[0].tags[0].poll_group"},
		{"fail-register", func(c *Config) { c.Devices[0].Tags[0].Register = "holding" }, "devices[0].tags[0].register"},
		{"fail-coil-not-bool", func(c *Config) { c.Devices[0].Tags[0].Register = Coil }, "devices[0].tags[0].type"},
		{"fail-type", func(c *Config) { c.Devices[0].Tags[0].Type = "int8" }, "devices[0].tags[0].type"},
		{"fail-order", func(c *Config) { c.Devices[0].Tags[0].Order = "ABDC" }, "devices[0].tags[0].order"},
		{"fail-string-length", func(c *Config) { c.Devices[0].Tags[0].Type = adapters.TypeString }, "devices[0].tags[0].length"},
		{"fail-address-overflow", func(c *Config) { c.Devices[0].Tags[0].Address = 65535 }, "devices[0].tags[0].address"},
		{"fail-duplicate-tag", func(c *Config) { c.Devices[0].Tags = append(c.Devices[0].Tags, c.Devices[0].Tags[0]) }, "devices[0].tags[1].name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig()
			c.mutate(&cfg)
			_, err := New("gw", cfg, slog.Default())
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
}
