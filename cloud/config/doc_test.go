package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// envOnly are read from the environment alone, never as a flag: a secret
// on the command line is visible to every local user (ps).
var envOnly = map[string]bool{"STREAMFORGE_ALERT_WEBHOOK_SECRET": true}

// derivedDirs are the settings whose default is a path under the data
// directory, computed by Load.
var derivedDirs = map[string]func(*Config) string{
	"STREAMFORGE_JWT_KEY_DIR":       func(c *Config) string { return c.JWTKeyDir },
	"STREAMFORGE_CONFIG_KEY_DIR":    func(c *Config) string { return c.ConfigKeyDir },
	"STREAMFORGE_SECRET_KEY_DIR":    func(c *Config) string { return c.SecretKeyDir },
	"STREAMFORGE_AUDIT_KEY_DIR":     func(c *Config) string { return c.Audit.KeyDir },
	"STREAMFORGE_AUDIT_ANCHOR_FILE": func(c *Config) string { return c.Audit.AnchorFile },
}

// docSetting is one variable of docs/cloud-config.md's table with the
// default it states ("" when the table gives none in backticks).
type docSetting struct{ env, def string }

// documentedSettings reads the table of docs/cloud-config.md. A row may
// name several variables; its default column then lists their defaults in
// the same order, or none for all of them.
func documentedSettings(t *testing.T) []docSetting {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cloud-config.md"))
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile("`([^`]*)`")
	var out []docSetting
	for _, line := range strings.Split(string(doc), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 4 || !strings.HasPrefix(strings.TrimSpace(cols[1]), "`STREAMFORGE_") {
			continue
		}
		names, defs := code.FindAllStringSubmatch(cols[1], -1), code.FindAllStringSubmatch(cols[2], -1)
		if len(defs) != 0 && len(defs) != len(names) {
			t.Errorf("docs/cloud-config.md: %d variables but %d defaults in %q", len(names), len(defs), line)
			continue
		}
		for i, n := range names {
			d := docSetting{env: n[1]}
			if len(defs) > 0 {
				d.def = defs[i][1]
			}
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/cloud-config.md: no settings table found")
	}
	return out
}

// TestDocumentedSettingsExist: every variable docs/cloud-config.md lists
// is one Load reads, under the flag name the doc's rule gives, with the
// default the doc states; and every setting Load reads is documented.
func TestDocumentedSettingsExist(t *testing.T) {
	code := map[string]Setting{}
	for _, s := range Settings() {
		code[s.Env] = s
	}
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir}
	for env := range derivedDirs {
		args = append(args, "--"+code[env].Flag+"=")
	}
	cfg, err := Load(args)
	if err != nil {
		t.Fatalf("defaults do not load: %v", err)
	}
	documented := map[string]bool{}
	for _, d := range documentedSettings(t) {
		documented[d.env] = true
		s, ok := code[d.env]
		switch {
		case envOnly[d.env]:
			if ok {
				t.Errorf("%s: documented as environment only, but serve has a flag for it", d.env)
			}
			continue
		case !ok:
			t.Errorf("%s: documented in docs/cloud-config.md, but serve does not read it", d.env)
			continue
		}
		if want := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(d.env, "STREAMFORGE_"), "_", "-")); s.Flag != want {
			t.Errorf("%s: flag --%s, the doc's rule gives --%s", d.env, s.Flag, want)
		}
		if get, ok := derivedDirs[d.env]; ok {
			rel, found := strings.CutPrefix(d.def, "DATA_DIR/")
			if want := filepath.Join(dataDir, rel); !found || s.Default != "" || get(cfg) != want {
				t.Errorf("%s: documented default %q, but it loads as %q (want %q)", d.env, d.def, get(cfg), want)
			}
			continue
		}
		if s.Default != d.def {
			t.Errorf("%s: documented default %q, the code's is %q", d.env, d.def, s.Default)
		}
	}
	for env := range code {
		if !documented[env] {
			t.Errorf("%s: read by serve but missing from docs/cloud-config.md", env)
		}
	}
}
