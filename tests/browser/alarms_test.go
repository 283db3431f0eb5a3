package browser

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestSecurityAlarmAcknowledgedInTheDashboard: failed logins past the
// threshold raise security alarms; an Admin sees them on the overview,
// acknowledges one with its button, and the Alarms page (axe-checked at
// both widths) shows it acknowledged; the API and the audit trail agree.
func TestSecurityAlarmAcknowledgedInTheDashboard(t *testing.T) {
	dir := requireBrowser(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALERT_LOGIN_FAILURES=2", "STREAMFORGE_ALARM_INTERVAL=200ms")
	for range 3 {
		if st := cloud.Call("POST", "/api/v1/auth/login", "", map[string]string{"email": "mallory-target@example.com", "password": "guess guess guess"}, nil); st != 401 {
			t.Fatalf("failed login: %d", st)
		}
	}
	out := journey(t, dir, []string{"MODE=alarms", "BASE=" + cloud.URL, "EMAIL=" + testenv.CloudAdminEmail,
		"PASSWORD=" + testenv.CloudAdminPassword, "SHOTS=" + screenshotDir(t)}, nil)
	if !strings.Contains(out, "ACKED") || !strings.Contains(out, "mallory-target@example.com") || !strings.Contains(out, "OK alarms") {
		t.Fatalf("alarms journey:\n%s", out)
	}
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var page struct {
		Alarms []struct {
			State, Subject string
			AckedBy        string `json:"acknowledged_by"`
		}
	}
	cloud.Call("GET", "/api/v1/alarms?kind=login_failures_account", admin, nil, &page)
	if len(page.Alarms) != 1 || page.Alarms[0].State != "acknowledged" || page.Alarms[0].AckedBy != testenv.CloudAdminEmail {
		t.Fatalf("alarm after the journey: %+v", page.Alarms)
	}
	var trail struct{ Records []map[string]any }
	cloud.Call("GET", "/api/v1/audit?event_type=alarm.acknowledge", admin, nil, &trail)
	if len(trail.Records) != 1 || trail.Records[0]["user"] != testenv.CloudAdminEmail {
		t.Fatalf("audit of the acknowledgement: %v", trail.Records)
	}
}

// TestOperatorAlarmsLogsAndVerifyInTheDashboard: an Operator whose
// gateway_access holds one gateway acknowledges its offline alarm on the
// Alarms page and reads its logs card filtered by level (axe-checked at
// both widths; the API and the audit trail agree). An Admin's "Verify
// chain" then says in words that the chain holds its signed checkpoints,
// and, after a record is edited in the database, what the breakage means.
func TestOperatorAlarmsLogsAndVerifyInTheDashboard(t *testing.T) {
	dir := requireBrowser(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALARM_INTERVAL=200ms", "STREAMFORGE_ALARM_HEARTBEAT_INTERVAL=200ms",
		"STREAMFORGE_ALARM_OFFLINE_INTERVALS=1", "STREAMFORGE_ALARM_RAISE_AFTER=200ms", "STREAMFORGE_AUDIT_CHECKPOINT_INTERVAL=200ms",
		"STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	const gwID = "gw-op-01"
	gw := enrolledGateway(t, cloud, admin, gwID)
	now := time.Now().UTC()
	if err := gw.ShipLogs(context.Background(), wire.LogBatch{Entries: []wire.LogEntry{
		{Seq: 1, Time: now, Level: "INFO", Message: "adapter started", Attrs: "adapter=plc1"},
		{Seq: 2, Time: now.Add(time.Second), Level: "ERROR", Message: "modbus read failed", Attrs: "adapter=plc1 err=timeout"},
	}}); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Alarms []struct {
			State   string
			AckedBy string `json:"acknowledged_by"`
		}
	}
	if !testenv.Within(30*time.Second, func() bool {
		cloud.Call("GET", "/api/v1/alarms?kind=gateway_offline&state=open&gateway_id="+gwID, admin, nil, &page)
		return len(page.Alarms) == 1
	}) {
		t.Fatalf("no gateway_offline alarm for the silent gateway: %+v", page.Alarms)
	}
	const opEmail, opPassword = "operator@example.com", "Juniper-lighthouse-anvil-77"
	if st := cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": opEmail, "password": opPassword,
		"roles": []string{"Operator"}, "gateway_access": []string{gwID}}, nil); st != 201 {
		t.Fatalf("create operator: %d", st)
	}
	out := journey(t, dir, []string{"MODE=operator", "BASE=" + cloud.URL, "EMAIL=" + opEmail, "PASSWORD=" + opPassword,
		"SHOTS=" + screenshotDir(t), "GATEWAY=" + gwID}, nil)
	if !strings.Contains(out, "ACKED") || !strings.Contains(out, "LOGS 390px 1 ") || !strings.Contains(out, "modbus read failed") ||
		!strings.Contains(out, "OK operator") {
		t.Fatalf("operator journey:\n%s", out)
	}
	cloud.Call("GET", "/api/v1/alarms?kind=gateway_offline&gateway_id="+gwID, admin, nil, &page)
	if len(page.Alarms) != 1 || page.Alarms[0].State != "acknowledged" || page.Alarms[0].AckedBy != opEmail {
		t.Fatalf("alarm after the operator journey: %+v", page.Alarms)
	}
	var trail struct{ Records []map[string]any }
	cloud.Call("GET", "/api/v1/audit?event_type=alarm.acknowledge", admin, nil, &trail)
	if len(trail.Records) != 1 || trail.Records[0]["user"] != opEmail {
		t.Fatalf("audit of the acknowledgement: %v", trail.Records)
	}

	verify := func() string {
		return journey(t, dir, []string{"MODE=verify", "BASE=" + cloud.URL, "EMAIL=" + testenv.CloudAdminEmail,
			"PASSWORD=" + testenv.CloudAdminPassword}, nil)
	}
	if !testenv.Within(30*time.Second, func() bool {
		var cps struct {
			Checkpoints int64 `json:"checkpoints_checked"`
		}
		cloud.Call("GET", "/api/v1/audit/verify", admin, nil, &cps)
		return cps.Checkpoints > 0
	}) {
		t.Fatal("no signed checkpoint within 30 s")
	}
	if out := verify(); !strings.Contains(out, "VERIFY The chain verifies") || !strings.Contains(out, "signed checkpoints, the newest at seq") {
		t.Fatalf("verify journey on a sound chain:\n%s", out)
	}
	db, err := gorm.Open(sqlite.Open(filepath.Join(cloud.DataDir, "streamforge.db")+"?_pragma=busy_timeout(5000)"), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 1`).Error; err != nil {
		t.Fatal(err)
	}
	if out := verify(); !strings.Contains(out, "VERIFY The chain is broken at seq 1: a record was edited") ||
		!strings.Contains(out, "A security alarm was raised") {
		t.Fatalf("verify journey on an edited record:\n%s", out)
	}
}
