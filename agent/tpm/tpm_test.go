package tpm_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamforge/streamforge/agent/tpm"
	"github.com/streamforge/streamforge/internal/testenv"
)

func openSwTPM(t *testing.T, dir string) (*tpm.TPM, *testenv.SwTPM) {
	t.Helper()
	sw := testenv.StartSwTPM(t)
	tp, err := tpm.Open(tpm.Config{Path: sw.Path, DataDir: dir})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp, sw
}

func TestSwTPMHasEKCertificateAndPersistsAK(t *testing.T) {
	dir := t.TempDir()
	tp, _ := openSwTPM(t, dir)
	pub, cert := tp.EK()
	if pub == nil || cert == nil {
		t.Fatalf("EK pub %v cert %v", pub, cert)
	}
	if err := tp.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	params, err := tp.AttestationParameters()
	if err != nil || len(params.Public) == 0 || len(params.CreateAttestation) == 0 {
		t.Fatalf("attestation parameters %+v: %v", params, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ak.blob")); err != nil {
		t.Fatalf("AK blob not kept: %v", err)
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTPMKeySignsCSRAndSaveLoadKeepsKey(t *testing.T) {
	dir := t.TempDir()
	tp, sw := openSwTPM(t, dir)
	if err := tp.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	qd := sha256.Sum256([]byte("key-authorization"))
	k, err := tp.NewKey(qd[:])
	if err != nil {
		t.Fatal(err)
	}
	if len(k.CertificationParameters().CreateAttestation) == 0 {
		t.Fatal("no certification of the key")
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "gw-1"}}, k)
	if err != nil {
		t.Fatalf("CSR with TPM key: %v", err)
	}
	csr, _ := x509.ParseCertificateRequest(csrDER)
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	if err := k.Save("tls.blob"); err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(*ecdsa.PublicKey)
	k.Close()
	tp.Close()

	tp2, err := tpm.Open(tpm.Config{Path: sw.Path, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer tp2.Close()
	if err := tp2.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	k2, err := tp2.LoadKey("tls.blob")
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	if !pub.Equal(k2.Public()) {
		t.Fatal("reloaded key differs")
	}
	d := sha256.Sum256([]byte("msg"))
	sig, err := k2.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(pub, d[:], sig) {
		t.Fatalf("reloaded key signature: %v", err)
	}
}

func TestSoftwareIdentityIsKeptAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	a, err := tpm.OpenSoftwareIdentity(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tpm.OpenSoftwareIdentity(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Public().(*ecdsa.PublicKey).Equal(b.Public()) {
		t.Fatal("software identity changed between opens")
	}
	st, _ := os.Stat(filepath.Join(dir, "insecure-software-identity.pem"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
}

// swtpm holds three objects; keys take turns in the TPM and concurrent
// signers are serialised.
func TestKeysTakeTurnsAndSignConcurrently(t *testing.T) {
	tp, _ := openSwTPM(t, t.TempDir())
	if err := tp.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	var keys []*tpm.Key
	for i := 0; i < 4; i++ {
		k, err := tp.NewKey(nil)
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		keys = append(keys, k)
	}
	d := sha256.Sum256([]byte("msg"))
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		go func(k *tpm.Key) {
			sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
			if err == nil && !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
				err = errors.New("bad signature")
			}
			errs <- err
		}(keys[i%len(keys)])
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	keys[0].Close()
	if _, err := keys[0].Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, tpm.ErrKeyClosed) {
		t.Fatalf("closed key signed: %v", err)
	}
}

func TestOpenOverTCP(t *testing.T) {
	sw := testenv.StartSwTPMTCP(t)
	tp, err := tpm.Open(tpm.Config{Path: sw.Path, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open %s: %v", sw.Path, err)
	}
	defer tp.Close()
	if err := tp.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	if _, cert := tp.EK(); cert == nil {
		t.Fatal("no EK certificate over TCP")
	}
}
