package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/alarms"
)

const rootPassword = "correct horse battery staple"

// adminToken logs the bootstrap admin in.
func adminToken(t *testing.T, addr string) string {
	t.Helper()
	st, body := login(t, addr, "root@example.com", rootPassword)
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	token, _ := body["token"].(string)
	return token
}

// openAlarms lists the open alarms of kind as the API shows them to token.
func openAlarms(t *testing.T, addr, token, kind string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/alarms?kind="+kind+"&state=open", nil)
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

func openSQLite(t *testing.T, data string) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Open(filepath.Join(data, "streamforge.db")+"?_pragma=busy_timeout(5000)"), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestAuditVerifyFailureRaisesSecurityAlarm: a record edited in the
// database makes `audit verify` fail, and that failure is a security
// alarm that the serving process lists to an Admin and that the CLI posts,
// signed, to the configured webhook.
func TestAuditVerifyFailureRaisesSecurityAlarm(t *testing.T) {
	sink, hookEnv := startWebhookSink(t)
	bin := build(t)
	data := t.TempDir()
	addr, _ := serve(t, bin, "STREAMFORGE_DATA_DIR="+data, "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=root@example.com",
		"STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD="+rootPassword)
	token := adminToken(t, addr)
	if a := openAlarms(t, addr, token, alarms.AuditVerifyFailure); len(a) != 0 {
		t.Fatalf("alarm before any tampering: %v", a)
	}
	if err := openSQLite(t, data).Exec(`UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 1`).Error; err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "audit", "verify", "--data-dir", data)
	cmd.Env = append(os.Environ(), hookEnv...)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("audit verify passed a tampered chain:\n%s", out)
	}
	a := openAlarms(t, addr, token, alarms.AuditVerifyFailure)
	if len(a) != 1 || a[0]["severity"] != "critical" || a[0]["category"] != "security" {
		t.Fatalf("security alarms after a failed verification: %v", a)
	}
	// The CLI waits for the delivery: no polling needed.
	if n, ok, forged := sink.raised(alarms.AuditVerifyFailure); !ok || forged != 0 || n.Alarm.ID != uint64(a[0]["id"].(float64)) {
		t.Fatalf("webhook after the CLI's failed verification: %+v sent=%v forged=%d", n, ok, forged)
	}
}

// webhookSink is a webhook receiver that keeps the notifications whose
// signature verifies, and counts those whose does not.
type webhookSink struct {
	secret []byte
	mu     sync.Mutex
	got    []alarms.Notification
	forged int
}

func (s *webhookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	var n alarms.Notification
	if r.Header.Get(alarms.SignatureHeader) != alarms.Sign(s.secret, r.Header.Get(alarms.TimestampHeader), body) ||
		json.Unmarshal(body, &n) != nil {
		s.forged++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	s.got = append(s.got, n)
}

// startWebhookSink serves a sink on 127.0.0.1 until the test ends; env
// points a process's webhook at it.
func startWebhookSink(t *testing.T) (sink *webhookSink, env []string) {
	const secret = "a webhook secret of some length"
	sink = &webhookSink{secret: []byte(secret)}
	hook := httptest.NewServer(sink)
	t.Cleanup(hook.Close)
	return sink, []string{"STREAMFORGE_ALERT_WEBHOOK_URL=" + hook.URL, "STREAMFORGE_ALERT_WEBHOOK_SECRET=" + secret}
}

func (s *webhookSink) raised(kind string) (alarms.Notification, bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.got {
		if n.Event == "alarm.raised" && n.Alarm.Kind == kind {
			return n, true, s.forged
		}
	}
	return alarms.Notification{}, false, s.forged
}

// TestCheckpointerRaisesTheSecurityAlarm: nobody runs `audit verify`, but
// the checkpoint signer, which verifies the chain before each signing,
// finds the chain head edited in the database: the serving process raises
// the critical security alarm and POSTs it, signed, to the webhook.
func TestCheckpointerRaisesTheSecurityAlarm(t *testing.T) {
	sink, hookEnv := startWebhookSink(t)
	data := t.TempDir()
	addr, _ := serve(t, build(t), append(hookEnv, "STREAMFORGE_DATA_DIR="+data, "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=root@example.com",
		"STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD="+rootPassword, "STREAMFORGE_AUDIT_CHECKPOINT_INTERVAL=100ms")...)
	token := adminToken(t, addr)
	if a := openAlarms(t, addr, token, alarms.AuditVerifyFailure); len(a) != 0 {
		t.Fatalf("alarm before any tampering: %v", a)
	}
	// The head is checked whatever the checkpoints cover already.
	if err := openSQLite(t, data).Exec(`UPDATE audit_chain_head SET hash = ? WHERE id = 1`, strings.Repeat("0", 64)).Error; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, ok, forged := sink.raised(alarms.AuditVerifyFailure)
		if forged > 0 {
			t.Fatalf("%d webhook requests with a bad signature", forged)
		}
		if ok {
			if n.Alarm.Severity != alarms.Critical || n.Alarm.Category != alarms.Security || !strings.Contains(n.Alarm.Message, "head") {
				t.Fatalf("webhook notification: %+v", n.Alarm)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no signed webhook POST of the audit verification alarm within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := openAlarms(t, addr, token, alarms.AuditVerifyFailure); len(a) != 1 {
		t.Fatalf("open audit verification alarms: %v", a)
	}
}
