// Package layout holds the test that keeps the module's import rules
// (../shared/DESIGN.md): agent and cloud apart, pki and adapters below
// both, GORM only in cloud/store, the API's handlers off the store, test helpers out of product code.
package layout

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/streamforge/streamforge/"

// gormPending are the packages other than cloud/store that still import
// GORM themselves. The cloud structure issue (#10) moved every query into
// cloud/store, so it is empty; the test refuses any package that is not on
// it, and any entry that no longer imports GORM (so it can only shrink).
var gormPending = map[string]bool{}

// rule says whether package p (module-relative) may import q. q is
// module-relative when internal, otherwise the full import path.
func rule(p, q string, internal bool) string {
	if !internal {
		if strings.HasPrefix(q, "gorm.io/") && !under(p, "cloud/store") && !gormPending[p] {
			return "GORM outside cloud/store"
		}
		return ""
	}
	switch {
	case under(p, "agent") && under(q, "cloud"):
		return "agent imports cloud"
	case under(p, "cloud") && under(q, "agent"):
		return "cloud imports agent"
	case (under(p, "pki") || under(p, "adapters")) && (under(q, "agent") || under(q, "cloud")):
		return "pki and adapters sit below agent and cloud"
	case under(p, "cloud/api") && under(q, "cloud/store"):
		return "handlers depend on the services' interfaces (api.Deps), not on the store"
	case testHelper(q) && !testHelper(p) && !under(p, "tests"):
		return "test helpers are imported by tests only"
	}
	return ""
}

// testHelper says whether p is one of the packages that only tests use
// (real parts started for tests, Kafka checks, simulator sinks and faults).
func testHelper(p string) bool {
	return under(p, "internal/testenv") || under(p, "internal/kafkatest") || under(p, "internal/simtest")
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	gormSeen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		n++
		p := strings.TrimPrefix(f[0], module)
		for _, imp := range f[1:] {
			q, internal := strings.CutPrefix(imp, module)
			if strings.HasPrefix(imp, "gorm.io/") {
				gormSeen[p] = true
			}
			if why := rule(p, q, internal); why != "" {
				t.Errorf("%s imports %s: %s", p, imp, why)
			}
		}
	}
	if n < 20 {
		t.Fatalf("go list saw %d packages; the module was not read", n)
	}
	for p := range gormPending {
		if !gormSeen[p] {
			t.Errorf("%s no longer imports GORM: remove it from gormPending", p)
		}
	}
}

// TestRuleRefuses shows the rules can fail: every forbidden edge is a row.
func TestRuleRefuses(t *testing.T) {
	for _, c := range []struct {
		p, q     string
		internal bool
		bad      bool
	}{
		{"agent/run", "cloud/audit", true, true},
		{"cloud/api", "agent/tpm", true, true},
		{"pki/acmeclient", "agent/tpm", true, true},
		{"adapters/opcua", "cloud/store", true, true},
		{"adapters/opcua", "adapters/modbus", true, false},
		{"agent/run", "pki/acmeclient", true, false},
		{"cloud/rbac", "gorm.io/gorm", false, true},
		{"cloud/store", "gorm.io/gorm", false, false},
		{"cloud/store/repo", "gorm.io/gorm/clause", false, false},
		{"agent/buffer", "go.etcd.io/bbolt", false, false},
		{"agent/run", "internal/testenv", true, true},
		{"adapters/sim", "internal/simtest", true, true},
		{"cloud/api", "internal/kafkatest", true, true},
		{"cloud/api", "cloud/store", true, true},
		{"cloud/cmd/streamforge-cloud", "cloud/store", true, false},
		{"internal/simtest", "adapters", true, false},
		{"tests/kafka/cmd/streamforge-consume", "internal/kafkatest", true, false},
	} {
		if got := rule(c.p, c.q, c.internal) != ""; got != c.bad {
			t.Errorf("rule(%s -> %s) refused=%v, want %v", c.p, c.q, got, c.bad)
		}
	}
}
