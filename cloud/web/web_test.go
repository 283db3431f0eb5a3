package web_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/streamforge/streamforge/cloud/web"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestBundleIsFresh: the committed dist/ is what `make web` builds from
// ui/ with the pinned packages, so no one ships a stale or hand-edited
// bundle.
func TestBundleIsFresh(t *testing.T) {
	if _, err := os.Stat("ui/node_modules/esbuild"); err != nil {
		testenv.Missing(t, "cloud/web/ui/node_modules (run: make deps)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node")
	}
	out := t.TempDir()
	cmd := exec.Command("node", "build.mjs", out)
	cmd.Dir = "ui"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bundle: %v\n%s", err, b)
	}
	for _, name := range web.Names() {
		fresh, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("%s is embedded but not built from ui/: %v", name, err)
		}
		a, _ := web.Get(name)
		if !bytes.Equal(fresh, a.Body) {
			t.Errorf("dist/%s differs from a fresh bundle of ui/: run `make web` and commit dist/", name)
		}
	}
	built, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(built) != len(web.Names()) {
		t.Errorf("built %d files, %d embedded: run `make web`", len(built), len(web.Names()))
	}
}

// TestPageWeight: the first load of the dashboard (the scripts and styles
// index.html links) is at most 250 KB compressed, as served.
func TestPageWeight(t *testing.T) {
	index, ok := web.Get("index.html")
	if !ok {
		t.Fatal("no index.html embedded")
	}
	refs := regexp.MustCompile(`(?:src|href)="/ui/([^"]+)"`).FindAllSubmatch(index.Body, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html links %d assets, want the script and the style sheet", len(refs))
	}
	total := 0
	for _, r := range refs {
		a, ok := web.Get(string(r[1]))
		if !ok {
			t.Fatalf("index.html links %s, which is not embedded", r[1])
		}
		total += len(a.Gzip)
	}
	t.Logf("JS+CSS on first load: %d bytes gzip", total)
	if total > 250*1000 {
		t.Fatalf("first load weighs %d bytes compressed, over 250 KB", total)
	}
}

// TestNoInlineScriptOrStyle: the page itself carries no inline script,
// style element or style attribute (the CSP would refuse them).
func TestNoInlineScriptOrStyle(t *testing.T) {
	index, _ := web.Get("index.html")
	for _, bad := range []string{`<script>`, `<style`, ` style=`, `javascript:`} {
		if bytes.Contains(index.Body, []byte(bad)) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	if !regexp.MustCompile(`script-src 'self';`).MatchString(web.CSP) || regexp.MustCompile(`unsafe-inline|unsafe-eval|https?:`).MatchString(web.CSP) {
		t.Errorf("CSP is not strict: %s", web.CSP)
	}
}
