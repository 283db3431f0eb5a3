package main_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// metricsText reads serve's /metrics as text.
func metricsText(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", res.StatusCode, body)
	}
	return string(body)
}

// scrape reads serve's /metrics: each unlabelled sample by name.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(metricsText(t, addr), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// TestMetricsServeTheOneRegistry: serve's /metrics shows every part wired
// into its one registry: the Go runtime and the process, the password
// hashing pool, the users service, the HTTP middleware, the alarms, and
// the audit outbox, relay and checkpoints (without brokers no relay runs:
// its lease is 0 and the outbox only grows; with Kafka:
// TestAuditVerifyUsesCheckpointsAndKafka).
func TestMetricsServeTheOneRegistry(t *testing.T) {
	bin := build(t)
	addr, _ := serve(t, bin, "STREAMFORGE_DATA_DIR="+t.TempDir(),
		"STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=admin@example.com", "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery staple")
	if code, _ := login(t, addr, "admin@example.com", "wrong password here"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	body := metricsText(t, addr)
	for _, want := range []string{
		"go_goroutines ",
		"process_resident_memory_bytes ",
		"streamforge_password_hashes_total ",
		"streamforge_login_failures_total 1",
		`streamforge_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"} 1`,
		"streamforge_alarm_webhook_failures_total 0",
		"streamforge_audit_relay_lease_held 0",
		"streamforge_audit_relay_records_total 0",
		"streamforge_audit_relay_errors_total 0",
		"streamforge_audit_checkpoint_seq ",
		"streamforge_audit_checkpoint_timestamp_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if m := scrape(t, addr); m["streamforge_audit_outbox_records"] < 2 {
		t.Errorf("outbox depth %v: the bootstrap and the failed login are queued, and no relay runs", m["streamforge_audit_outbox_records"])
	}
}
