// Package fuzz throws generated requests at the control plane's API, from
// its own OpenAPI document, with schemathesis (PyPI).
package fuzz

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

func schemathesis(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("STREAMFORGE_SCHEMATHESIS"),
		filepath.Join(os.Getenv("HOME"), ".cache", "streamforge", "venv", "bin", "schemathesis")} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("schemathesis"); err == nil {
		return p
	}
	testenv.Missing(t, "schemathesis (make deps installs it into ~/.cache/streamforge/venv)")
	return ""
}

// TestAPIFuzzNoServerErrors: thousands of generated requests, valid and
// not, authenticated as an Admin: none may answer 5xx, and the server
// logs no failure. Logout and refresh are left out so that the fuzzer's
// own token stays valid for longer, and the stateful phase too. The fuzzer
// still learns user emails from answers and may change the admin itself,
// which revokes its token (the API doing its job): later requests then
// test the unauthenticated paths.
func TestAPIFuzzNoServerErrors(t *testing.T) {
	bin := schemathesis(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_RATE_LIMIT=0", "STREAMFORGE_GATEWAY_RATE_LIMIT=0")
	token := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	budget := os.Getenv("STREAMFORGE_FUZZ_SECONDS")
	if budget == "" {
		budget = "60"
	}
	cmd := exec.Command(bin, "run", cloud.URL+"/api/v1/openapi.json",
		"-H", "Authorization: Bearer "+token, "--checks", "not_a_server_error", "--max-time", budget,
		"--exclude-path", "/api/v1/auth/logout", "--exclude-path", "/api/v1/auth/refresh", "--workers", "1", // CPython 3.11 ast.parse is not thread-safe under hypothesis
		"--phases", "examples,coverage,fuzzing")
	cmd.Env = append(os.Environ(), "SCHEMATHESIS_TELEMETRY=false", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	summary := string(out)
	if i := strings.Index(summary, "SUMMARY"); i >= 0 {
		summary = summary[i:]
	}
	if err != nil {
		t.Fatalf("schemathesis found failures: %v\n%s", err, out)
	}
	t.Logf("schemathesis:\n%s", summary)
	log := cloud.Log()
	if strings.Contains(log, "panic") || strings.Contains(log, `"msg":"request failed"`) {
		t.Fatalf("the server logged failures under fuzzing:\n%s", log)
	}
	if !strings.Contains(summary, "passed") {
		t.Fatalf("no test cases ran:\n%s", out)
	}
}
