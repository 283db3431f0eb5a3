package tpm_test

import (
	"bytes"
	"testing"

	"github.com/streamforge/streamforge/agent/tpm"
)

// TestSealedDataOpensOnlyInItsTPM: data sealed to a swtpm's SRK opens in
// that TPM (also after the agent opens it again, with the AK and a key
// loaded), and not in another TPM; the blob does not hold the data.
func TestSealedDataOpensOnlyInItsTPM(t *testing.T) {
	tp, sw := openSwTPM(t, t.TempDir())
	if err := tp.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.NewKey(nil); err != nil {
		t.Fatal(err)
	}
	secret := []byte("7KQ2M-9XH4R-Z")
	blob, err := tp.Seal(secret)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	if bytes.Contains(blob, secret) {
		t.Fatal("the sealed blob holds the data in clear")
	}
	if got, err := tp.Unseal(blob); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("unseal in the same TPM: %q %v", got, err)
	}
	tp.Close()
	again, err := tpm.Open(tpm.Config{Path: sw.Path, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got, err := again.Unseal(blob); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("unseal after reopening the TPM: %q %v", got, err)
	}
	other, _ := openSwTPM(t, t.TempDir())
	if got, err := other.Unseal(blob); err == nil {
		t.Fatalf("another TPM opened the blob: %q", got)
	}
}
