package main

import (
	"net"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
)

// TestManagedAgentThroughControlPlaneNetworkFaults: the path between a
// managed agent and its control plane is cut (half-open: every packet
// dropped, no RST), then loses 30% of its packets, then gets 2 s of uplink
// latency, in a network namespace of the test's own. The data path never
// depends on the control plane, so readings flow throughout; heartbeats
// stop during the cut and resume by themselves after it; they get through
// loss and latency; and afterwards a deployed config is applied.
//
// The agent reaches the control plane at 127.0.0.5, which an iptables
// REDIRECT sends to a delay proxy in front of the real listener (this
// kernel has no netem); the test's own calls go to 127.0.0.1, untouched.
func TestManagedAgentThroughControlPlaneNetworkFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a managed agent through a minute of network faults")
	}
	if !testenv.InNetns(t) {
		return
	}
	bin := testenv.BuildAgent(t, nil)
	tpm := testenv.StartSwTPM(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_TPM_ROOTS_DIR="+tpm.CADir)
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1, "site": "Plant"}, &tok)

	proxy := testenv.StartDelayProxy(t, cloud.Addr, "127.0.0.3")
	_, cport, _ := net.SplitHostPort(cloud.Addr)
	_, pport, _ := net.SplitHostPort(proxy.Addr)
	testenv.IPTables(t, "nat", "OUTPUT", "-p", "tcp", "-d", "127.0.0.5", "--dport", cport, "-j", "REDIRECT", "--to-ports", pport)

	cfgPath, _, _ := startDataPath(t)
	if err := appendFile(cfgPath, "control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n"); err != nil {
		t.Fatal(err)
	}
	agent := testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfgPath, Args: []string{"--tpm", tpm.Path},
		Env: managedEnv("http://127.0.0.5:"+cport, tok.Token)})

	gateway := approvePending(t, cloud, admin, agent)
	// The newest heartbeat in the history (last_seen_at is kept to 30 s).
	lastSeen := func() time.Time {
		var h struct {
			Heartbeats []struct {
				ReceivedAt time.Time `json:"received_at"`
			} `json:"heartbeats"`
		}
		cloud.Call("GET", "/api/v1/gateways/gw-test/health?limit=1", admin, nil, &h)
		if len(h.Heartbeats) == 0 {
			return time.Time{}
		}
		return h.Heartbeats[0].ReceivedAt
	}
	agent.Eventually(t, eventuallyLimit, "a heartbeat", func() bool { return !lastSeen().IsZero() })
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 50)

	drop := func(extra ...string) func() {
		rule := func(dir string) []string {
			return append(append([]string{"INPUT", "-i", "lo", "-p", "tcp", dir, pport}, extra...), "-j", "DROP")
		}
		in, out := testenv.IPTables(t, "filter", rule("--dport")...), testenv.IPTables(t, "filter", rule("--sport")...)
		return func() { in(); out() }
	}

	t.Run("half-open-cut", func(t *testing.T) {
		heal := drop()
		// What was in flight lands or times out: nothing outside marks the
		// end of a request the control plane may still be processing.
		time.Sleep(2 * time.Second)
		cutAt := lastSeen()
		acked := agent.Metric("streamforge_forward_acked_records_total")
		waitMetric(t, agent, "streamforge_forward_acked_records_total", acked+100) // the data path goes on
		time.Sleep(10 * time.Second)                                               // the cut lasts: 50 heartbeat intervals, none may get through
		if got := lastSeen(); !got.Equal(cutAt) {
			t.Fatalf("a heartbeat arrived through the cut: %s after %s", got, cutAt)
		}
		heal()
		healed := time.Now()
		agent.Eventually(t, eventuallyLimit, "heartbeats after the cut", func() bool { return lastSeen().After(healed) })
		t.Logf("heartbeats resumed %s after the cut healed", time.Since(healed).Round(100*time.Millisecond))
	})
	degraded := func(t *testing.T, name string, apply func() func()) {
		undo := apply()
		start := time.Now()
		agent.Eventually(t, eventuallyLimit, "a heartbeat during "+name, func() bool { return lastSeen().After(start) })
		t.Logf("%s: a heartbeat arrived %s after it began", name, time.Since(start).Round(100*time.Millisecond))
		time.Sleep(5 * time.Second) // the fault lasts a little longer before it is undone
		undo()
	}
	t.Run("loss-30pct", func(t *testing.T) {
		degraded(t, "30% loss", func() func() { return drop("-m", "statistic", "--mode", "random", "--probability", "0.3") })
	})
	t.Run("latency-2s", func(t *testing.T) {
		degraded(t, "2 s latency", func() func() {
			proxy.SetDelay(2 * time.Second)
			return func() { proxy.SetDelay(0) }
		})
	})

	// Config polls work again: a deployed config is applied.
	body := map[string]any{"config": map[string]any{"log_level": "info", "buffer": map[string]any{"max_bytes": "32MiB"}}}
	if st := cloud.Call("PUT", "/api/v1/gateways/gw-test/config", admin, body, nil); st != 200 {
		t.Fatalf("deploy: %d", st)
	}
	agent.Eventually(t, eventuallyLimit, "config v1 applied after the faults", func() bool { return gateway()["applied_config_version"] == float64(1) })
	agent.Stop(t)
}
