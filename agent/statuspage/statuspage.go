// Package statuspage is the agent's local status page, served on its
// metrics listener: the gateway's enrollment status, a refused config, and
// until approval the claim code with its QR code, for a technician standing
// at the device. It also prints the claim code on the console. The control
// plane client (agent/controlplane) only keeps the state; rendering it for
// people lives here.
package statuspage

import (
	"bytes"
	"html/template"
	"image"
	"image/png"
	"net/http"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/pkg/wire"
)

// StateSource is what the page shows: the control plane loop's state.
type StateSource interface {
	State() controlplane.State
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>StreamForge gateway {{.ID}}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 30rem; margin: 1rem auto; padding: 0 1rem">
<h1>Gateway {{.ID}}</h1>
<p>Status: <strong id="status">{{.Status}}</strong></p>
{{if .ConfigError}}<p>Config: <strong id="config-error">{{.ConfigError}}</strong> (running the last-known-good)</p>{{end}}
{{if .Code}}<p>Claim code: <code id="claim-code" style="font-size: 1.6rem">{{.Code}}</code></p>
<p><img id="claim-qr" src="/claim-qr.png" alt="QR code of {{.URL}}" style="image-rendering: pixelated"></p>
<p><a id="claim-url" href="{{.URL}}">{{.URL}}</a></p>{{end}}
</body></html>`))

// Handler serves the agent's local status page ("/") with the claim code
// and its QR code ("/claim-qr.png").
func Handler(l StateSource, cloudURL string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		st := l.State()
		data := struct{ ID, Status, Code, URL, ConfigError string }{ID: st.GatewayID, Status: st.Status, ConfigError: st.ConfigError}
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
		png, err := ClaimQRPNG(wire.ClaimURL(cloudURL, st.GatewayID, st.ClaimCode))
		if err != nil {
			http.Error(w, "qr encode failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	})
	return mux
}

// qrTargetPixels is about how wide the claim QR image is.
const qrTargetPixels = 256

// claimQR encodes url as the QR symbol the agent shows, checked with a
// ZXing decoder (gozxing, the detector most scanner apps derive from):
// that detector misreads about 1 in 300 perfectly drawn Medium-level
// symbols (the symbol is right, the finder/alignment search goes astray),
// so a symbol that does not read back is replaced by the one of the next
// error correction level, which has another size and mask. Every code
// shown then decodes.
func claimQR(url string) (*qrcode.QRCode, error) {
	var first *qrcode.QRCode
	for _, level := range []qrcode.RecoveryLevel{qrcode.Medium, qrcode.High, qrcode.Low, qrcode.Highest} {
		q, err := qrcode.New(url, level)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = q
		}
		if readsBack(qrImage(q), url) {
			return q, nil
		}
	}
	return first, nil
}

// qrImage draws q with each module a whole number of pixels (a fixed
// image size scales modules unevenly, some a pixel wider than others) and
// the symbol's 4-module quiet zone.
func qrImage(q *qrcode.QRCode) image.Image {
	modules := len(q.Bitmap()) // the symbol with its quiet zone
	return q.Image(-max(4, qrTargetPixels/modules))
}

func readsBack(img image.Image, url string) bool {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return false
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	return err == nil && res.GetText() == url
}

// ClaimQRPNG is the claim QR image of url as a PNG.
func ClaimQRPNG(url string) ([]byte, error) {
	q, err := claimQR(url)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, qrImage(q)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Routes are the page's patterns, each served by Handler, for mounting on
// the agent's local HTTP server beside /metrics.
func Routes(l StateSource, cloudURL string) map[string]http.Handler {
	h := Handler(l, cloudURL)
	return map[string]http.Handler{"GET /{$}": h, "GET /claim-qr.png": h}
}
