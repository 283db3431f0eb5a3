package modbus_test

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goburrow/serial"
	"github.com/tbrandon/mbserver"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/simtest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// peerTags reads the libmodbus peer's table (internal/testenv/peers.go).
func peerTags() []modbus.Tag {
	hr, f := modbus.HoldingRegister, "g"
	return []modbus.Tag{
		{Name: "u16", Register: hr, Address: 0, Type: adapters.TypeUint16, Group: f},
		{Name: "i32", Register: hr, Address: 1, Type: adapters.TypeInt32, Group: f},
		{Name: "f32", Register: hr, Address: 3, Type: adapters.TypeFloat32, Order: "CDAB", Group: f},
		{Name: "f64", Register: hr, Address: 5, Type: adapters.TypeFloat64, Order: "DCBA", Group: f},
		{Name: "str", Register: hr, Address: 9, Type: adapters.TypeString, Length: 6, Group: f},
		{Name: "ir", Register: modbus.InputRegister, Address: 0, Type: adapters.TypeUint32, Order: "CDAB", Group: f},
		{Name: "coil0", Register: modbus.Coil, Address: 0, Type: adapters.TypeBool, Group: f},
		{Name: "coil1", Register: modbus.Coil, Address: 1, Type: adapters.TypeBool, Group: f},
		{Name: "coil2", Register: modbus.Coil, Address: 2, Type: adapters.TypeBool, Group: f},
		{Name: "di1", Register: modbus.DiscreteInput, Address: 1, Type: adapters.TypeBool, Group: f},
	}
}

var peerWant = map[string]any{"u16": uint64(0x1234), "i32": int64(-2), "f32": 1.5, "f64": -2.25, "str": "PUMP1",
	"ir": uint64(0x12345678), "coil0": true, "coil1": false, "coil2": true, "di1": true}

func checkPeerValues(t *testing.T, sink *simtest.Collector, device string, timeout time.Duration) {
	t.Helper()
	if !sink.WaitFor(len(peerWant), simtest.Since(device, "", adapters.QualityGood, time.Time{}), timeout) {
		t.Fatalf("readings: %+v", sink.Readings())
	}
	for tag, v := range peerWant {
		if r := last(sink, device, tag); r.Value != v || r.Quality != adapters.QualityGood {
			t.Errorf("%s: got %+v, want %v", tag, r, v)
		}
	}
}

func TestAdapterAgainstLibmodbusServer(t *testing.T) {
	addr := testenv.StartLibmodbusServer(t)
	_, sink := run(t, modbus.Config{Name: "mb", Devices: []modbus.Device{{
		Name: "libmodbus", TCP: addr, UnitID: 1, Timeout: 500 * ms,
		PollGroups: []modbus.PollGroup{{Name: "g", Interval: 100 * ms}},
		Tags:       peerTags(),
	}}})
	checkPeerValues(t, sink, "libmodbus", 5*time.Second)
}

// libmodbus answers a read past its 100 holding registers with an
// illegal-address exception: counted for the tag by its code, while the
// device stays connected for its good requests.
func TestLibmodbusExceptionCounted(t *testing.T) {
	addr := testenv.StartLibmodbusServer(t)
	a, sink := run(t, modbus.Config{Name: "mb", Devices: []modbus.Device{{
		Name: "libmodbus", TCP: addr, UnitID: 1, Timeout: 500 * ms,
		PollGroups: []modbus.PollGroup{{Name: "g", Interval: 50 * ms, Always: true}},
		Tags: append(peerTags()[:1],
			modbus.Tag{Name: "beyond", Register: modbus.HoldingRegister, Address: 500, Type: adapters.TypeUint16, Group: "g"}),
	}}})
	if !sink.WaitFor(3, simtest.Since("libmodbus", "beyond", adapters.QualityBad, time.Time{}), 5*time.Second) {
		t.Fatalf("readings: %+v", sink.Readings())
	}
	st := a.States()[0]
	if n := faultCount(st, "beyond", "illegal_data_address"); n < 3 || !st.Connected {
		t.Errorf("state %+v: want >= 3 illegal_data_address faults and the device connected", st)
	}
}

// TestMbpollReadsSim checks the sim against an independent client.
func TestMbpollReadsSim(t *testing.T) {
	mbpoll := testenv.Mbpoll(t)
	s := startSim(t, 4)
	host, port, _ := net.SplitHostPort(s.Addr())
	poll := func(args ...string) string {
		// -r is a 1-based reference: -r 1 is register 0.
		out, err := exec.Command(mbpoll, append([]string{"-m", "tcp", "-p", port, "-a", "1", "-1", "-c", "1"}, append(args, host)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mbpoll %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := poll("-t", "4:hex", "-r", strconv.Itoa(sim.FixtureBase+1)); !strings.Contains(out, "0x1234") {
		t.Errorf("fixture register: %s", out)
	}
	out := poll("-t", "4:float", "-B", "-r", "1")
	i := strings.Index(out, "[1]:")
	if i < 0 {
		t.Fatalf("no value: %s", out)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(out[i+4:]), 64)
	if err != nil || v < 15 || v > 25 {
		t.Errorf("temperature_0 = %v (%v), want 15..25: %s", v, err, out)
	}
}

// TestRTUOverSerialPair reads an RTU slave (mbserver) through a socat pty pair.
func TestRTUOverSerialPair(t *testing.T) {
	a, b := testenv.SerialPair(t)
	srv := mbserver.NewServer()
	copy(srv.HoldingRegisters, []uint16{0x1234, 0xFFFF, 0xFFFE, 0x0000, 0x3FC0})
	srv.Coils[2] = 1
	// mbserver's serial reads need Timeout 0 (block); it ignores the unit id.
	if err := srv.ListenRTU(&serial.Config{Address: a, BaudRate: 19200, DataBits: 8, StopBits: 1, Parity: "E"}); err != nil {
		t.Fatal(err)
	}
	// Close waits for the blocked serial read, which ends when socat goes (a later cleanup).
	t.Cleanup(func() { go srv.Close() })
	hr := modbus.HoldingRegister
	_, sink := run(t, modbus.Config{Name: "mb", Devices: []modbus.Device{{
		Name: "rtu", RTU: &modbus.Serial{Device: b, Baud: 19200}, UnitID: 1, Timeout: 500 * ms,
		PollGroups: []modbus.PollGroup{{Name: "g", Interval: 200 * ms}},
		Tags: []modbus.Tag{
			{Name: "u16", Register: hr, Address: 0, Type: adapters.TypeUint16, Group: "g"},
			{Name: "i32", Register: hr, Address: 1, Type: adapters.TypeInt32, Group: "g"},
			{Name: "f32", Register: hr, Address: 3, Type: adapters.TypeFloat32, Order: "CDAB", Group: "g"},
			{Name: "coil2", Register: modbus.Coil, Address: 2, Type: adapters.TypeBool, Group: "g"},
		},
	}}})
	if !sink.WaitFor(4, simtest.Since("rtu", "", adapters.QualityGood, time.Time{}), 10*time.Second) {
		t.Fatalf("readings: %+v", sink.Readings())
	}
	for tag, v := range map[string]any{"u16": uint64(0x1234), "i32": int64(-2), "f32": 1.5, "coil2": true} {
		if r := last(sink, "rtu", tag); r.Value != v {
			t.Errorf("%s: got %+v, want %v", tag, r, v)
		}
	}
}
