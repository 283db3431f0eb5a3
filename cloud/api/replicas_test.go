package api_test

import (
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestRevocationAcrossReplicas: two control planes with their own
// connection pools over one PostgreSQL; what one revokes, the other
// refuses at once.
func TestRevocationAcrossReplicas(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	a := newEnv(t, dbURL, "")
	b := newEnv(t, dbURL, a.keyDir)

	tok := a.user("roamer@example.com", []string{rbac.Engineer})
	wantStatus(t, b.do("GET", "/api/v1/auth/me", tok, nil), 200)
	wantStatus(t, b.do("POST", "/api/v1/auth/logout", tok, nil), 204)
	wantStatus(t, a.do("GET", "/api/v1/auth/me", tok, nil), 401)

	tok = a.login("roamer@example.com", passwordOf("roamer@example.com"))
	adminB := b.login(adminEmail, adminPassword)
	wantStatus(t, b.do("PATCH", "/api/v1/users/roamer@example.com", adminB, map[string]any{"roles": []string{rbac.Viewer}}), 200)
	wantStatus(t, a.do("GET", "/api/v1/auth/me", tok, nil), 401)

	tok = a.login("roamer@example.com", passwordOf("roamer@example.com"))
	wantStatus(t, b.do("POST", "/api/v1/users/roamer@example.com/disable", adminB, nil), 200)
	wantStatus(t, a.do("GET", "/api/v1/auth/me", tok, nil), 401)
	wantStatus(t, a.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "roamer@example.com", "password": passwordOf("roamer@example.com")}), 401)
}
