package attestca_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pki/attestca"
)

// BenchmarkCloudSide is what the cloud computes per enrollment, without
// the gateway's TPM work: EK certificate check, credential activation
// challenge (MakeCredential), answer check, AK certificate.
func BenchmarkCloudSide(b *testing.B) {
	sw := newGatewayB(b)
	roots, err := attestca.LoadEKRoots(sw.sw.CADir)
	if err != nil {
		b.Fatal(err)
	}
	ca, err := attestca.Init(filepath.Join(b.TempDir(), "ca"))
	if err != nil {
		b.Fatal(err)
	}
	ek, ekCert := sw.tpm.EK()
	ak, _ := sw.tpm.AttestationParameters()
	res, _ := roots.VerifyEK(ek, ekCert.Raw)
	st, _, _ := attestca.NewChallenge(ek, ak, time.Minute)
	answer := make([]byte, 32)

	b.Run("verify-ek", func(b *testing.B) {
		for b.Loop() {
			if r, err := roots.VerifyEK(ek, ekCert.Raw); err != nil || !r.Verified {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("activation-challenge", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := attestca.NewChallenge(ek, ak, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("activation-check", func(b *testing.B) {
		for b.Loop() {
			_ = st.Verify(answer, time.Now())
		}
	})
	b.Run("ak-certificate", func(b *testing.B) {
		for b.Loop() {
			if _, err := ca.IssueAKCert(attestca.AKCertRequest{Challenge: st, GatewayID: "gw-bench", TPM: res.TPM}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("all", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r, _ := roots.VerifyEK(ek, ekCert.Raw)
				s, _, err := attestca.NewChallenge(ek, ak, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				_ = s.Verify(answer, time.Now())
				if _, err := ca.IssueAKCert(attestca.AKCertRequest{Challenge: s, GatewayID: "gw-bench", TPM: r.TPM}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enrollments/s")
	})
}
