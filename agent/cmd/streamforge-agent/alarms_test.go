package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/testenv"
)

// approvePending waits for the agent's gateway gw-test to enroll, approves
// it, and returns a reader of its record.
func approvePending(t *testing.T, cloud *testenv.Cloud, admin string, agent *testenv.Agent) func() map[string]any {
	t.Helper()
	gateway := func() map[string]any {
		var g map[string]any
		cloud.Call("GET", "/api/v1/gateways/gw-test", admin, nil, &g)
		return g
	}
	agent.Eventually(t, eventuallyLimit, "the gateway pending review", func() bool { return gateway()["status"] == "pending" })
	if st := cloud.Call("POST", "/api/v1/gateways/gw-test/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	return gateway
}

type alarmView struct {
	ID             uint64 `json:"id"`
	Kind           string `json:"kind"`
	GatewayID      string `json:"gateway_id"`
	Subject        string `json:"subject"`
	State          string `json:"state"`
	AcknowledgedBy string `json:"acknowledged_by"`
}

// TestDeviceDownAlarmLifecycle runs the control plane, a managed agent
// (identity in a swtpm) and the Modbus simulator as real processes and
// sockets. Stopping the simulator raises a device-down alarm for that
// device; an Operator acknowledges it over HTTP; starting the simulator
// again clears it; the audit trail shows who acknowledged it; the open
// alarm is in the control plane's Prometheus metrics; a stopped agent
// makes its gateway offline. The hold-offs are short here
// (STREAMFORGE_ALARM_*), the logic the same.
func TestDeviceDownAlarmLifecycle(t *testing.T) {
	bin := testenv.BuildAgent(t, nil)
	tpm := testenv.StartSwTPM(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_TPM_ROOTS_DIR="+tpm.CADir,
		"STREAMFORGE_ALARM_INTERVAL=200ms", "STREAMFORGE_ALARM_HEARTBEAT_INTERVAL=200ms",
		// Offline only after 10 s of silence: a busy test machine delays
		// heartbeats, and this test is about the device.
		"STREAMFORGE_ALARM_OFFLINE_INTERVALS=50",
		"STREAMFORGE_ALARM_RAISE_AFTER=1s", "STREAMFORGE_ALARM_CLEAR_AFTER=1s")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1, "site": "Plant"}, &tok)
	const opEmail, opPassword = "operator@example.com", "Quartz-lantern-field-8"
	if st := cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": opEmail, "password": opPassword,
		"roles": []string{"Operator"}, "gateway_access": []string{"Plant"}}, nil); st != 201 {
		t.Fatalf("create operator: %d", st)
	}
	operator := cloud.Login(opEmail, opPassword)

	cfgPath, _, _, mb := startDataPathSims(t, testenv.KafkaOpts{})
	if err := appendFile(cfgPath, "control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n"); err != nil {
		t.Fatal(err)
	}
	agent := testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfgPath, Args: []string{"--tpm", tpm.Path},
		Env: []string{"CONTROL_PLANE_URL=" + cloud.URL, "CONTROL_PLANE_GATEWAY_ID=gw-test", "CONTROL_PLANE_ENROLLMENT_TOKEN=" + tok.Token}})
	gateway := approvePending(t, cloud, admin, agent)
	agent.Eventually(t, eventuallyLimit, "a heartbeat", func() bool { return gateway()["last_seen_at"] != nil })
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 50)

	alarmsOf := func(token, query string) []alarmView {
		var page struct{ Alarms []alarmView }
		if st := cloud.Call("GET", "/api/v1/alarms?"+query, token, nil, &page); st != 200 {
			t.Fatalf("list alarms: %d", st)
		}
		return page.Alarms
	}
	deviceAlarm := func(state string) *alarmView {
		for _, a := range alarmsOf(operator, "kind=device_down&gateway_id=gw-test&state="+state) {
			if a.Subject == "line1/plc1" {
				return &a
			}
		}
		return nil
	}
	if a := alarmsOf(admin, "state=open"); len(a) != 0 {
		t.Fatalf("alarms while all is well: %+v", a)
	}

	addr := mb.Addr()
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
	agent.Eventually(t, eventuallyLimit, "a device-down alarm", func() bool { return deviceAlarm("active") != nil })
	raised := deviceAlarm("active")
	if m := string(testenv.Get(t, cloud.URL+"/metrics")); !strings.Contains(m, `streamforge_alarms_open{category="operational",severity="major"} 1`) {
		t.Fatalf("the control plane's metrics lack the open alarm:\n%s", grepLines(m, "streamforge_alarm"))
	}

	ack := fmt.Sprintf("/api/v1/alarms/%d/acknowledge", raised.ID)
	var acked alarmView
	if st := cloud.Call("POST", ack, operator, nil, &acked); st != 200 || acked.State != "acknowledged" || acked.AcknowledgedBy != opEmail {
		t.Fatalf("acknowledge: %d %+v", st, acked)
	}

	restarted, err := sim.StartModbus(addr, sim.Signals(8), 20)
	if err != nil {
		t.Fatalf("restart the simulator on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = restarted.Close() })
	agent.Eventually(t, eventuallyLimit, "the alarm cleared", func() bool {
		a := deviceAlarm("cleared")
		return a != nil && a.ID == raised.ID
	})
	if a := alarmsOf(admin, "state=open"); len(a) != 0 {
		t.Fatalf("alarms open after the device came back: %+v", a)
	}

	var trail struct {
		Records []struct {
			User       string `json:"user"`
			ResourceID string `json:"resource_id"`
			Result     string `json:"result"`
		} `json:"records"`
	}
	cloud.Call("GET", "/api/v1/audit?event_type=alarm.acknowledge", admin, nil, &trail)
	if len(trail.Records) != 1 || trail.Records[0].User != opEmail || trail.Records[0].ResourceID != strconv.FormatUint(raised.ID, 10) ||
		trail.Records[0].Result != "success" {
		t.Fatalf("audit trail of the acknowledgement: %+v", trail.Records)
	}

	// A silent gateway is offline after STREAMFORGE_ALARM_OFFLINE_INTERVALS
	// heartbeat intervals (10 s here) and the raise hold-off.
	agent.Stop(t)
	agent.Eventually(t, eventuallyLimit, "a gateway-offline alarm", func() bool {
		return len(alarmsOf(operator, "kind=gateway_offline&gateway_id=gw-test&state=active")) == 1
	})
}

// grepLines returns the lines of text that contain substr.
func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
