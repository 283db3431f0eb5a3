package main_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsServeTheOneRegistry: serve's /metrics shows every part wired
// into its one registry: the Go runtime and the process, the password
// hashing pool, the users service and the HTTP middleware.
func TestMetricsServeTheOneRegistry(t *testing.T) {
	bin := build(t)
	addr, _ := serve(t, bin, "STREAMFORGE_DATA_DIR="+t.TempDir(),
		"STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=admin@example.com", "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery staple")
	if code, _ := login(t, addr, "admin@example.com", "wrong password here"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", res.StatusCode, body)
	}
	for _, want := range []string{
		"go_goroutines ",
		"process_resident_memory_bytes ",
		"streamforge_password_hashes_total ",
		"streamforge_login_failures_total 1",
		`streamforge_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
