package main_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// verify runs `streamforge-cloud audit verify` and returns its exit
// status and output.
func verify(t *testing.T, bin, data string) (bool, string) {
	t.Helper()
	out, err := exec.Command(bin, "audit", "verify", "--data-dir", data).CombinedOutput()
	return err == nil, string(out)
}

// TestAuditVerifyNamesTamperedRecord edits, deletes and reorders rows of a
// real database written by a real server, and checks that `audit verify`
// fails and names the first bad record each time.
func TestAuditVerifyNamesTamperedRecord(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	addr, _ := serve(t, bin, "STREAMFORGE_DATA_DIR="+data, "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=root@example.com",
		"STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery staple")
	for i := 0; i < 3; i++ {
		login(t, addr, "root@example.com", "wrong password number x")
		login(t, addr, "root@example.com", "correct horse battery staple")
	}
	if ok, out := verify(t, bin, data); !ok || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("untouched chain fails verification: %s", out)
	}
	db, err := gorm.Open(sqlite.Open(filepath.Join(data, "streamforge.db")+"?_pragma=busy_timeout(5000)"), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	exec1 := func(sql string, args ...any) {
		t.Helper()
		if err := db.Exec(sql, args...).Error; err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	cases := []struct {
		name, want string
		tamper     func()
		restore    func()
	}{
		{"edit", `"bad_seq": 3`, func() { exec1(`UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 3`) },
			func() {
				exec1(`UPDATE audit_log SET reason = (SELECT reason FROM audit_log_backup WHERE seq = 3) WHERE seq = 3`)
			}},
		{"delete", `"bad_seq": 4`, func() { exec1(`DELETE FROM audit_log WHERE seq = 3`) },
			func() { exec1(`INSERT INTO audit_log SELECT * FROM audit_log_backup WHERE seq = 3`) }},
		{"reorder", `"bad_seq": 3`, func() {
			exec1(`UPDATE audit_log SET seq = -4 WHERE seq = 4`)
			exec1(`UPDATE audit_log SET seq = 4 WHERE seq = 3`)
			exec1(`UPDATE audit_log SET seq = 3 WHERE seq = -4`)
		}, func() {
			exec1(`DELETE FROM audit_log WHERE seq IN (3, 4)`)
			exec1(`INSERT INTO audit_log SELECT * FROM audit_log_backup WHERE seq IN (3, 4)`)
		}},
		{"delete-tail", `"kind": "head_mismatch"`, func() { exec1(`DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log_backup)`) },
			func() {
				exec1(`INSERT INTO audit_log SELECT * FROM audit_log_backup WHERE seq = (SELECT MAX(seq) FROM audit_log_backup)`)
			}},
	}
	// The server is idle from here on, so the chain does not grow under the test.
	exec1(`CREATE TABLE audit_log_backup AS SELECT * FROM audit_log`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.tamper()
			ok, out := verify(t, bin, data)
			if ok || !strings.Contains(out, c.want) {
				t.Fatalf("tampering not named: ok=%v, want %s in:\n%s", ok, c.want, out)
			}
			c.restore()
			if ok, out := verify(t, bin, data); !ok {
				t.Fatalf("restored chain fails: %s", out)
			}
		})
	}
}

// TestComplianceCommands runs the three compliance queries from the CLI.
func TestComplianceCommands(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	addr, _ := serve(t, bin, "STREAMFORGE_DATA_DIR="+data, "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=root@example.com",
		"STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery staple")
	login(t, addr, "root@example.com", "correct horse battery staple")
	for i := 0; i < 6; i++ {
		login(t, addr, "eve@example.com", "wrong password number x")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"gdpr", "--user", "root@example.com"}, "authentication.success"},
		{[]string{"soc2"}, `"event_type": "user.create"`},
		{[]string{"iso27001"}, `"user": "eve@example.com"`},
	} {
		args := append([]string{"audit", "compliance"}, c.args...)
		out, err := exec.Command(bin, append(args, "--data-dir", data)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: %v\n%s", c.args, err, out)
		}
	}
}
