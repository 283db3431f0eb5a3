package modbus

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

// Register types a tag can read.
const (
	Coil            = "coil"
	DiscreteInput   = "discrete_input"
	InputRegister   = "input_register"
	HoldingRegister = "holding_register"
)

// Limits of one Modbus request (protocol maxima for function codes 1-4).
const (
	maxRegisters = 125
	maxBits      = 2000
)

// Config is one Modbus adapter instance; agent.yaml embeds it.
type Config struct {
	Name    string   `yaml:"name"`
	Devices []Device `yaml:"devices"`
}

// Device is one Modbus slave reached over TCP or a serial line (RTU).
type Device struct {
	Name    string   `yaml:"name"`
	TCP     string   `yaml:"tcp,omitempty"` // host:port
	RTU     *Serial  `yaml:"rtu,omitempty"`
	UnitID  byte     `yaml:"unit_id"`
	Timeout Duration `yaml:"timeout"` // per request; default 1s
	Retries int      `yaml:"retries"` // extra attempts per request before the poll fails
	Backoff Backoff  `yaml:"backoff"`
	// MaxRegisters caps one request below the protocol's 125 for devices that need it.
	MaxRegisters int `yaml:"max_registers"`
	// MaxGap lets a request span up to this many unused registers (bits) between tags.
	MaxGap     int         `yaml:"max_gap"`
	PollGroups []PollGroup `yaml:"poll_groups"`
	Tags       []Tag       `yaml:"tags"`
}

// Serial configures an RTU line.
type Serial struct {
	Device   string `yaml:"device"`    // /dev/ttyUSB0
	Baud     int    `yaml:"baud"`      // default 19200
	DataBits int    `yaml:"data_bits"` // default 8
	Parity   string `yaml:"parity"`    // N, E or O; default E
	StopBits int    `yaml:"stop_bits"` // default 1
}

// Backoff spaces reconnect attempts to a failing device; defaults 500ms..30s.
type Backoff = adapters.Backoff

// PollGroup is a set of tags read together at one interval.
type PollGroup struct {
	Name     string   `yaml:"name"`
	Interval Duration `yaml:"interval"`
	// MaxSilence emits an unchanged value after this long; 0 never does.
	MaxSilence Duration `yaml:"max_silence"`
	// Always emits every polled value, turning report-by-exception off.
	Always bool `yaml:"always"`
}

// Tag maps registers to one typed value.
type Tag struct {
	Name     string            `yaml:"name"`
	Register string            `yaml:"register"`
	Address  uint16            `yaml:"address"`
	Type     adapters.DataType `yaml:"type"`
	Length   int               `yaml:"length,omitempty"` // string length in bytes
	Order    string            `yaml:"order,omitempty"`  // ABCD (default), CDAB, BADC, DCBA
	Scale    float64           `yaml:"scale,omitempty"`  // 0 means 1
	Offset   float64           `yaml:"offset,omitempty"`
	Group    string            `yaml:"poll_group"`
	Deadband float64           `yaml:"deadband,omitempty"` // absolute, on the scaled value
}

// Duration is a time.Duration written as "250ms" in YAML.
type Duration = adapters.Duration

func (d *Device) setDefaults() {
	if d.Timeout == 0 {
		d.Timeout = Duration(time.Second)
	}
	if d.Backoff.Initial == 0 {
		d.Backoff.Initial = Duration(500 * time.Millisecond)
	}
	if d.Backoff.Max == 0 {
		d.Backoff.Max = Duration(30 * time.Second)
	}
	if d.MaxRegisters == 0 {
		d.MaxRegisters = maxRegisters
	}
	if d.RTU != nil {
		s := d.RTU
		s.Baud = or(s.Baud, 19200)
		s.DataBits = or(s.DataBits, 8)
		s.StopBits = or(s.StopBits, 1)
		if s.Parity == "" {
			s.Parity = "E"
		}
	}
	for i := range d.Tags {
		if d.Tags[i].Order == "" {
			d.Tags[i].Order = "ABCD"
		}
		if d.Tags[i].Scale == 0 {
			d.Tags[i].Scale = 1
		}
	}
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// validate reports the first bad field by its path in the config.
func (c *Config) validate() error {
	if c.Name == "" {
		return errors.New("name: required")
	}
	if len(c.Devices) == 0 {
		return errors.New("devices: at least one required")
	}
	seen, lines := map[string]bool{}, map[string]bool{}
	for i := range c.Devices {
		d := &c.Devices[i]
		p := fmt.Sprintf("devices[%d]", i)
		if d.Name == "" || seen[d.Name] {
			return fmt.Errorf("%s.name: required and unique, got %q", p, d.Name)
		}
		seen[d.Name] = true
		if d.RTU != nil {
			// Each device opens its own port; two on one line would fight over it.
			if lines[d.RTU.Device] {
				return fmt.Errorf("%s.rtu.device: %s is already used by another device (one device per serial line)", p, d.RTU.Device)
			}
			lines[d.RTU.Device] = true
		}
		if err := d.validate(p); err != nil {
			return err
		}
	}
	return nil
}

func (d *Device) validate(p string) error {
	switch {
	case (d.TCP == "") == (d.RTU == nil):
		return fmt.Errorf("%s: exactly one of tcp or rtu required", p)
	case d.TCP != "" && !validHostPort(d.TCP):
		return fmt.Errorf("%s.tcp: want host:port, got %q", p, d.TCP)
	case d.RTU != nil && d.RTU.Device == "":
		return fmt.Errorf("%s.rtu.device: required", p)
	case d.RTU != nil && d.RTU.Parity != "N" && d.RTU.Parity != "E" && d.RTU.Parity != "O":
		return fmt.Errorf("%s.rtu.parity: want N, E or O, got %q", p, d.RTU.Parity)
	case d.Timeout < 0 || d.Retries < 0 || d.MaxGap < 0:
		return fmt.Errorf("%s: timeout, retries and max_gap must not be negative", p)
	case d.MaxRegisters < 1 || d.MaxRegisters > maxRegisters:
		return fmt.Errorf("%s.max_registers: want 1..%d, got %d", p, maxRegisters, d.MaxRegisters)
	case len(d.Tags) == 0:
		return fmt.Errorf("%s.tags: at least one required", p)
	}
	groups := map[string]bool{}
	for j, g := range d.PollGroups {
		if g.Name == "" || groups[g.Name] {
			return fmt.Errorf("%s.poll_groups[%d].name: required and unique, got %q", p, j, g.Name)
		}
		if g.Interval <= 0 {
			return fmt.Errorf("%s.poll_groups[%d].interval: must be positive", p, j)
		}
		groups[g.Name] = true
	}
	tags := map[string]bool{}
	for j := range d.Tags {
		t := &d.Tags[j]
		tp := fmt.Sprintf("%s.tags[%d]", p, j)
		if t.Name == "" || tags[t.Name] {
			return fmt.Errorf("%s.name: required and unique, got %q", tp, t.Name)
		}
		tags[t.Name] = true
		if !groups[t.Group] {
			return fmt.Errorf("%s.poll_group: unknown group %q", tp, t.Group)
		}
		if err := t.validate(tp); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tag) validate(p string) error {
	bits := t.Register == Coil || t.Register == DiscreteInput
	switch {
	case !bits && t.Register != InputRegister && t.Register != HoldingRegister:
		return fmt.Errorf("%s.register: want coil, discrete_input, input_register or holding_register, got %q", p, t.Register)
	case bits && t.Type != adapters.TypeBool:
		return fmt.Errorf("%s.type: %s tags must be bool, got %q", p, t.Register, t.Type)
	case t.Type == adapters.TypeString && (t.Length < 1 || t.Length > 2*maxRegisters):
		return fmt.Errorf("%s.length: string needs 1..%d bytes, got %d", p, 2*maxRegisters, t.Length)
	case t.Deadband < 0:
		return fmt.Errorf("%s.deadband: must not be negative", p)
	}
	if _, ok := typeRegisters[t.Type]; !ok {
		return fmt.Errorf("%s.type: unknown type %q", p, t.Type)
	}
	if _, ok := orders[t.Order]; !ok {
		return fmt.Errorf("%s.order: want ABCD, CDAB, BADC or DCBA, got %q", p, t.Order)
	}
	if int(t.Address)+t.count()-1 > 0xFFFF {
		return fmt.Errorf("%s.address: %d plus its size passes 65535", p, t.Address)
	}
	return nil
}

func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	return err == nil && host != "" && port != ""
}

// count is how many registers (or bits) the tag occupies.
func (t *Tag) count() int {
	if t.Register == Coil || t.Register == DiscreteInput {
		return 1
	}
	if t.Type == adapters.TypeString {
		return (t.Length + 1) / 2
	}
	return typeRegisters[t.Type]
}
