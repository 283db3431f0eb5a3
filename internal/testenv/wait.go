package testenv

import (
	"bytes"
	"image"
	_ "image/png" // status page QR codes are PNG
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
)

// pollEvery is how often Eventually checks its condition: fast enough that
// a test waits little past the moment, slow enough not to load the machine.
const pollEvery = 50 * time.Millisecond

// Eventually waits until cond holds, failing t with what after limit.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}

// Within reports whether cond held within limit, for callers that add
// their own failure message (a process log, the last value seen).
func Within(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
}

// Get fetches url and returns its body, failing t when it cannot.
func Get(t testing.TB, url string) []byte {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return b
}

// DecodeQR reads the text of the QR code in a PNG image with gozxing (a
// ZXing port, the detector most scanner apps derive from).
func DecodeQR(png []byte) (string, error) {
	img, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		return "", err
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}
