package api_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"runtime"
	"testing"
)

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCompressedBodiesAreRefused: a request body with a Content-Encoding is
// answered 415 without being decompressed, on the public login route as on
// a gateway's log upload. Fiber inflated such bodies with no bound, so the
// body limit counted only compressed bytes: a gzip of valid credentials
// logged in, and a 291 kB gzip of spaces sent to the login route grew the
// process to 1.5 GiB (two stacked layers reach any size).
func TestCompressedBodiesAreRefused(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	gw := e.approvedGateway(admin, "gw-zip")
	gwTok, _ := gw.Token()
	creds := []byte(`{"email":"` + adminEmail + `","password":"` + adminPassword + `"}`)
	spaces := bytes.Repeat([]byte(" "), 64<<20)
	bomb := gzipped(t, gzipped(t, spaces)) // about 1 kB that inflates to 64 MiB
	for _, c := range []struct {
		name, path, token, encoding string
		body                        []byte
		want                        int
	}{
		{"fail-gzip-login", "/api/v1/auth/login", "", "gzip", gzipped(t, creds), 415},
		{"fail-gzip-mixed-case", "/api/v1/auth/login", "", "GZip", gzipped(t, creds), 415},
		{"fail-bomb-login", "/api/v1/auth/login", "", "gzip, gzip", bomb, 415},
		{"fail-bomb-gateway-logs", "/api/v1/gateways/gw-zip/logs", gwTok, "gzip, gzip", bomb, 415},
		{"fail-br", "/api/v1/auth/login", "", "br", creds, 415},
		{"ok-identity", "/api/v1/auth/login", "", "identity", creds, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r := e.do("POST", c.path, c.token, string(c.body), "Content-Type", "application/json", "Content-Encoding", c.encoding)
			runtime.ReadMemStats(&after)
			if c.want == 415 {
				wantError(t, r, http.StatusUnsupportedMediaType, "must not be compressed")
			} else {
				wantStatus(t, r, c.want)
			}
			// The server runs in this process: it must not have inflated
			// the bomb (64 MiB) anywhere.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
				t.Fatalf("serving one request allocated %d MiB", grew>>20)
			}
		})
	}
}
