package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/rbac"
)

// claimsOf decodes a token's payload without verifying it.
func claimsOf(t *testing.T, tok string) *auth.Claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	c := &auth.Claims{}
	if err := json.Unmarshal(data, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func activeKid(t *testing.T, tok string) string {
	t.Helper()
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var hdr map[string]any
	_ = json.Unmarshal(h, &hdr)
	return hdr["kid"].(string)
}

func signWith(t *testing.T, method jwt.SigningMethod, key any, kid string, c *auth.Claims) string {
	t.Helper()
	tk := jwt.NewWithClaims(method, c)
	tk.Header["kid"] = kid
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWTAttacksAreRefused: every way a token can be bad is a row, and
// every row is answered 401 on an authenticated route.
func TestJWTAttacksAreRefused(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		good := e.user("victim@example.com", []string{rbac.Viewer})
		base := claimsOf(t, good)
		kid := activeKid(t, good)
		pub, _ := e.keys.PublicKey(kid)
		// mutated re-signs the victim's own (live) session claims with the
		// real key after fn changes them, so only the changed claim is wrong.
		mutated := func(fn func(c *auth.Claims)) func(t *testing.T) string {
			return func(t *testing.T) string {
				c := *base
				fn(&c)
				tok, err := e.keys.Sign(&c)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
		}
		cases := []struct {
			name  string
			token func(t *testing.T) string
		}{
			{"fail-alg-none", func(t *testing.T) string {
				return signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, base)
			}},
			{"fail-hs256-signed-with-public-key", func(t *testing.T) string {
				return signWith(t, jwt.SigningMethodHS256, []byte(pub), kid, base)
			}},
			{"fail-hs256-wrong-key", func(t *testing.T) string {
				return signWith(t, jwt.SigningMethodHS256, []byte("not-the-key-at-all-0123456789abcdef"), kid, base)
			}},
			{"fail-eddsa-wrong-key", func(t *testing.T) string {
				_, other, _ := ed25519.GenerateKey(rand.Reader)
				return signWith(t, jwt.SigningMethodEdDSA, other, kid, base)
			}},
			{"fail-unknown-kid", func(t *testing.T) string {
				_, other, _ := ed25519.GenerateKey(rand.Reader)
				return signWith(t, jwt.SigningMethodEdDSA, other, "20990101T000000Z-ffffffff", base)
			}},
			{"fail-expired", mutated(func(c *auth.Claims) {
				c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-48 * time.Hour))
				c.NotBefore = c.IssuedAt
				c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-24 * time.Hour))
			})},
			{"fail-no-exp", mutated(func(c *auth.Claims) { c.ExpiresAt = nil })},
			{"fail-nbf-in-future", mutated(func(c *auth.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) })},
			{"fail-iat-in-future", mutated(func(c *auth.Claims) { c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) })},
			{"fail-wrong-iss", mutated(func(c *auth.Claims) { c.Issuer = "evil-api" })},
			{"fail-wrong-aud", mutated(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"streamforge-gateway"} })},
			{"fail-unknown-jti", mutated(func(c *auth.Claims) { c.ID = auth.NewJTI() })},
			{"fail-sub-swapped", mutated(func(c *auth.Claims) { c.Subject = adminEmail })},
			{"fail-tampered-claims", func(t *testing.T) string {
				parts := strings.Split(good, ".")
				c := *base
				c.Roles = []string{rbac.Admin}
				payload, _ := json.Marshal(&c)
				return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
			}},
			{"fail-garbage", func(t *testing.T) string { return "not.a.jwt" }},
			{"fail-revoked-by-logout", func(t *testing.T) string {
				tok := e.login("victim@example.com", passwordOf("victim@example.com"))
				wantStatus(t, e.do("POST", "/api/v1/auth/logout", tok, nil), 204)
				return tok
			}},
			{"fail-user-disabled", func(t *testing.T) string {
				tok := e.user("disabled@example.com", []string{rbac.Viewer})
				admin := e.login(adminEmail, adminPassword)
				wantStatus(t, e.do("POST", "/api/v1/users/disabled@example.com/disable", admin, nil), 200)
				return tok
			}},
			{"fail-roles-changed-since-issue", func(t *testing.T) string {
				tok := e.user("demoted@example.com", []string{rbac.Engineer})
				admin := e.login(adminEmail, adminPassword)
				wantStatus(t, e.do("PATCH", "/api/v1/users/demoted@example.com", admin, map[string]any{"roles": []string{rbac.Viewer}}), 200)
				return tok
			}},
			{"fail-gateway-access-changed-since-issue", func(t *testing.T) string {
				tok := e.user("moved@example.com", []string{rbac.Viewer}, "site-a")
				admin := e.login(adminEmail, adminPassword)
				wantStatus(t, e.do("PATCH", "/api/v1/users/moved@example.com", admin, map[string]any{"gateway_access": []string{"site-b"}}), 200)
				return tok
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, e.do("GET", "/api/v1/auth/me", c.token(t), nil), 401, "invalid or expired token")
			})
		}
		t.Run("ok", func(t *testing.T) {
			r := e.do("GET", "/api/v1/auth/me", good, nil)
			wantStatus(t, r, 200)
			if r.body["email"] != "victim@example.com" {
				t.Fatalf("me: %s", r.raw)
			}
		})
	})
}
