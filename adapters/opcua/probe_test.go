package opcua_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/adapters/sim"
)

func probe(cfg opcua.Config, device, group string) ([]adapters.Reading, error) {
	return opcua.Probe(context.Background(), "gw1", cfg, device, group, slog.New(slog.DiscardHandler))
}

// TestProbeReadsOneGroupBesideTheRunningAdapter: a probe of the simulator
// over a session of its own returns the values of the group's nodes while
// an adapter reads the same server, which keeps delivering; a node id the
// server does not know comes back Bad and the error names it with its
// status; a subscription's nodes can be probed too.
func TestProbeReadsOneGroupBesideTheRunningAdapter(t *testing.T) {
	s := startSim(t, 4, 20)
	srv := simServer("plc", s.Endpoint())
	cfg := opcua.Config{Name: "ua", Servers: []opcua.Server{srv}}
	_, sink := run(t, srv)
	if !sink.WaitFor(2, good("plc", "temp", time.Time{}), 10*time.Second) {
		t.Fatal("the adapter delivers nothing")
	}

	rs, err := probe(cfg, "plc", "slow")
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if len(rs) != 1 || rs[0].Tag != "pressure" || rs[0].Quality != adapters.QualityGood || rs[0].Type != adapters.TypeFloat64 {
		t.Fatalf("probe of the poll group: %+v", rs)
	}
	rs, err = probe(cfg, "plc", "fast")
	if err != nil || len(rs) != 3 {
		t.Fatalf("probe of the subscription: %+v, %v", rs, err)
	}
	for _, r := range rs {
		if r.Quality != adapters.QualityGood || r.Value == nil {
			t.Fatalf("subscription node: %+v", r)
		}
	}
	since := time.Now()
	if !sink.WaitFor(2, good("plc", "temp", since), 10*time.Second) {
		t.Fatal("the adapter stopped delivering after the probes")
	}

	cfg.Servers[0].Nodes = append(cfg.Servers[0].Nodes, opcua.Node{Name: "ghost", NodeID: sim.NodeID("no_such_signal"), PollGroup: "slow"})
	rs, err = probe(cfg, "plc", "slow")
	if err == nil || !strings.Contains(err.Error(), "node ghost") || !strings.Contains(err.Error(), "BadNodeIDUnknown") {
		t.Fatalf("probe with an unknown node id: error %v", err)
	}
	if len(rs) != 2 || rs[0].Quality != adapters.QualityGood || rs[1].Tag != "ghost" || rs[1].Quality != adapters.QualityBad {
		t.Fatalf("probe with an unknown node id: %+v", rs)
	}

	if _, err := probe(cfg, "plc", "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("probe of a missing group: %v", err)
	}
	if _, err := probe(cfg, "other", "slow"); err == nil || !strings.Contains(err.Error(), `no server "other"`) {
		t.Fatalf("probe of a missing server: %v", err)
	}
}

// TestProbeUsesTheServersSecurity: a probe with Basic256Sha256
// SignAndEncrypt and a trust list holding the simulator's certificate
// reads values; with a trust list that does not, it refuses the server.
func TestProbeUsesTheServersSecurity(t *testing.T) {
	s := startSim(t, 4, 20)
	trust := filepath.Join(t.TempDir(), "sim.pem")
	if err := s.WriteCertificate(trust); err != nil {
		t.Fatal(err)
	}
	other := startSim(t, 1, 1)
	otherTrust := filepath.Join(t.TempDir(), "other.pem")
	if err := other.WriteCertificate(otherTrust); err != nil {
		t.Fatal(err)
	}
	srv := simServer("plc", s.Endpoint())
	srv.Insecure, srv.Policy, srv.Mode, srv.Trust = false, "Basic256Sha256", "SignAndEncrypt", []string{trust}
	cfg := opcua.Config{Name: "ua", Servers: []opcua.Server{srv}}
	rs, err := probe(cfg, "plc", "slow")
	if err != nil || len(rs) != 1 || rs[0].Quality != adapters.QualityGood {
		t.Fatalf("secure probe: %+v, %v", rs, err)
	}
	cfg.Servers[0].Trust = []string{otherTrust}
	if rs, err := probe(cfg, "plc", "slow"); err == nil || !strings.Contains(err.Error(), "not trusted") || rs != nil {
		t.Fatalf("probe of an untrusted server: %+v, %v", rs, err)
	}
}

// TestProbeOfAnUnreachableEndpoint: where nothing listens the probe returns
// the connection error; where a server accepts and never answers it gives
// up within its bound.
func TestProbeOfAnUnreachableEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	srv := simServer("plc", "opc.tcp://"+dead)
	cfg := opcua.Config{Name: "ua", Servers: []opcua.Server{srv}}
	if rs, err := probe(cfg, "plc", "slow"); err == nil || !strings.Contains(err.Error(), "refused") || rs != nil {
		t.Fatalf("probe of a closed port: %+v, %v", rs, err)
	}

	// A listener that accepts and never answers the handshake.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 1)
	t.Cleanup(func() {
		silent.Close()
		select {
		case c := <-held:
			c.Close()
		default:
		}
	})
	go func() {
		if c, err := silent.Accept(); err == nil {
			held <- c
		}
	}()
	cfg.Servers[0].Endpoint = "opc.tcp://" + silent.Addr().String()
	cfg.Servers[0].Timeout = 100 * ms
	if _, err := probe(cfg, "plc", "slow"); err == nil {
		t.Fatal("probe of a silent server succeeded")
	}
}
