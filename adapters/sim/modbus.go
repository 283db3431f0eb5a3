package sim

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"time"

	mbs "github.com/simonvetter/modbus"
)

// Register map of the Modbus sim (unit id ignored):
//   - holding and input registers 2i, 2i+1: signal i, big-endian (ABCD);
//     float32 for temperatures and pressures, uint32 for counters and alarms;
//   - coil i and discrete input i: whether signal i's sine is above 0.8;
//   - holding registers from FixtureBase: fixed values for decoding tests;
//   - requests reaching addresses from IllegalFrom up answer with an
//     exception: illegal data address, from RefuseFrom illegal function,
//     from FailFrom server device failure.
const (
	FixtureBase = 1000
	IllegalFrom = 60000
	RefuseFrom  = 61000
	FailFrom    = 62000
)

// Fixture holds fixed registers at FixtureBase: uint16 0x1234; int32 -2 (ABCD);
// float32 1.5 (CDAB); float64 -2.25 (DCBA); the string "PUMP1" (6 bytes, ABCD).
var Fixture = []uint16{
	0x1234,
	0xFFFF, 0xFFFE,
	0x0000, 0x3FC0,
	0x0000, 0x0000, 0x0000, 0x02C0,
	0x5055, 0x4D50, 0x3100,
}

// Modbus is a running Modbus TCP sim.
type Modbus struct {
	srv     *mbs.ModbusServer
	addr    string
	start   time.Time
	rate    float64
	signals []Signal
}

// StartModbus serves signals on addr ("127.0.0.1:0" picks a free port);
// rate is the counters' ticks per second.
func StartModbus(addr string, signals []Signal, rate float64) (*Modbus, error) {
	addr, err := resolvePort(addr)
	if err != nil {
		return nil, err
	}
	m := &Modbus{addr: addr, start: time.Now(), rate: rate, signals: signals}
	m.srv, err = mbs.NewServer(&mbs.ServerConfiguration{URL: "tcp://" + addr, Timeout: time.Minute,
		MaxClients: 64, Logger: log.New(io.Discard, "", 0)}, m)
	if err != nil {
		return nil, fmt.Errorf("modbus sim: %w", err)
	}
	if err := m.srv.Start(); err != nil {
		return nil, fmt.Errorf("modbus sim listen %s: %w", addr, err)
	}
	return m, nil
}

// Addr is the host:port the sim listens on.
func (m *Modbus) Addr() string { return m.addr }

// Close stops the server and drops its clients.
func (m *Modbus) Close() error { return m.srv.Stop() }

// Register returns holding/input register addr as the sim serves it now.
func (m *Modbus) Register(addr uint16) uint16 { return m.registers(addr, 1)[0] }

func (m *Modbus) registers(addr, n uint16) []uint16 {
	out := make([]uint16, n)
	elapsed := time.Since(m.start)
	for k := range out {
		a := int(addr) + k
		switch {
		case a/2 < len(m.signals):
			var word [4]byte
			switch v := m.signals[a/2].At(elapsed, m.rate).(type) {
			case float64:
				binary.BigEndian.PutUint32(word[:], math.Float32bits(float32(v)))
			case uint32:
				binary.BigEndian.PutUint32(word[:], v)
			case bool:
				if v {
					word[3] = 1
				}
			}
			out[k] = binary.BigEndian.Uint16(word[2*(a%2):])
		case a >= FixtureBase && a < FixtureBase+len(Fixture):
			out[k] = Fixture[a-FixtureBase]
		}
	}
	return out
}

func (m *Modbus) bits(addr, n uint16) []bool {
	out := make([]bool, n)
	elapsed := time.Since(m.start)
	for k := range out {
		if a := int(addr) + k; a < len(m.signals) {
			out[k] = Signal{Kind: Alarm, phase: m.signals[a].phase}.At(elapsed, m.rate).(bool)
		}
	}
	return out
}

// exception is the exception a read of n from addr is answered with, if any.
func exception(addr, n uint16) error {
	switch end := int(addr) + int(n); {
	case end > FailFrom:
		return mbs.ErrServerDeviceFailure
	case end > RefuseFrom:
		return mbs.ErrIllegalFunction
	case end > IllegalFrom:
		return mbs.ErrIllegalDataAddress
	}
	return nil
}

// HandleCoils serves coil reads; writes are refused.
func (m *Modbus) HandleCoils(r *mbs.CoilsRequest) ([]bool, error) {
	if r.IsWrite {
		return nil, mbs.ErrIllegalDataAddress
	}
	if err := exception(r.Addr, r.Quantity); err != nil {
		return nil, err
	}
	return m.bits(r.Addr, r.Quantity), nil
}

// HandleDiscreteInputs serves discrete input reads.
func (m *Modbus) HandleDiscreteInputs(r *mbs.DiscreteInputsRequest) ([]bool, error) {
	if err := exception(r.Addr, r.Quantity); err != nil {
		return nil, err
	}
	return m.bits(r.Addr, r.Quantity), nil
}

// HandleHoldingRegisters serves holding register reads; writes are refused.
func (m *Modbus) HandleHoldingRegisters(r *mbs.HoldingRegistersRequest) ([]uint16, error) {
	if r.IsWrite {
		return nil, mbs.ErrIllegalDataAddress
	}
	if err := exception(r.Addr, r.Quantity); err != nil {
		return nil, err
	}
	return m.registers(r.Addr, r.Quantity), nil
}

// HandleInputRegisters serves input register reads.
func (m *Modbus) HandleInputRegisters(r *mbs.InputRegistersRequest) ([]uint16, error) {
	if err := exception(r.Addr, r.Quantity); err != nil {
		return nil, err
	}
	return m.registers(r.Addr, r.Quantity), nil
}

// resolvePort replaces port 0 with a free port, for servers that cannot
// report the address they bound.
func resolvePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
