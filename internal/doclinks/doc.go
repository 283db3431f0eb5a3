// Package doclinks holds the checks that keep the project's Markdown
// (README.md, docs/, buildroot/README.md) honest about the repository:
// links that resolve, anchors that exist, tests that are named and exist.
// It has no code of its own; see doclinks_test.go.
package doclinks
