package web_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// TestCSVCellsCannotRunAsFormulas runs the dashboard's own CSV code (the
// audit export's) in node: a cell that a spreadsheet would run as a
// formula gets a leading apostrophe. The export used to quote such cells
// only, and a quoted "=HYPERLINK(...)" is still a formula to Excel and
// LibreOffice; audit cells hold text that anyone can choose (the email
// typed into a failed login).
func TestCSVCellsCannotRunAsFormulas(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node")
	}
	cells := []any{`=HYPERLINK("http://x","y")`, "+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=1", "admin@example.com", "a,b", `say "hi"`, 42, nil, "'quoted"}
	want := []string{`"'=HYPERLINK(""http://x"",""y"")"`, `"'+1+1"`, `"'-2+3"`, `"'@SUM(A1)"`, "\"'\tx\"", "\"'\r=1\"", "admin@example.com",
		`"a,b"`, `"say ""hi"""`, "42", "", `"'quoted"`}
	in, _ := json.Marshal(cells)
	mod, err := filepath.Abs("ui/src/csv.js")
	if err != nil {
		t.Fatal(err)
	}
	modURL, _ := json.Marshal("file://" + mod) // a JS string literal
	script := `import { csvCell } from ` + string(modURL) + `;
process.stdout.write(JSON.stringify(` + string(in) + `.map(csvCell)));`
	out, err := exec.Command("node", "--input-type=module", "-e", script).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %s: %v", out, err)
	}
	for i := range cells {
		if got[i] != want[i] {
			t.Errorf("csvCell(%q) = %q, want %q", cells[i], got[i], want[i])
		}
	}
}
