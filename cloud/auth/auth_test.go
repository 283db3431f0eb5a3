package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not use OWASP argon2id parameters", h)
	}
	if ok, err := VerifyPassword(context.Background(), h, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := VerifyPassword(context.Background(), h, "correct horse battery stapl3"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := HashPassword(context.Background(), "correct horse battery staple")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
}

// TestPasswordPolicy: length rules, the email, and zxcvbn strength: common
// and breached-style passwords are refused, passphrases pass. Long inputs
// stay fast (zxcvbn sees a prefix).
func TestPasswordPolicy(t *testing.T) {
	const email = "alice.smith@example.com"
	strong := "violet-harbor-quartz-17"
	cases := []struct {
		name string
		pw   string
		want error
	}{
		{"ok-passphrase", "correct horse battery staple", nil},
		{"ok-12-chars", "vH7#qLp2!xZr", nil},
		{"ok-multibyte", "grüße-aus-köln-überall-7", nil},
		{"ok-1024-chars", strings.Repeat(strong, 50)[:1024], nil},
		{"fail-11-chars", "vH7#qLp2!xZ", ErrWeakPassword},
		{"fail-1025-chars", strings.Repeat(strong, 50)[:1025], ErrWeakPassword},
		{"fail-invalid-utf8", "\xff\xfe" + strong, ErrWeakPassword},
		{"fail-repeat", strings.Repeat("a", 12), ErrGuessablePassword},
		{"fail-common-with-digits", "Password123!", ErrGuessablePassword},
		{"fail-keyboard-walk", "qwertyuiop123", ErrGuessablePassword},
		{"fail-word-and-year", "iloveyou2024!", ErrGuessablePassword},
		{"fail-season-twice", "summer2024summer", ErrGuessablePassword},
		{"fail-contains-email", "x" + email + "!Zq9", ErrPasswordHasEmail},
		{"fail-contains-email-other-case", "ALICE.SMITH@EXAMPLE.COM-7q", ErrPasswordHasEmail},
		{"fail-contains-name-part", "my-alice.smith-Quartz-9", ErrPasswordHasEmail},
		{"fail-email-words-only", "Smith-example-Alice-2", ErrGuessablePassword},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckPasswordPolicy(c.pw, email); !errors.Is(err, c.want) && !(err == nil && c.want == nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func testClaims(sub string) *Claims {
	now := time.Now()
	return &Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: sub, Issuer: Issuer, Audience: jwt.ClaimStrings{AudienceUser}, ID: NewJTI(),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}
}

// TestKeyRotationKeepsOldTokensValid: after a rotation new tokens carry the
// new kid, old ones still verify, and a second process sharing the key
// directory verifies tokens signed with a kid it has not loaded yet.
func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := a.Sign(testClaims("u@example.com"))
	kid, err := a.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := a.Sign(testClaims("u@example.com"))
	if !strings.Contains(fresh, ".") || a.active != kid {
		t.Fatalf("active kid %s, want %s", a.active, kid)
	}
	for name, ring := range map[string]*KeyRing{"rotating": a, "other-process": b} {
		for which, tok := range map[string]string{"old": old, "fresh": fresh} {
			time.Sleep(keyReloadGap) // let the other process's reload guard pass
			if _, err := ring.Parse(tok, AudienceUser); err != nil {
				t.Errorf("%s process refused %s token: %v", name, which, err)
			}
		}
	}
	if _, err := a.Parse(fresh, "streamforge-gateway"); err == nil {
		t.Error("token accepted for another audience")
	}
}

// TestVerifiedCacheKeepsChecks: a token parsed once is served from the
// cache, but expiry is checked again and a retired key's tokens stop
// working.
func TestVerifiedCacheKeepsChecks(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := testClaims("u@example.com")
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-clockLeeway + 1500*time.Millisecond)) // valid for 1.5 s more, counting the leeway
	tok, _ := k.Sign(c)
	for i := 0; i < 2; i++ {
		if _, err := k.Parse(tok, AudienceUser); err != nil {
			t.Fatalf("parse %d: %v", i, err)
		}
	}
	if _, err := k.Parse(tok, "streamforge-gateway"); err == nil {
		t.Fatal("cached token accepted for another audience")
	}
	time.Sleep(1600 * time.Millisecond)
	if _, err := k.Parse(tok, AudienceUser); err == nil {
		t.Fatal("expired token served from the cache")
	}
	live, _ := k.Sign(testClaims("u@example.com"))
	if _, err := k.Parse(live, AudienceUser); err != nil {
		t.Fatal(err)
	}
	old := k.active
	time.Sleep(time.Millisecond)
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, old+".pem")); err != nil {
		t.Fatal(err)
	}
	k.reloadEvery = 10 * time.Millisecond
	time.Sleep(20 * time.Millisecond)
	if _, err := k.Parse(live, AudienceUser); err == nil {
		t.Fatal("token of a retired key served from the cache")
	}
}
