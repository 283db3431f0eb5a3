package wire

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

func TestClaimCodeRoundTripAndChecks(t *testing.T) {
	code, err := NewClaimCode()
	if err != nil || len(code) != 13 || code[5] != '-' || code[11] != '-' {
		t.Fatalf("code %q (%v) is not XXXXX-XXXXX-C", code, err)
	}
	if again, _ := NewClaimCode(); again == code {
		t.Fatal("two draws gave the same code")
	}
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	typed = strings.NewReplacer("0", "o", "1", "l").Replace(typed)
	if got, err := NormalizeClaimCode(typed); err != nil || got != code {
		t.Fatalf("normalise %q: %q %v, want %q", typed, got, err, code)
	}
	plain := strings.ReplaceAll(code, "-", "")
	for i := 0; i < len(plain)-1; i++ {
		for _, c := range crockford {
			if byte(c) == plain[i] {
				continue
			}
			typo := plain[:i] + string(c) + plain[i+1:]
			if _, err := NormalizeClaimCode(typo); err == nil {
				t.Fatalf("single typo %q of %q passes the check", typo, plain)
			}
		}
		if i < codeChars-1 && plain[i] != plain[i+1] {
			swap := plain[:i] + string(plain[i+1]) + string(plain[i]) + plain[i+2:]
			if _, err := NormalizeClaimCode(swap); err == nil {
				t.Fatalf("swap %q of %q passes the check", swap, plain)
			}
		}
	}
	for _, bad := range []string{"", "ABC", plain + "0", "UUUUU-UUUUU-0"} {
		if _, err := NormalizeClaimCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProofSignVerifyEveryKeyType(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for name, s := range map[string]crypto.Signer{"ecdsa": ec, "rsa": rk, "ed25519": ed} {
		t.Run(name, func(t *testing.T) {
			pemKey, err := PublicKeyPEM(s.Public())
			if err != nil {
				t.Fatal(err)
			}
			pub, fp, err := ParsePublicKeyPEM(pemKey)
			if err != nil || len(fp) != 64 {
				t.Fatalf("parse: %v", err)
			}
			msg := TokenMessage("gw-1", "nonce-1")
			sig, err := Sign(s, msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(pub, msg, sig); err != nil {
				t.Fatalf("own signature refused: %v", err)
			}
			if err := Verify(pub, TokenMessage("gw-2", "nonce-1"), sig); err == nil {
				t.Fatal("signature for gw-1 accepted for gw-2")
			}
		})
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p, _ := PublicKeyPEM(small.Public())
	if _, _, err := ParsePublicKeyPEM(p); err == nil {
		t.Fatal("1024-bit RSA accepted")
	}
}

// TestEnrollProofCoversEveryField: changing any field of a signed
// enrollment request, or moving bytes from one field to the next, breaks
// its proof.
func TestEnrollProofCoversEveryField(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := PublicKeyPEM(key.Public())
	base := func() EnrollRequest {
		return EnrollRequest{GatewayID: "gw-1", EnrollmentToken: "sfe_x", Hostname: "edge", Nonce: "n1",
			HardwareInfo: map[string]string{"model": "A", "serial": "7"},
			Identity: Identity{Kind: "tpm", PublicKey: pub, Evidence: []byte(`{"ek": "AA"}`),
				Certification: &KeyCertification{Public: []byte{1}, CreateData: []byte{2}, CreateAttestation: []byte{3}, CreateSignature: []byte{4}}}}
	}
	signed := base()
	if err := SignEnroll(key, &signed); err != nil {
		t.Fatal(err)
	}
	check := func(r EnrollRequest) error {
		msg, err := EnrollMessage(&r)
		if err != nil {
			return err
		}
		return Verify(key.Public(), msg, signed.Proof)
	}
	if err := check(signed); err != nil {
		t.Fatalf("own request: %v", err)
	}
	for name, change := range map[string]func(*EnrollRequest){
		"gateway_id":         func(r *EnrollRequest) { r.GatewayID = "gw-2" },
		"enrollment_token":   func(r *EnrollRequest) { r.EnrollmentToken = "sfe_y" },
		"hostname":           func(r *EnrollRequest) { r.Hostname = "evil" },
		"nonce":              func(r *EnrollRequest) { r.Nonce = "n2" },
		"hardware_info":      func(r *EnrollRequest) { r.HardwareInfo["model"] = "B" },
		"hardware_info-key":  func(r *EnrollRequest) { r.HardwareInfo = map[string]string{"model": "A", "serial7": ""} },
		"hostname-shift":     func(r *EnrollRequest) { r.Nonce, r.Hostname = "n1e", "dge" },
		"identity.kind":      func(r *EnrollRequest) { r.Identity.Kind = "key" },
		"identity.evidence":  func(r *EnrollRequest) { r.Identity.Evidence = []byte(`{"ek":"AB"}`) },
		"certification":      func(r *EnrollRequest) { r.Identity.Certification.CreateData = []byte{9} },
		"certification-gone": func(r *EnrollRequest) { r.Identity.Certification = nil },
	} {
		r := base()
		r.Identity.Evidence = signed.Identity.Evidence
		change(&r)
		if err := check(r); err == nil {
			t.Errorf("%s changed, proof still verifies", name)
		}
	}
}
