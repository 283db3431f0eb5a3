package opcua_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestAgainstNodeOPCUA runs every node-opcua case against one server, which
// is slow to start; each case's adapter is gone before the next starts, and
// the case that stalls the server's subscriptions runs last.
func TestAgainstNodeOPCUA(t *testing.T) {
	peer := testenv.StartNodeOPCUA(t, "s3cret")
	t.Run("security-and-identity", func(t *testing.T) { securityAndIdentity(t, peer) })
	t.Run("deadband-filters", func(t *testing.T) { deadbandFilters(t, peer) })
	t.Run("overflowed-queue-uncertain-and-counted", func(t *testing.T) { overflowedQueue(t, peer) })
	t.Run("stalled-subscription-detected-and-recovered", func(t *testing.T) { stalledSubscription(t, peer) })
}

func securityAndIdentity(t *testing.T, peer testenv.NodeOPCUA) {
	userCert, userKey := writeKeyPair(t, "urn:streamforge:test-user")
	server := func(mutate func(*opcua.Server)) opcua.Server {
		s := opcua.Server{
			Name: "node", Endpoint: peer.Endpoint, Policy: "Basic256Sha256", Mode: "SignAndEncrypt",
			Trust: []string{peer.Certificate}, Timeout: 5000 * ms, Keepalive: 500 * ms,
			Identity:      opcua.Identity{Type: "username", Username: "operator", Password: "s3cret"},
			Backoff:       opcua.Backoff{Initial: 200 * ms, Max: 1000 * ms},
			Subscriptions: []opcua.Subscription{{Name: "fast", PublishingInterval: 100 * ms, SamplingInterval: 50 * ms, QueueSize: 5}},
			PollGroups:    []opcua.PollGroup{{Name: "slow", Interval: 200 * ms}},
			Nodes: []opcua.Node{
				{Name: "temp", NodeID: "ns=1;s=Temperature", Subscription: "fast", Deadband: &opcua.Deadband{Type: "absolute", Value: 0.01}},
				{Name: "count", NodeID: "ns=1;s=Counter", Subscription: "fast"},
				{Name: "alarm", NodeID: "ns=1;s=Alarm", PollGroup: "slow"},
				{Name: "missing", NodeID: "ns=1;s=NoSuchNode", Subscription: "fast"},
			},
		}
		mutate(&s)
		return s
	}
	cases := []struct {
		name      string
		mutate    func(*opcua.Server)
		wantError string // in the server's state; "" means readings flow
	}{
		{"ok-username-signandencrypt", func(*opcua.Server) {}, ""},
		{"ok-anonymous-sign", func(s *opcua.Server) { s.Mode, s.Identity = "Sign", opcua.Identity{} }, ""},
		{"ok-anonymous-none", func(s *opcua.Server) {
			s.Policy, s.Mode, s.Insecure, s.Identity = "None", "None", true, opcua.Identity{}
		}, ""},
		{"ok-certificate-identity", func(s *opcua.Server) {
			s.Identity = opcua.Identity{Type: "certificate", Certificate: userCert, Key: userKey}
		}, ""},
		{"fail-wrong-password", func(s *opcua.Server) { s.Identity.Password = "wrong" }, "UserAccessDenied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, sink := run(t, server(c.mutate))
			if c.wantError == "" {
				for _, tag := range []string{"temp", "count", "alarm"} {
					if !sink.WaitFor(2, good("node", tag, time.Time{}), 20*time.Second) {
						t.Fatalf("%s: no readings; state %+v", tag, a.States())
					}
				}
				if r := lastOf(sink.Readings(), "count"); r.Type != adapters.TypeUint32 {
					t.Errorf("count: %+v", r)
				}
				// An unknown node is reported bad without taking the session down.
				if r := lastOf(sink.Readings(), "missing"); r.Quality != adapters.QualityBad || !a.States()[0].Connected {
					t.Errorf("missing node: %+v, state %+v", r, a.States()[0])
				}
				return
			}
			deadline := time.Now().Add(20 * time.Second)
			for a.States()[0].Errors == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if st := a.States()[0]; st.Connected || !strings.Contains(st.LastError, c.wantError) {
				t.Fatalf("state %+v, want error containing %s", st, c.wantError)
			}
			if n := sink.Count(good("node", "", time.Time{})); n != 0 {
				t.Fatalf("%d good readings despite the refused login", n)
			}
		})
	}
}

// node-opcua samples for real, so deadbands show: the temperature moves by
// far less than 100 per step and the level by less than 50 % of its EU range,
// so each is reported once while the counter keeps coming.
func deadbandFilters(t *testing.T, peer testenv.NodeOPCUA) {
	fast := []opcua.Subscription{{Name: "fast", PublishingInterval: 100 * ms, SamplingInterval: 50 * ms}}
	_, sink := run(t, opcua.Server{Name: "node", Endpoint: peer.Endpoint, Insecure: true, Timeout: 5000 * ms,
		Subscriptions: fast, Nodes: []opcua.Node{
			{Name: "temp", NodeID: "ns=1;s=Temperature", Subscription: "fast", Deadband: &opcua.Deadband{Type: "absolute", Value: 100}},
			{Name: "level", NodeID: "ns=1;s=Level", Subscription: "fast", Deadband: &opcua.Deadband{Type: "percent", Value: 50}},
			{Name: "count", NodeID: "ns=1;s=Counter", Subscription: "fast"},
		}})
	if !sink.WaitFor(20, good("node", "count", time.Time{}), 20*time.Second) {
		t.Fatalf("counter: %v", sink.Readings())
	}
	for _, tag := range []string{"temp", "level"} {
		if n := sink.Count(good("node", tag, time.Time{})); n != 1 {
			t.Errorf("%s reported %d times, want once (initial value only)", tag, n)
		}
	}
}

func lastOf(rs []adapters.Reading, tag string) adapters.Reading {
	var out adapters.Reading
	for _, r := range rs {
		if r.Tag == tag {
			out = r
		}
	}
	return out
}

// writeKeyPair writes a fresh self-signed certificate and its key as PEM files.
func writeKeyPair(t *testing.T, uri string) (string, string) {
	t.Helper()
	der, key, err := opcua.SelfSigned(uri, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile
}
