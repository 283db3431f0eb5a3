package testenv

import (
	"os"
	"strings"
	"testing"
)

// READMEYAML returns the first ```yaml block of the README.md in the test's
// directory: the sample configuration a package documents.
func READMEYAML(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no ```yaml block")
	}
	sample, _, _ := strings.Cut(rest, "```")
	return []byte(sample)
}
