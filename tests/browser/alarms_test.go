package browser

import (
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
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
