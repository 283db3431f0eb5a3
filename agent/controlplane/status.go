package controlplane

import (
	"fmt"
	"html/template"
	"io"
	"net/http"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/streamforge/streamforge/pkg/wire"
)

// PrintClaim writes the claim code and a terminal QR code of the claim URL,
// for a technician at the gateway's console.
func PrintClaim(w io.Writer, cloudURL, gatewayID, code string) error {
	url := wire.ClaimURL(cloudURL, gatewayID, code)
	q, err := qrcode.New(url, qrcode.Medium)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\nClaim this gateway: scan the QR code or enter\n  gateway %s\n  claim code %s\n  at %s\n%s\n",
		gatewayID, code, url, q.ToSmallString(false))
	return err
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>StreamForge gateway {{.ID}}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 30rem; margin: 1rem auto; padding: 0 1rem">
<h1>Gateway {{.ID}}</h1>
<p>Status: <strong id="status">{{.Status}}</strong></p>
{{if .Code}}<p>Claim code: <code id="claim-code" style="font-size: 1.6rem">{{.Code}}</code></p>
<p><img id="claim-qr" src="/claim-qr.png" alt="QR code of {{.URL}}" width="256" height="256"></p>
<p><a id="claim-url" href="{{.URL}}">{{.URL}}</a></p>{{end}}
</body></html>`))

// StatusHandler serves the agent's local status page ("/") with the claim
// code and its QR code ("/claim-qr.png").
func StatusHandler(l *Loop, cloudURL string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		st := l.State()
		data := struct{ ID, Status, Code, URL string }{ID: st.GatewayID, Status: st.Status}
		if st.Status != "approved" && st.ClaimCode != "" {
			data.Code, data.URL = st.ClaimCode, wire.ClaimURL(cloudURL, st.GatewayID, st.ClaimCode)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = statusPage.Execute(w, data)
	})
	mux.HandleFunc("GET /claim-qr.png", func(w http.ResponseWriter, r *http.Request) {
		st := l.State()
		if st.ClaimCode == "" {
			http.Error(w, "not enrolled yet", http.StatusNotFound)
			return
		}
		png, err := qrcode.Encode(wire.ClaimURL(cloudURL, st.GatewayID, st.ClaimCode), qrcode.Medium, 256)
		if err != nil {
			http.Error(w, "qr encode failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	})
	return mux
}
