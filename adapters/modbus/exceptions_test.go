package modbus_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/simtest"
)

// lockedBuffer collects log output written from the device goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func faultCount(st adapters.State, tag, code string) uint64 {
	for _, f := range st.Faults {
		if f.Tag == tag && f.Code == code {
			return f.Count
		}
	}
	return 0
}

// The sim answers reads past IllegalFrom, RefuseFrom and FailFrom with
// Modbus exceptions 2, 1 and 4 over its real TCP socket. Each is counted per
// device, tag and code, logged once (rate-limited), and a device whose every
// request is refused is reported failing although its connection works.
func TestModbusExceptionsCountedLoggedAndUnhealthy(t *testing.T) {
	s := startSim(t, 8)
	hr := modbus.HoldingRegister
	device := func(name string, tags ...modbus.Tag) modbus.Device {
		return modbus.Device{Name: name, TCP: s.Addr(), UnitID: 1, Timeout: 2000 * ms,
			PollGroups: []modbus.PollGroup{{Name: "g", Interval: 20 * ms, Always: true}}, Tags: tags}
	}
	refused := []modbus.Tag{
		{Name: "addr", Register: hr, Address: sim.IllegalFrom, Type: adapters.TypeUint16, Group: "g"},
		{Name: "func", Register: hr, Address: sim.RefuseFrom, Type: adapters.TypeUint16, Group: "g"},
		{Name: "fail", Register: modbus.InputRegister, Address: sim.FailFrom, Type: adapters.TypeUint16, Group: "g"},
	}
	ok := modbus.Tag{Name: "ok", Register: hr, Address: sim.FixtureBase, Type: adapters.TypeUint16, Group: "g"}
	logs := &lockedBuffer{}
	a, err := modbus.New("gw1", modbus.Config{Name: "mb", Devices: []modbus.Device{
		device("mixed", append([]modbus.Tag{ok}, refused...)...), device("refusing", refused...)}},
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sink := startAdapter(t, a)

	const polls = 20
	if !sink.WaitFor(polls, simtest.Since("refusing", "fail", adapters.QualityBad, time.Time{}), 10*time.Second) ||
		!sink.WaitFor(polls, simtest.Since("mixed", "fail", adapters.QualityBad, time.Time{}), 10*time.Second) {
		t.Fatalf("exceptions not reported as bad readings: %v", sink.Readings())
	}
	st := a.States()
	codes := map[string]string{"addr": "illegal_data_address", "func": "illegal_function", "fail": "server_device_failure"}
	for _, s := range st {
		for tag, code := range codes {
			if n := faultCount(s, tag, code); n < polls {
				t.Errorf("%s/%s: %d %s faults after %d polls; faults %+v", s.Device, tag, n, code, polls, s.Faults)
			}
		}
	}
	if mixed := st[0]; !mixed.Connected || faultCount(mixed, "ok", "") != 0 {
		t.Errorf("a device with one good request must stay connected: %+v", mixed)
	}
	if r := last(sink, "mixed", "ok"); r.Quality != adapters.QualityGood {
		t.Errorf("good tag beside refused ones: %+v", r)
	}
	if refusing := st[1]; refusing.Connected || refusing.Errors < polls ||
		!strings.Contains(refusing.LastError, "every request answered with an exception") {
		t.Errorf("a device that answers only with exceptions must be failing: %+v", refusing)
	}
	// Two devices with three tags and codes each: six first faults logged,
	// the hundreds after them held back by the rate limit.
	if n := strings.Count(logs.String(), `msg="device fault"`); n != 6 {
		t.Errorf("%d fault log lines, want 6:\n%s", n, logs.String())
	}
	// Once per outage and cause, not once per poll (a transport hiccup on a
	// busy machine may add a second outage).
	if n := strings.Count(logs.String(), "every request answered with an exception"); n < 1 || n > 2 {
		t.Errorf("%d 'device failing' lines for the exceptions, want 1:\n%s", n, logs.String())
	}
}
