// Package sim holds simulated PLCs for the demo and the tests: a Modbus TCP
// server and an OPC UA server publishing the same changing signals (sine
// temperatures, counters, noisy pressures, a bool alarm), plus a fault proxy
// that makes any TCP peer hang or drop its connections.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Kind is how a simulated signal moves.
type Kind int

const (
	Temperature Kind = iota // float: 20 °C ± 5 sine, period 60 s (phase per signal)
	Counter                 // integer: grows by one per update tick
	Pressure                // float: 3 bar with ±0.05 noise
	Alarm                   // bool: true while the signal's sine is above 0.8
	kinds
)

// Signal is one simulated value; signal i has kind i%4.
type Signal struct {
	Name  string
	Kind  Kind
	phase float64
}

// Signals returns n signals named temperature_0, counter_1, pressure_2, alarm_3, ...
func Signals(n int) []Signal {
	names := [...]string{"temperature", "counter", "pressure", "alarm"}
	out := make([]Signal, n)
	for i := range out {
		k := Kind(i % int(kinds))
		out[i] = Signal{Name: fmt.Sprintf("%s_%d", names[k], i), Kind: k, phase: float64(i) * 0.7}
	}
	return out
}

// At is the signal's value after elapsed time at the given update rate (Hz):
// float64 for temperatures and pressures, uint32 for counters, bool for alarms.
func (s Signal) At(elapsed time.Duration, rate float64) any {
	sine := math.Sin(2*math.Pi*elapsed.Seconds()/60 + s.phase)
	switch s.Kind {
	case Temperature:
		return 20 + 5*sine
	case Counter:
		return uint32(elapsed.Seconds() * rate)
	case Pressure:
		return 3 + 0.05*(2*rand.Float64()-1)
	default:
		return sine > 0.8
	}
}
