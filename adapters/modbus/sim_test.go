package modbus_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/simtest"
)

const ms = modbus.Duration(time.Millisecond)

func startSim(t testing.TB, signals int) *sim.Modbus {
	t.Helper()
	s, err := sim.StartModbus("127.0.0.1:0", sim.Signals(signals), 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fixtureDevice reads the sim's fixed registers and a few live signals.
func fixtureDevice(name, addr string) modbus.Device {
	fx := uint16(sim.FixtureBase)
	return modbus.Device{
		Name: name, TCP: addr, UnitID: 1, Timeout: 200 * ms, Retries: 1,
		Backoff:    modbus.Backoff{Initial: 50 * ms, Max: 200 * ms},
		PollGroups: []modbus.PollGroup{{Name: "fast", Interval: 50 * ms, Always: true}},
		Tags: []modbus.Tag{
			{Name: "u16", Register: modbus.HoldingRegister, Address: fx, Type: adapters.TypeUint16, Group: "fast"},
			{Name: "i32", Register: modbus.HoldingRegister, Address: fx + 1, Type: adapters.TypeInt32, Group: "fast"},
			{Name: "f32", Register: modbus.HoldingRegister, Address: fx + 3, Type: adapters.TypeFloat32, Order: "CDAB", Group: "fast"},
			{Name: "f64", Register: modbus.HoldingRegister, Address: fx + 5, Type: adapters.TypeFloat64, Order: "DCBA", Group: "fast"},
			{Name: "str", Register: modbus.HoldingRegister, Address: fx + 9, Type: adapters.TypeString, Length: 6, Group: "fast"},
			{Name: "temp", Register: modbus.HoldingRegister, Address: 0, Type: adapters.TypeFloat32, Group: "fast"},
			{Name: "count", Register: modbus.InputRegister, Address: 2, Type: adapters.TypeUint32, Group: "fast"},
			{Name: "count_x10", Register: modbus.InputRegister, Address: 2, Type: adapters.TypeUint32, Scale: 10, Offset: 1, Group: "fast"},
			{Name: "alarm", Register: modbus.Coil, Address: 3, Type: adapters.TypeBool, Group: "fast"},
			{Name: "illegal", Register: modbus.HoldingRegister, Address: sim.IllegalFrom, Type: adapters.TypeUint16, Group: "fast"},
		},
	}
}

func run(t testing.TB, cfg modbus.Config) (*modbus.Adapter, *simtest.Collector) {
	t.Helper()
	a, err := modbus.New("gw1", cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a, startAdapter(t, a)
}

// startAdapter runs a until the test ends and collects its readings.
func startAdapter(t testing.TB, a *modbus.Adapter) *simtest.Collector {
	t.Helper()
	sink := simtest.NewCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx, sink); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sink
}

func last(c *simtest.Collector, device, tag string) adapters.Reading {
	var out adapters.Reading
	for _, r := range c.Readings() {
		if r.Device == device && r.Tag == tag {
			out = r
		}
	}
	return out
}

func TestAdapterDecodesSimRegisters(t *testing.T) {
	s := startSim(t, 8)
	_, sink := run(t, modbus.Config{Name: "mb", Devices: []modbus.Device{fixtureDevice("plc", s.Addr())}})
	if !sink.WaitFor(3, simtest.Since("plc", "count", adapters.QualityGood, time.Time{}), 5*time.Second) {
		t.Fatalf("no readings; got %v", sink.Readings())
	}
	want := map[string]any{"u16": uint64(0x1234), "i32": int64(-2), "f32": 1.5, "f64": -2.25, "str": "PUMP1"}
	for tag, v := range want {
		if r := last(sink, "plc", tag); r.Value != v || r.Quality != adapters.QualityGood || r.GatewayID != "gw1" {
			t.Errorf("%s: got %+v, want %v good", tag, r, v)
		}
	}
	if temp, _ := last(sink, "plc", "temp").Value.(float64); temp < 15 || temp > 25 {
		t.Errorf("temp %v outside the sine's 15..25", temp)
	}
	count, scaled := last(sink, "plc", "count"), last(sink, "plc", "count_x10")
	if _, ok := count.Value.(uint64); !ok || count.Type != adapters.TypeUint32 || scaled.Type != adapters.TypeFloat64 {
		t.Errorf("count %+v / scaled %+v: wrong types", count, scaled)
	}
	if _, ok := last(sink, "plc", "alarm").Value.(bool); !ok {
		t.Errorf("alarm not a bool: %+v", last(sink, "plc", "alarm"))
	}
	// An exception answer spoils only its own request.
	if r := last(sink, "plc", "illegal"); r.Quality != adapters.QualityBad || r.Value != nil {
		t.Errorf("illegal address: got %+v, want bad quality", r)
	}
}

func TestBrokenDeviceDoesNotStallOthers(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault simtest.Fault
	}{{"hang", simtest.Hang}, {"drop", simtest.Drop}} {
		t.Run(c.name, func(t *testing.T) { brokenDevice(t, c.fault) })
	}
}

func brokenDevice(t *testing.T, fault simtest.Fault) {
	s := startSim(t, 8)
	proxy, err := simtest.NewProxy("127.0.0.1:0", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	a, sink := run(t, modbus.Config{Name: "mb", Devices: []modbus.Device{
		fixtureDevice("healthy", s.Addr()), fixtureDevice("broken", proxy.Addr())}})
	good := func(dev string, since time.Time) func(adapters.Reading) bool {
		return simtest.Since(dev, "u16", adapters.QualityGood, since)
	}
	if !sink.WaitFor(1, good("broken", time.Time{}), 5*time.Second) {
		t.Fatal("the proxied device never answered")
	}

	proxy.Set(fault)
	brokenAt := time.Now()
	if !sink.WaitFor(1, simtest.Since("broken", "u16", adapters.QualityBad, brokenAt), 5*time.Second) {
		t.Fatal("broken device never reported bad quality")
	}
	time.Sleep(time.Second)
	// 50 ms polls for over a second: the healthy device must keep its pace.
	if n := sink.Count(good("healthy", brokenAt)); n < 15 {
		t.Errorf("healthy device got %d readings while the other was broken, want >= 15", n)
	}
	st := a.States()
	if !st[0].Connected || st[1].Connected || st[1].Errors == 0 || st[1].LastError == "" {
		t.Errorf("states: %+v", st)
	}

	proxy.Set(simtest.Pass)
	if !sink.WaitFor(1, good("broken", time.Now()), 5*time.Second) {
		t.Fatal("device did not recover")
	}
	if st := a.States(); !st[1].Connected {
		t.Errorf("recovered device still reported down: %+v", st[1])
	}
}
