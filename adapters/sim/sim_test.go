package sim

import (
	"math"
	"testing"
	"time"
)

func TestSignalsStayInRange(t *testing.T) {
	sigs := Signals(8)
	for _, at := range []time.Duration{0, 7 * time.Second, 31 * time.Second, time.Hour} {
		for _, s := range sigs {
			switch v := s.At(at, 10).(type) {
			case float64:
				lo, hi := 15.0, 25.0
				if s.Kind == Pressure {
					lo, hi = 2.95, 3.05
				}
				if v < lo || v > hi {
					t.Errorf("%s at %v = %v, want %v..%v", s.Name, at, v, lo, hi)
				}
			case uint32:
				if want := uint32(at.Seconds() * 10); v != want {
					t.Errorf("%s at %v = %d, want %d", s.Name, at, v, want)
				}
			case bool:
			default:
				t.Errorf("%s: unexpected %T", s.Name, v)
			}
		}
	}
}

func TestModbusRegistersEncodeSignalsBigEndian(t *testing.T) {
	m := &Modbus{start: time.Now(), rate: 1, signals: Signals(2)}
	regs := m.registers(0, 4)
	temp := math.Float32frombits(uint32(regs[0])<<16 | uint32(regs[1]))
	if temp < 15 || temp > 25 {
		t.Errorf("temperature_0 = %v", temp)
	}
	if counter := uint32(regs[2])<<16 | uint32(regs[3]); counter > 1 {
		t.Errorf("counter_1 = %d just after start", counter)
	}
	if got := m.registers(FixtureBase, uint16(len(Fixture))); got[0] != 0x1234 || got[11] != 0x3100 {
		t.Errorf("fixtures: %x", got)
	}
}
