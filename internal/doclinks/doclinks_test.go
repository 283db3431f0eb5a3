package doclinks

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// markdown returns the documents a new user reads, by path from the
// repository root.
func markdown(t *testing.T, root string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(root, "README.md"), filepath.Join(root, "buildroot", "README.md"))
	docs := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		docs[rel] = string(b)
	}
	return docs
}

var (
	mdLink      = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	notSlugChar = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
	testName    = regexp.MustCompile(`\bTest[A-Z][A-Za-z0-9_]*`)
)

// anchors are a document's heading anchors as GitHub makes them.
func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(doc, "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.ToLower(strings.TrimSpace(strings.TrimLeft(h, "#")))
			out[strings.ReplaceAll(notSlugChar.ReplaceAllString(h, ""), " ", "-")] = true
		}
	}
	return out
}

// TestDocLinksResolve: every relative link of README.md, docs/*.md and
// buildroot/README.md names a file of the repository, and a #fragment
// into a Markdown file names one of its headings.
func TestDocLinksResolve(t *testing.T) {
	root := testenv.RepoRoot()
	docs := markdown(t, root)
	for name, doc := range docs {
		for _, m := range mdLink.FindAllStringSubmatch(doc, -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(link, "#")
			target := name
			if path != "" {
				target = filepath.Join(filepath.Dir(name), path)
				if _, err := os.Stat(filepath.Join(root, target)); err != nil {
					t.Errorf("%s: link %s: %v", name, link, err)
					continue
				}
			}
			if frag == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			doc, ok := docs[target]
			if !ok {
				b, err := os.ReadFile(filepath.Join(root, target))
				if err != nil {
					t.Fatal(err)
				}
				doc = string(b)
			}
			if !anchors(doc)[frag] {
				t.Errorf("%s: link %s: %s has no heading #%s", name, link, target, frag)
			}
		}
	}
}

// TestDocNamedTestsExist: every test a document cites as evidence
// (TestSomething) is a test function of the repository.
func TestDocNamedTestsExist(t *testing.T) {
	root := testenv.RepoRoot()
	defined := map[string]bool{}
	funcTest := regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]*)\(`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "data") && p != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range funcTest.FindAllStringSubmatch(string(b), -1) {
				defined[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range markdown(t, root) {
		for _, test := range testName.FindAllString(doc, -1) {
			if !defined[test] {
				t.Errorf("%s names %s, which is no test of the repository", name, test)
			}
		}
	}
}
