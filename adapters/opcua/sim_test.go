package opcua_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/simtest"
	"github.com/streamforge/streamforge/internal/testenv"
)

const ms = opcua.Duration(time.Millisecond)

func startSim(t testing.TB, signals int, rate float64) *sim.OPCUA {
	t.Helper()
	s, err := sim.StartOPCUA("127.0.0.1:0", sim.Signals(signals), rate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// simServer reads temperature_0, counter_1 and alarm_3 by subscription and
// pressure_2 by polling.
func simServer(name, endpoint string) opcua.Server {
	return opcua.Server{
		Name: name, Endpoint: endpoint, Insecure: true, Timeout: 2000 * ms, Keepalive: 200 * ms,
		Backoff:       opcua.Backoff{Initial: 100 * ms, Max: 500 * ms},
		Subscriptions: []opcua.Subscription{{Name: "fast", PublishingInterval: 50 * ms, SamplingInterval: 50 * ms}},
		PollGroups:    []opcua.PollGroup{{Name: "slow", Interval: 100 * ms}},
		Nodes: []opcua.Node{
			{Name: "temp", NodeID: sim.NodeID("temperature_0"), Subscription: "fast"},
			{Name: "count", NodeID: sim.NodeID("counter_1"), Subscription: "fast", Deadband: &opcua.Deadband{Type: "absolute", Value: 0}},
			{Name: "alarm", NodeID: sim.NodeID("alarm_3"), Subscription: "fast"},
			{Name: "pressure", NodeID: sim.NodeID("pressure_2"), PollGroup: "slow"},
		},
	}
}

func run(t testing.TB, servers ...opcua.Server) (*opcua.Adapter, *simtest.Collector) {
	t.Helper()
	a, err := opcua.New("gw1", opcua.Config{Name: "ua", Servers: servers}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sink := simtest.NewCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx, sink); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a, sink
}

func good(device, tag string, since time.Time) func(adapters.Reading) bool {
	return simtest.Since(device, tag, adapters.QualityGood, since)
}

func checkTypes(t *testing.T, sink *simtest.Collector, device string) {
	t.Helper()
	want := map[string]adapters.DataType{"temp": adapters.TypeFloat64, "count": adapters.TypeUint32,
		"alarm": adapters.TypeBool, "pressure": adapters.TypeFloat64}
	for tag, typ := range want {
		if !sink.WaitFor(2, good(device, tag, time.Time{}), 10*time.Second) {
			t.Fatalf("%s/%s: no good readings; states/readings: %v", device, tag, sink.Readings())
		}
		for _, r := range sink.Readings() {
			if r.Device == device && r.Tag == tag && r.Quality == adapters.QualityGood && r.Type != typ {
				t.Fatalf("%s/%s: type %s, want %s (%+v)", device, tag, r.Type, typ, r)
			}
		}
	}
}

func TestSecurityModesAgainstSim(t *testing.T) {
	s := startSim(t, 4, 20)
	trust := filepath.Join(t.TempDir(), "sim.pem")
	if err := s.WriteCertificate(trust); err != nil {
		t.Fatal(err)
	}
	other := startSim(t, 1, 1) // a different server certificate
	otherTrust := filepath.Join(t.TempDir(), "other.pem")
	if err := other.WriteCertificate(otherTrust); err != nil {
		t.Fatal(err)
	}
	secure := func(mode string, trust ...string) func(*opcua.Server) {
		return func(c *opcua.Server) {
			c.Insecure, c.Policy, c.Mode, c.Trust = false, "Basic256Sha256", mode, trust
		}
	}
	cases := []struct {
		name      string
		mutate    func(*opcua.Server)
		untrusted bool
	}{
		{"ok-none-anonymous", func(*opcua.Server) {}, false},
		{"ok-basic256sha256-sign", secure("Sign", trust), false},
		{"ok-basic256sha256-signandencrypt", secure("SignAndEncrypt", trust), false},
		{"ok-trust-directory-username", func(c *opcua.Server) {
			secure("SignAndEncrypt", filepath.Dir(trust))(c)
			c.Identity = opcua.Identity{Type: "username", Username: "op", Password: "pw"}
		}, false},
		{"fail-unknown-server-refused", secure("SignAndEncrypt", otherTrust), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := simServer("plc", s.Endpoint())
			c.mutate(&cfg)
			a, sink := run(t, cfg)
			if !c.untrusted {
				checkTypes(t, sink, "plc")
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for a.States()[0].Errors == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if st := a.States()[0]; st.Connected || !strings.Contains(st.LastError, "not trusted") {
				t.Fatalf("untrusted server: state %+v", st)
			}
			if n := sink.Count(good("plc", "", time.Time{})); n != 0 {
				t.Fatalf("got %d good readings from an untrusted server", n)
			}
		})
	}
}

func TestReconnectAndResubscribeAfterServerRestart(t *testing.T) {
	s := startSim(t, 4, 20)
	a, sink := run(t, simServer("plc", s.Endpoint()))
	if !sink.WaitFor(3, good("plc", "temp", time.Time{}), 10*time.Second) {
		t.Fatal("no readings before the restart")
	}
	down := time.Now()
	s.Stop()
	t.Logf("server stopped in %v", time.Since(down))
	if !sink.WaitFor(1, simtest.Since("plc", "temp", adapters.QualityBad, down), 5*time.Second) {
		t.Fatalf("lost session not reported as bad quality: %+v %d", a.States(), sink.Count(func(r adapters.Reading) bool { return r.Quality != adapters.QualityGood }))
	}
	if st := a.States()[0]; st.Connected {
		t.Fatalf("state still connected after the server went away: %+v", st)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	for _, tag := range []string{"temp", "count", "pressure"} {
		if !sink.WaitFor(3, good("plc", tag, up), 10*time.Second) {
			t.Fatalf("%s: no readings after the restart; state %+v", tag, a.States()[0])
		}
	}
}

func TestBrokenServerDoesNotAffectAnother(t *testing.T) {
	cases := []struct {
		name  string
		fault func(t *testing.T, s *sim.OPCUA, p *simtest.Proxy)
	}{
		{"dead", func(_ *testing.T, s *sim.OPCUA, _ *simtest.Proxy) { s.Stop() }},
		{"hung", func(_ *testing.T, _ *sim.OPCUA, p *simtest.Proxy) { p.Set(simtest.Hang) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			live := startSim(t, 4, 20)
			proxyAddr := testenv.FreeAddr(t)
			broken, err := sim.StartOPCUA("127.0.0.1:0", sim.Signals(4), 20, proxyAddr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(broken.Stop)
			proxy, err := simtest.NewProxy(proxyAddr, broken.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			a, sink := run(t, simServer("live", live.Endpoint()), simServer("broken", "opc.tcp://"+proxy.Addr()))
			if !sink.WaitFor(3, good("broken", "temp", time.Time{}), 10*time.Second) {
				t.Fatalf("second server never answered: %+v", a.States())
			}
			since := time.Now()
			c.fault(t, broken, proxy)
			// A server that dies or hangs mid-session is noticed by the
			// keepalive read within the request timeout; meanwhile the other
			// session carries on.
			if !sink.WaitFor(1, simtest.Since("broken", "temp", adapters.QualityBad, since), 10*time.Second) {
				t.Fatalf("broken server never reported: %+v", a.States())
			}
			time.Sleep(500 * time.Millisecond)
			elapsed := time.Since(since).Seconds()
			// 20 updates/s published every 50 ms: at least 10 readings per second.
			if n := sink.Count(good("live", "temp", since)); float64(n) < 10*elapsed {
				t.Errorf("live server: %d readings in the %.1f s after the other broke", n, elapsed)
			}
			if st := a.States(); !st[0].Connected || st[1].Connected {
				t.Errorf("states: %+v", st)
			}
		})
	}
}
