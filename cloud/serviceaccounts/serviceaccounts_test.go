package serviceaccounts_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/serviceaccounts"
	"github.com/streamforge/streamforge/cloud/store"
)

// TestTokenRefusals: every way a service account token can be bad is a
// row, each refused with auth.ErrInvalidToken; a good one gives the
// account's roles and permissions, expiring with the token.
func TestTokenRefusals(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := serviceaccounts.New(st.ServiceAccounts())
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	svc.Now = func() time.Time { return now }
	o := serviceaccounts.Origin{Actor: "admin@example.com"}
	if _, err := svc.Create(ctx, o, serviceaccounts.CreateInput{Name: "copilot", Roles: []string{"Copilot"}}); err != nil {
		t.Fatal(err)
	}
	issue := func(name string, life time.Duration) serviceaccounts.IssuedToken {
		tok, err := svc.IssueToken(ctx, o, name, life)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good, short, revoked := issue("copilot", 0), issue("copilot", time.Hour), issue("copilot", time.Hour)
	if err := svc.RevokeToken(ctx, o, "copilot", revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, o, serviceaccounts.CreateInput{Name: "gone", Roles: []string{"Viewer"}}); err != nil {
		t.Fatal(err)
	}
	deleted := issue("gone", 0)
	if err := svc.Delete(ctx, o, "gone"); err != nil {
		t.Fatal(err)
	}
	prefix, secret, _ := strings.Cut(strings.TrimPrefix(good.Token, serviceaccounts.TokenPrefix), ".")
	flipped := []byte(secret) // another valid secret of the same length
	if flipped[0] = 'A'; secret[0] == 'A' {
		flipped[0] = 'B'
	}
	for _, c := range []struct {
		name, token string
		at          time.Time
	}{
		{"fail-expired", short.Token, now.Add(time.Hour)},
		{"fail-revoked", revoked.Token, now},
		{"fail-account-deleted", deleted.Token, now},
		{"fail-wrong-secret", serviceaccounts.TokenPrefix + prefix + "." + string(flipped), now},
		{"fail-unknown-prefix", serviceaccounts.TokenPrefix + "0000000000000000." + secret, now},
		{"fail-no-secret", serviceaccounts.TokenPrefix + prefix, now},
		{"fail-short-secret", serviceaccounts.TokenPrefix + prefix + ".AAAA", now},
		{"fail-not-base64", serviceaccounts.TokenPrefix + prefix + "." + strings.Repeat("*", 43), now},
	} {
		t.Run(c.name, func(t *testing.T) {
			svc.Now = func() time.Time { return c.at }
			if _, err := svc.Authenticate(ctx, c.token); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("got %v, want ErrInvalidToken", err)
			}
		})
	}
	t.Run("ok", func(t *testing.T) {
		svc.Now = func() time.Time { return now.Add(29 * 24 * time.Hour) }
		cl, err := svc.Authenticate(ctx, good.Token)
		if err != nil {
			t.Fatal(err)
		}
		if cl.Subject != "sa:copilot" || !cl.ExpiresAt.Time.Equal(now.Add(serviceaccounts.DefaultTokenLifetime)) ||
			strings.Join(cl.Permissions, ",") != "configs:read,dashboards:read,gateways:read,pipelines:read,suggestions:create" {
			t.Fatalf("claims: %+v", cl)
		}
	})
}
