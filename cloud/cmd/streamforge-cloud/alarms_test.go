package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// TestAuditVerifyFailureRaisesSecurityAlarm: a record edited in the
// database makes `audit verify` fail, and that failure is a security
// alarm that the serving process lists to an Admin.
func TestAuditVerifyFailureRaisesSecurityAlarm(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	addr, _ := serve(t, bin, "STREAMFORGE_DATA_DIR="+data, "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=root@example.com",
		"STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery staple")
	st, body := login(t, addr, "root@example.com", "correct horse battery staple")
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	token, _ := body["token"].(string)
	alarms := func() []map[string]any {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/alarms?kind=audit_verification_failure&state=open", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var page struct{ Alarms []map[string]any }
		if res.StatusCode != 200 || json.Unmarshal(raw, &page) != nil {
			t.Fatalf("alarms: %d %s", res.StatusCode, raw)
		}
		return page.Alarms
	}
	if a := alarms(); len(a) != 0 {
		t.Fatalf("alarm before any tampering: %v", a)
	}
	db, err := gorm.Open(sqlite.Open(filepath.Join(data, "streamforge.db")+"?_pragma=busy_timeout(5000)"), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 1`).Error; err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "audit", "verify", "--data-dir", data).CombinedOutput(); err == nil {
		t.Fatalf("audit verify passed a tampered chain:\n%s", out)
	}
	a := alarms()
	if len(a) != 1 || a[0]["severity"] != "critical" || a[0]["category"] != "security" {
		t.Fatalf("security alarms after a failed verification: %v", a)
	}
}
