package api_test

import (
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// TestPasswordPolicyOnCreateAndUpdate: common and breached-style passwords
// and passwords holding the email are refused with 400 naming the field.
func TestPasswordPolicyOnCreateAndUpdate(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	for _, c := range []struct{ name, pw, msg string }{
		{"fail-common", "Password123!", "is too easy to guess"},
		{"fail-keyboard", "qwertyuiop123", "is too easy to guess"},
		{"fail-contains-email", "my bob@example.com pass", "must not contain the account's email"},
		{"fail-contains-name-part", "bob-Quartz-lantern-9", "must not contain the account's email"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/users", admin, map[string]any{"email": "bob@example.com", "password": c.pw, "roles": []string{rbac.Viewer}})
			wantError(t, r, 400, "password: password "+c.msg)
		})
	}
	e.user("carol@example.com", []string{rbac.Viewer})
	wantError(t, e.do("PATCH", "/api/v1/users/carol@example.com", admin, map[string]any{"password": "iloveyou2024!"}), 400, "too easy to guess")
}

// TestUserChangesOwnPassword: with the current password a user sets a new
// one (policy applies); their other sessions end, the answer is a new
// session, and the change is audited without the password. A wrong current
// password is refused, audited and throttled like a failed login.
func TestUserChangesOwnPassword(t *testing.T) {
	e := newEnv(t, "", "", withTrustedProxy("127.0.0.1/32"))
	const email = "dave@example.com"
	tok := e.user(email, []string{rbac.Viewer})
	other := e.login(email, passwordOf(email))
	change := func(tok, current, next string) resp {
		return e.do("POST", "/api/v1/auth/password", tok, map[string]string{"current_password": current, "new_password": next})
	}
	wantError(t, change(tok, passwordOf(email), "Password123!"), 400, "new_password: password is too easy to guess")
	wantError(t, change(tok, passwordOf(email), "dave-Quartz-lantern-9"), 400, "must not contain")
	wantError(t, change(tok, "not my password", "violet-harbor-quartz-17"), 403, "current password is wrong")

	const next = "violet-harbor-quartz-17"
	r := change(tok, passwordOf(email), next)
	wantStatus(t, r, 200)
	fresh, _ := r.body["token"].(string)
	wantStatus(t, e.do("GET", "/api/v1/auth/me", fresh, nil), 200)
	wantStatus(t, e.do("GET", "/api/v1/auth/me", tok, nil), 401)
	wantStatus(t, e.do("GET", "/api/v1/auth/me", other, nil), 401)
	wantStatus(t, e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": passwordOf(email)}), 401)
	e.login(email, next)

	page, err := audit.Query(store.NewAuditRepo(e.store.DB), audit.Filter{EventTypePrefix: "user.password_change", Limit: 10})
	if err != nil || len(page.Records) != 1 || page.Records[0].User != email {
		t.Fatalf("password change records: %+v %v", page.Records, err)
	}
	raw := e.do("GET", "/api/v1/audit?event_type=user.password_change", e.login(adminEmail, adminPassword), nil).raw
	if strings.Contains(string(raw), next) || strings.Contains(string(raw), passwordOf(email)) {
		t.Fatal("the audit trail holds a password")
	}
	wrong, err := audit.Query(store.NewAuditRepo(e.store.DB), audit.Filter{EventTypePrefix: "authentication.failure", User: email, Limit: 10})
	if err != nil || len(wrong.Records) != 2 || wrong.Records[1].Reason != "wrong_current_password" {
		t.Fatalf("want the wrong current password and the old password's login refused: %+v %v", wrong.Records, err)
	}
	// Guessing through the change endpoint hits the login back-off: with the
	// two failures above, four more are checked, then 429.
	for i := 0; i < 4; i++ {
		wantStatus(t, change(fresh, "guess "+strings.Repeat("x", i), "violet-harbor-quartz-18"), 403)
	}
	retryAfter(t, change(fresh, "one guess too many", "violet-harbor-quartz-18"))
}
