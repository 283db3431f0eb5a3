package audit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// docPythonVerifier returns the Python script of docs/audit.md
// ("Verifying without our code").
func docPythonVerifier(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "audit.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "### Verifying without our code")
	if ok {
		_, rest, ok = strings.Cut(rest, "```python\n")
	}
	script, _, closed := strings.Cut(rest, "\n```")
	if !ok || !closed {
		t.Fatal("docs/audit.md: the Python verifier is gone")
	}
	return script
}

// TestDocPythonVerifierChecksTheChain: the standard-library Python script
// docs/audit.md offers for checking the chain without our code accepts a
// chain Append wrote on SQLite (with NULL and non-NULL approved_by and
// non-ASCII text) and names the record an edit touched.
func TestDocPythonVerifierChecksTheChain(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		testenv.Missing(t, "python3 (scripts/install-deps.sh)")
	}
	script := filepath.Join(t.TempDir(), "verify.py")
	if err := os.WriteFile(script, []byte(docPythonVerifier(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	b := backends[0]
	path := b.new(t)
	db := b.open(t, path)
	migrate(t, db)
	appendN(t, db, 4)
	if _, err := Append(db, Event{EventType: "user.update", User: "zoë@example.com", Resource: "user", ResourceID: "zoë@example.com",
		Action: "update", Result: ResultSuccess, Reason: "Größe ändern ✓"}); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		out, err := exec.Command(python, script, path).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := run(); err != nil || !strings.HasPrefix(out, "ok: 5 records") {
		t.Fatalf("the doc's verifier refuses an intact chain: %v: %s", err, out)
	}
	if err := db.Exec("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3").Error; err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err == nil || out != "seq 3: edited" {
		t.Fatalf("the doc's verifier after an edit of record 3: %v: %q, want exit 1 and \"seq 3: edited\"", err, out)
	}
}
