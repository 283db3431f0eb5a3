package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FilesContaining lists the files under root whose bytes hold any of
// needles: the search a test runs for a secret value left on disk.
func FilesContaining(t testing.TB, root string, needles ...[]byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				hits = append(hits, p)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}
