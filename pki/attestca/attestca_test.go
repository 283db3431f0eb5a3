package attestca_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/tpm"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pki/attestca"
)

type gateway struct {
	tpm *tpm.TPM
	sw  *testenv.SwTPM
}

func newGateway(t *testing.T) gateway { return newGatewayB(t) }

func newGatewayB(t testing.TB) gateway {
	t.Helper()
	sw := testenv.StartSwTPM(t)
	tp, err := tpm.Open(tpm.Config{Path: sw.Path, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	if err := tp.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	return gateway{tp, sw}
}

func TestVerifyEK(t *testing.T) {
	a, b := newGateway(t), newGateway(t)
	rootsA, err := attestca.LoadEKRoots(a.sw.CADir)
	if err != nil {
		t.Fatal(err)
	}
	ekA, certA := a.tpm.EK()
	ekB, certB := b.tpm.EK()

	t.Run("ok-known-root", func(t *testing.T) {
		res, err := rootsA.VerifyEK(ekA, certA.Raw)
		if err != nil || !res.Verified {
			t.Fatalf("res %+v err %v", res, err)
		}
		if res.TPM.Manufacturer == "" || res.TPM.Model == "" || res.TPM.Version == "" {
			t.Fatalf("TPM details not read from EK certificate: %+v", res.TPM)
		}
	})
	t.Run("unverified-unknown-root", func(t *testing.T) {
		res, err := rootsA.VerifyEK(ekB, certB.Raw)
		if err != nil {
			t.Fatalf("unknown root must not be an error: %v", err)
		}
		if res.Verified || res.Reason == "" {
			t.Fatalf("want unverified with a reason, got %+v", res)
		}
	})
	t.Run("unverified-no-certificate", func(t *testing.T) {
		res, err := rootsA.VerifyEK(ekA, nil)
		if err != nil || res.Verified {
			t.Fatalf("res %+v err %v", res, err)
		}
	})
	t.Run("fail-certificate-of-another-ek", func(t *testing.T) {
		if _, err := rootsA.VerifyEK(ekB, certA.Raw); err == nil {
			t.Fatal("EK certificate of another EK accepted")
		}
	})
}

func TestCredentialActivation(t *testing.T) {
	a, b := newGateway(t), newGateway(t)
	ekA, _ := a.tpm.EK()
	akA, _ := a.tpm.AttestationParameters()
	akB, _ := b.tpm.AttestationParameters()

	t.Run("ok-same-tpm", func(t *testing.T) {
		st, cred, err := attestca.NewChallenge(ekA, akA, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// The cloud keeps the state in its database between requests.
		raw, _ := json.Marshal(st)
		var kept attestca.ChallengeState
		if err := json.Unmarshal(raw, &kept); err != nil {
			t.Fatal(err)
		}
		secret, err := a.tpm.ActivateCredential(cred)
		if err != nil {
			t.Fatal(err)
		}
		if err := kept.Verify(secret, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := kept.Verify(secret, time.Now().Add(2*time.Minute)); !errors.Is(err, attestca.ErrChallengeExpired) {
			t.Fatalf("expired challenge: %v", err)
		}
	})
	t.Run("fail-answered-by-another-tpm", func(t *testing.T) {
		// EK of TPM A (with its good certificate), AK of TPM B.
		st, cred, err := attestca.NewChallenge(ekA, akB, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := b.tpm.ActivateCredential(cred)
		if err == nil {
			err = st.Verify(secret, time.Now())
		}
		if err == nil {
			t.Fatal("TPM B answered a challenge for TPM A's EK")
		}
	})
	t.Run("fail-wrong-secret", func(t *testing.T) {
		st, _, err := attestca.NewChallenge(ekA, akA, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Verify(make([]byte, 32), time.Now()); !errors.Is(err, attestca.ErrActivationFailed) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCAInitLoadAndAKCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "attest-ca")
	ca, err := attestca.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attestca.Init(dir); err == nil {
		t.Fatal("Init overwrote an existing CA")
	}
	st, _ := os.Stat(filepath.Join(dir, attestca.KeyFile))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode().Perm())
	}
	ca, err = attestca.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t)
	ek, _ := g.tpm.EK()
	ak, _ := g.tpm.AttestationParameters()
	chal, _, err := attestca.NewChallenge(ek, ak, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tpmInfo := attestca.TPMDetails{Manufacturer: "id:00001014", Model: "swtpm", Version: "id:20191023"}
	der, err := ca.IssueAKCert(attestca.AKCertRequest{Challenge: chal, GatewayID: "gw-7", TPM: tpmInfo})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := attestca.ParseAKCert(der)
	if err != nil {
		t.Fatal(err)
	}
	if cert.GatewayID != "gw-7" || cert.TPM != tpmInfo {
		t.Fatalf("parsed %+v", cert)
	}
	if cert.Cert.Subject.String() != "" || cert.Cert.IsCA || cert.Cert.Version != 3 {
		t.Fatalf("AK certificate shape: subject %q CA %v v%d", cert.Cert.Subject, cert.Cert.IsCA, cert.Cert.Version)
	}
	if err := cert.Cert.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssueAKCert(attestca.AKCertRequest{Challenge: chal, GatewayID: "gw-7"}); !errors.Is(err, attestca.ErrTPMDetails) {
		t.Fatalf("missing TPM details: %v", err)
	}
}

func TestEnrollFromEvidence(t *testing.T) {
	a, b := newGateway(t), newGateway(t)
	rootsA, err := attestca.LoadEKRoots(a.sw.CADir)
	if err != nil {
		t.Fatal(err)
	}
	evA, err := a.tpm.Evidence()
	if err != nil {
		t.Fatal(err)
	}
	evB, _ := b.tpm.Evidence()

	t.Run("ok-verified", func(t *testing.T) {
		en, err := rootsA.Enroll(evA, 0)
		if err != nil || !en.EK.Verified {
			t.Fatalf("%+v %v", en.EK, err)
		}
		if en.TPM != en.EK.TPM {
			t.Fatalf("AK certificate details %+v not from the verified EK certificate %+v", en.TPM, en.EK.TPM)
		}
		secret, err := a.tpm.ActivateCredential(en.Credential.Encrypted())
		if err != nil {
			t.Fatal(err)
		}
		if err := en.State.Verify(secret, time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unverified-unknown-root-goes-to-review", func(t *testing.T) {
		en, err := rootsA.Enroll(evB, 0)
		if err != nil || en.EK.Verified || en.EK.Reason == "" {
			t.Fatalf("%+v %v", en.EK, err)
		}
		if en.TPM != evB.TPM {
			t.Fatal("unverified EK: TPM details must be the agent's claim")
		}
	})
	t.Run("fail-ek-certificate-of-another-tpm", func(t *testing.T) {
		ev := evB
		ev.EKCertificate = evA.EKCertificate
		if _, err := rootsA.Enroll(ev, 0); err == nil {
			t.Fatal("accepted another TPM's EK certificate")
		}
	})
	t.Run("fail-replayed-activation-answer", func(t *testing.T) {
		// Evidence and an answer captured from one enrollment do not pass
		// another: every enrollment draws a new secret.
		first, _ := rootsA.Enroll(evA, 0)
		secret, err := a.tpm.ActivateCredential(first.Credential.Encrypted())
		if err != nil {
			t.Fatal(err)
		}
		replay, err := rootsA.Enroll(evA, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := replay.State.Verify(secret, time.Now()); !errors.Is(err, attestca.ErrActivationFailed) {
			t.Fatalf("replayed answer: %v", err)
		}
	})
	t.Run("fail-garbage-ak", func(t *testing.T) {
		ev := evA
		ev.AK.CreateSignature = []byte("short")
		if _, err := rootsA.Enroll(ev, 0); err == nil {
			t.Fatal("accepted malformed AK parameters")
		}
	})
	t.Run("gateway-bound-to-ek", func(t *testing.T) {
		fa, _ := a.tpm.EKFingerprint()
		fb, _ := b.tpm.EKFingerprint()
		en, _ := rootsA.Enroll(evA, 0)
		if fa != en.EK.Fingerprint || fa == fb {
			t.Fatalf("EK fingerprints %s %s, enrolled %s", fa, fb, en.EK.Fingerprint)
		}
	})
}
