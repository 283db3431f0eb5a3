package statuspage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http/httptest"
	"testing"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/agent/statuspage"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestClaimQRDecodesEveryTime: the status page's QR image of 1000 random
// gateways and claim codes all decode with gozxing to the claim URL
// (modules of whole pixels, with a quiet zone). A 256 px image with
// unevenly scaled modules failed about once in 150.
func TestClaimQRDecodesEveryTime(t *testing.T) {
	const n = 1000
	const cloudURL = "https://cloud.streamforge.example:8443"
	dir := t.TempDir()
	failed := 0
	for i := 0; i < n; i++ {
		idBytes := make([]byte, 2+i%14)
		_, _ = rand.Read(idBytes)
		id := "gw-" + hex.EncodeToString(idBytes)
		code, err := wire.NewClaimCode()
		if err != nil {
			t.Fatal(err)
		}
		if err := (controlplane.State{GatewayID: id, Enrolled: true, Status: "pending", ClaimCode: code}).Save(dir); err != nil {
			t.Fatal(err)
		}
		loop, err := controlplane.NewLoop(context.Background(), controlplane.Options{
			Client: controlplane.NewClient(cloudURL, id, nil), StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		statuspage.Handler(loop, cloudURL).ServeHTTP(rec, httptest.NewRequest("GET", "/claim-qr.png", nil))
		want := wire.ClaimURL(cloudURL, id, code)
		if got, err := testenv.DecodeQR(rec.Body.Bytes()); err != nil || got != want {
			failed++
			t.Errorf("QR of %s: %q %v", want, got, err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d claim QR images did not decode", failed, n)
	}
}
