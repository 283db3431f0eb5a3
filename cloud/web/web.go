// Package web holds the dashboard's front end, bundled from ui/ by
// `make web` into dist/ and embedded in streamforge-cloud: the control
// plane serves it itself and fetches nothing at run time.
package web

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io/fs"
	"mime"
	"path"
)

//go:embed dist
var dist embed.FS

// CSP is the dashboard's Content-Security-Policy: scripts, styles and
// requests only from this origin, no inline script or style, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Asset is one embedded file, with its gzip form computed once at start.
type Asset struct {
	Name        string
	ContentType string
	Body        []byte
	Gzip        []byte
}

var assets = load()

func load() map[string]*Asset {
	out := map[string]*Asset{}
	entries, err := fs.ReadDir(dist, "dist")
	if err != nil {
		panic("web: embedded dist missing: " + err.Error())
	}
	for _, e := range entries {
		body, err := fs.ReadFile(dist, "dist/"+e.Name())
		if err != nil {
			panic("web: " + err.Error())
		}
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		_, _ = w.Write(body)
		_ = w.Close()
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[e.Name()] = &Asset{Name: e.Name(), ContentType: ct, Body: body, Gzip: z.Bytes()}
	}
	return out
}

// Get returns the embedded file name (a base name such as "app.js").
func Get(name string) (*Asset, bool) {
	a, ok := assets[name]
	return a, ok
}

// Names lists the embedded files.
func Names() []string {
	out := make([]string, 0, len(assets))
	for n := range assets {
		out = append(out, n)
	}
	return out
}
