package conntest_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/agent/conntest"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestRunProbesOPCUA: an OPC UA source is probed against the simulator
// over a real socket; a server whose password reference the running config
// does not already send to it is refused with a message saying why,
// before any connection is made.
func TestRunProbesOPCUA(t *testing.T) {
	s, err := sim.StartOPCUA("127.0.0.1:0", sim.Signals(4), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	r := conntest.Runner{GatewayID: "gw1", Log: slog.New(slog.DiscardHandler),
		Password: func(opcua.Server) (string, error) { return "", config.ErrNoSuchLogin }}
	adapter := func(endpoint, identity string) []byte {
		return []byte(`{"type":"opcua","name":"ua","servers":[{"name":"s1","endpoint":"` + endpoint + `","security_policy":"None","insecure":true,` +
			identity + `"poll_groups":[{"name":"slow","interval":"1s"}],"nodes":[{"name":"pressure","node_id":"` + sim.NodeID("pressure_2") + `","poll_group":"slow"}]}]}`)
	}
	res := r.Run(wire.ConnectionTest{ID: 1, Adapter: adapter(s.Endpoint(), ""), Device: "s1", PollGroup: "slow"})
	if res.Error != "" || len(res.Values) != 1 || res.Values[0].Tag != "pressure" || res.Values[0].Quality != "good" || res.Values[0].Value == nil {
		t.Fatalf("probe of the simulator: %+v", res)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	res = r.Run(wire.ConnectionTest{ID: 2, Adapter: adapter("opc.tcp://"+ln.Addr().String(),
		`"identity":{"type":"username","username":"op","password":"${secret:opcua-pw}"},`), Device: "s1", PollGroup: "slow"})
	if !strings.Contains(res.Error, "servers[0].identity.password: a connection test sends a password only to a server") || len(res.Values) != 0 {
		t.Fatalf("probe with a password reference: %+v", res)
	}
	select {
	case <-accepted:
		t.Fatal("the probe connected although it refused the test")
	default:
	}
}
