package opcua_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/simtest"
	"github.com/streamforge/streamforge/internal/testenv"
)

func faultCount(st adapters.State, tag, code string) uint64 {
	for _, f := range st.Faults {
		if f.Tag == tag && f.Code == code {
			return f.Count
		}
	}
	return 0
}

// node-opcua (TestAgainstNodeOPCUA) is told to stop publishing on the
// subscription the adapter made (no data, no keep-alives) while its session
// and reads keep working. The adapter notices within a few publishing
// intervals, counts the stall, reports the values bad and recovers with a
// fresh subscription.
func stalledSubscription(t *testing.T, peer testenv.NodeOPCUA) {
	a, sink := run(t, opcua.Server{Name: "node", Endpoint: peer.Endpoint, Insecure: true, Timeout: 2000 * ms,
		Keepalive: 200 * ms, Backoff: opcua.Backoff{Initial: 100 * ms, Max: 1000 * ms},
		Subscriptions: []opcua.Subscription{{Name: "fast", PublishingInterval: 100 * ms, SamplingInterval: 50 * ms}},
		Nodes:         []opcua.Node{{Name: "count", NodeID: "ns=1;s=Counter", Subscription: "fast"}}})
	if !sink.WaitFor(5, good("node", "count", time.Time{}), 20*time.Second) {
		t.Fatalf("no readings before the stall: %+v", a.States())
	}
	stalled := time.Now()
	peer.StallSubscriptions(t)
	if !sink.WaitFor(1, simtest.Since("node", "count", adapters.QualityBad, stalled), 10*time.Second) {
		t.Fatalf("stalled subscription never noticed: %+v", a.States())
	}
	t.Logf("stall reported after %v", time.Since(stalled))
	if n := faultCount(a.States()[0], "fast", "subscription_stalled"); n == 0 {
		t.Errorf("stall not counted: %+v", a.States()[0])
	}
	recovered := time.Now()
	if !sink.WaitFor(5, good("node", "count", recovered), 10*time.Second) {
		t.Fatalf("no readings after the stall: %+v", a.States())
	}
	if st := a.States()[0]; !st.Connected || st.Errors == 0 {
		t.Errorf("after recovery: %+v", st)
	}
}

// node-opcua (TestAgainstNodeOPCUA): the counter changes every 50 ms;
// published once a second with a queue of two, node-opcua drops values and
// flags the ones after the drop with the overflow bit. Those arrive as
// uncertain and are counted; the default queue, sized from the intervals,
// overflows nothing.
func overflowedQueue(t *testing.T, peer testenv.NodeOPCUA) {
	a, sink := run(t, opcua.Server{Name: "node", Endpoint: peer.Endpoint, Insecure: true, Timeout: 5000 * ms,
		Subscriptions: []opcua.Subscription{
			{Name: "small", PublishingInterval: 1000 * ms, SamplingInterval: 50 * ms, QueueSize: 2},
			{Name: "sized", PublishingInterval: 1000 * ms, SamplingInterval: 50 * ms},
		},
		Nodes: []opcua.Node{
			{Name: "small", NodeID: "ns=1;s=Counter", Subscription: "small"},
			{Name: "sized", NodeID: "ns=1;s=Counter", Subscription: "sized"},
		}})
	if !sink.WaitFor(3, simtest.Since("node", "small", adapters.QualityUncertain, time.Time{}), 20*time.Second) {
		t.Fatalf("overflowed values not uncertain: %+v", a.States())
	}
	if !sink.WaitFor(40, good("node", "sized", time.Time{}), 20*time.Second) {
		t.Fatalf("sized queue: too few values: %+v", a.States())
	}
	st := a.States()[0]
	if n := faultCount(st, "small", "queue_overflow"); n < 3 {
		t.Errorf("overflows counted %d times, want >= 3: %+v", n, st.Faults)
	}
	if n := sink.Count(simtest.Since("node", "sized", adapters.QualityUncertain, time.Time{})); n != 0 || faultCount(st, "sized", "queue_overflow") != 0 {
		t.Errorf("the default queue overflowed %d times: %+v", n, st.Faults)
	}
}

// A server that accepts the TCP connection and never answers the OPC UA
// handshake must not hold up shutdown: cancelling Run returns at once,
// although the configured timeouts would allow 30 s.
func TestCancelDuringHandshakeReturnsPromptly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			accepted <- c
		}
	}()
	a, err := opcua.New("gw1", opcua.Config{Name: "ua", Servers: []opcua.Server{{Name: "mute",
		Endpoint: "opc.tcp://" + l.Addr().String(), Insecure: true, Timeout: 10000 * ms,
		Subscriptions: []opcua.Subscription{{Name: "s"}}, Nodes: []opcua.Node{{Name: "n", NodeID: "ns=1;s=x", Subscription: "s"}}}}},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx, simtest.NewCollector()); close(done) }()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the adapter never connected")
	}
	cancelled := time.Now()
	cancel()
	select {
	case <-done:
		t.Logf("Run returned %v after cancel", time.Since(cancelled))
	case <-time.After(3 * time.Second):
		t.Fatal("Run still waiting for the handshake 3 s after cancel")
		<-done
	}
}

// After a long outage the reconnect back-off has grown to seconds. The
// adapter probes the endpoint's TCP port every Backoff.Initial meanwhile;
// when the server is back but still starting (it accepts connections and
// drops them), retries start again from the initial back-off, so the
// session is up soon after the server is ready, not a grown back-off later.
func TestReconnectSoonAfterLongOutage(t *testing.T) {
	front := testenv.FreeAddr(t)
	s, err := sim.StartOPCUA("127.0.0.1:0", sim.Signals(4), 20, front)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	proxy := startProxy(t, front, s.Addr())
	cfg := simServer("plc", "opc.tcp://"+front)
	cfg.Backoff = opcua.Backoff{Initial: 10 * ms, Max: 60000 * ms}
	a, sink := run(t, cfg)
	if !sink.WaitFor(3, good("plc", "temp", time.Time{}), 10*time.Second) {
		t.Fatal("no readings before the outage")
	}
	proxy.Close() // connections refused from now on
	// Eleven failed attempts: the next back-off is 10 ms << 10 = 10.24 s.
	waitErrors(t, a, 11)
	proxy = startProxy(t, front, s.Addr())
	proxy.Set(simtest.Drop) // back, but not ready yet
	waitErrors(t, a, a.States()[0].Errors+2)
	proxy.Set(simtest.Pass)
	ready := time.Now()
	if !sink.WaitFor(1, good("plc", "temp", ready), 5*time.Second) {
		t.Fatalf("not reconnected within 5 s of the server being ready: %+v", a.States())
	}
	t.Logf("reconnected %v after the server was ready", time.Since(ready))
}

func startProxy(t *testing.T, listen, target string) *simtest.Proxy {
	t.Helper()
	p, err := simtest.NewProxy(listen, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitErrors waits until the first server's state has counted n errors.
func waitErrors(t *testing.T, a *opcua.Adapter, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for a.States()[0].Errors < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d errors after 30 s: %+v", n, a.States())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A node the server does not know is counted by its status code, on
// subscription and on every poll; a server whose every node is bad is
// reported failing although its session works.
func TestBadStatusesCountedAndAllBadServerFailing(t *testing.T) {
	s := startSim(t, 4, 20)
	missing := func(sub, poll string) []opcua.Node {
		return []opcua.Node{
			{Name: "gone_sub", NodeID: "ns=1;s=NoSuchNode", Subscription: sub},
			{Name: "gone_poll", NodeID: "ns=1;s=NoSuchNode", PollGroup: poll},
		}
	}
	mixed := simServer("mixed", s.Endpoint())
	mixed.Nodes = append(mixed.Nodes, missing("fast", "slow")...)
	allBad := simServer("allbad", s.Endpoint())
	allBad.Nodes = missing("fast", "slow")
	subOnly := simServer("subonly", s.Endpoint()) // refused when subscribing, never read again
	subOnly.Nodes = missing("fast", "slow")[:1]
	a, sink := run(t, mixed, allBad, subOnly)
	for _, dev := range []string{"mixed", "allbad"} {
		if !sink.WaitFor(5, simtest.Since(dev, "gone_poll", adapters.QualityBad, time.Time{}), 10*time.Second) {
			t.Fatalf("%s: no bad readings for the missing node: %+v", dev, a.States())
		}
	}
	if !sink.WaitFor(1, simtest.Since("subonly", "gone_sub", adapters.QualityBad, time.Time{}), 10*time.Second) {
		t.Fatalf("subonly: no bad reading for the refused node: %+v", a.States())
	}
	for _, st := range a.States()[:2] {
		if faultCount(st, "gone_sub", "BadNodeIDUnknown") == 0 || faultCount(st, "gone_poll", "BadNodeIDUnknown") < 5 {
			t.Errorf("%s: bad statuses not counted by code: %+v", st.Device, st.Faults)
		}
	}
	st := a.States()
	if !st[0].Connected {
		t.Errorf("a server with good nodes beside bad ones must stay connected: %+v", st[0])
	}
	for _, s := range st[1:] {
		if s.Connected || !strings.Contains(s.LastError, "every node reports a bad status") {
			t.Errorf("a server whose every node is bad must be failing: %+v", s)
		}
	}
}

// stallingSink holds every tenth Put for longer than a subscription may
// stay silent, as the agent's buffer does under back-pressure.
type stallingSink struct {
	*simtest.Collector
	hold  time.Duration
	calls atomic.Int64
}

func (s *stallingSink) Put(ctx context.Context, rs []adapters.Reading) error {
	if s.calls.Add(1)%10 == 0 {
		time.Sleep(s.hold)
	}
	return s.Collector.Put(ctx, rs)
}

// A sink that holds the adapter up is not a stalled subscription: the time
// spent waiting for it does not count as the server's silence.
func TestSlowSinkIsNotAStall(t *testing.T) {
	s := startSim(t, 4, 20)
	cfg := simServer("plc", s.Endpoint())
	cfg.PollGroups, cfg.Nodes = nil, cfg.Nodes[:3] // subscriptions only
	a, err := opcua.New("gw1", opcua.Config{Name: "ua", Servers: []opcua.Server{cfg}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// Silence allowed: (3 + 2) x 50 ms + 1 s = 1.25 s; each hold is 1.5 s.
	sink := &stallingSink{Collector: simtest.NewCollector(), hold: 1500 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx, sink); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for sink.calls.Load() < 35 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := sink.calls.Load(); n < 35 {
		t.Fatalf("only %d Puts in 30 s: %+v", n, a.States())
	}
	if st := a.States()[0]; st.Errors != 0 || faultCount(st, "fast", "subscription_stalled") != 0 {
		t.Fatalf("waiting for the sink was taken for a stall: %+v", st)
	}
}
