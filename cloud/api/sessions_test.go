package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/users"
)

func TestLoginRefreshLogout(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "Admin@Example.com ", "password": adminPassword})
		wantStatus(t, r, 200)
		tok := r.body["token"].(string)
		exp, err := time.Parse(time.RFC3339, r.body["expires_at"].(string))
		if err != nil || exp.Sub(time.Now()) < 23*time.Hour || exp.Sub(time.Now()) > 24*time.Hour+time.Minute {
			t.Fatalf("expires_at %v (%v), want 24 h from now", r.body["expires_at"], err)
		}
		c := claimsOf(t, tok)
		if c.Issuer != "streamforge-api" || c.Subject != adminEmail || c.ID == "" || len(c.Audience) != 1 ||
			!strings.Contains(strings.Join(c.Permissions, ","), "users:manage") || c.GatewayAccess[0] != "*" {
			t.Fatalf("claims: %+v", c)
		}
		r = e.do("POST", "/api/v1/auth/refresh", tok, nil)
		wantStatus(t, r, 200)
		tok2 := r.body["token"].(string)
		wantStatus(t, e.do("GET", "/api/v1/auth/me", tok, nil), 401) // rotated out
		wantStatus(t, e.do("GET", "/api/v1/auth/me", tok2, nil), 200)
		wantStatus(t, e.do("POST", "/api/v1/auth/logout", tok2, nil), 204)
		wantStatus(t, e.do("GET", "/api/v1/auth/me", tok2, nil), 401)
	})
}

func TestLoginRejectsBadInput(t *testing.T) {
	e := newEnv(t, "", "")
	cases := []struct {
		name, body, ctype string
		status            int
		msg               string
	}{
		{"fail-wrong-password", `{"email":"admin@example.com","password":"wrong password!!"}`, "application/json", 401, "invalid email or password"},
		{"fail-unknown-user", `{"email":"nobody@example.com","password":"whatever-password"}`, "application/json", 401, "invalid email or password"},
		{"fail-form-post", `email=admin@example.com&password=x`, "application/x-www-form-urlencoded", 415, "application/json"},
		{"fail-malformed-json", `{"email":`, "application/json", 400, "invalid JSON"},
		{"fail-unknown-field", `{"email":"a@b.c","password":"x","admin":true}`, "application/json", 400, "unknown field"},
		{"fail-missing-password", `{"email":"admin@example.com"}`, "application/json", 400, "required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/api/v1/auth/login", "", c.body, "Content-Type", c.ctype), c.status, c.msg)
		})
	}
}

// TestBodyLimit: a body over the limit is refused from its Content-Length,
// before it is read, with a JSON error.
func TestBodyLimit(t *testing.T) {
	e := newEnv(t, "", "")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", 2<<20)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 413 || !strings.Contains(string(body), `"error":"request entity too large"`) {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
}

// TestBrowserCookieNeedsCSRF: the token also arrives in a __Host- cookie
// (HttpOnly, Secure, SameSite=Strict); a state-changing request that
// authenticates by that cookie must carry the session's CSRF token.
func TestBrowserCookieNeedsCSRF(t *testing.T) {
	e := newEnv(t, "", "")
	r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword})
	wantStatus(t, r, 200)
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == api.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || session.Domain != "" {
		t.Fatalf("session cookie %+v, want __Host- HttpOnly Secure SameSite=Strict Path=/", session)
	}
	csrf := r.body["csrf_token"].(string)
	cookie := api.SessionCookie + "=" + session.Value
	wantStatus(t, e.do("GET", "/api/v1/auth/me", "", nil, "Cookie", cookie), 200)
	body := map[string]any{"email": "csrf@example.com", "password": "violet-harbor-quartz-17", "roles": []string{"Viewer"}}
	wantError(t, e.do("POST", "/api/v1/users", "", body, "Cookie", cookie), 403, "CSRF")
	wantError(t, e.do("POST", "/api/v1/users", "", body, "Cookie", cookie, api.CSRFHeader, "forged"), 403, "CSRF")
	wantStatus(t, e.do("POST", "/api/v1/users", "", body, "Cookie", cookie, api.CSRFHeader, csrf), 201)
	wantStatus(t, e.do("POST", "/api/v1/auth/logout", "", nil, "Cookie", cookie, api.CSRFHeader, csrf), 204)
	wantStatus(t, e.do("GET", "/api/v1/auth/me", "", nil, "Cookie", cookie), 401)
}

func TestSecurityHeadersAndErrors(t *testing.T) {
	e := newEnv(t, "", "")
	r := e.do("GET", "/healthz", "", nil)
	wantStatus(t, r, 200)
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "", "Content-Security-Policy": "frame-ancestors 'none'",
		"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	} {
		if got := r.header.Get(h); got == "" || !strings.Contains(got, want) {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	wantError(t, e.do("GET", "/api/v1/nope", "", nil), 404, "no such route")
	wantError(t, e.do("GET", "/api/v1/users", "", nil, "Authorization", "Basic abc"), 401, "Bearer")
	wantStatus(t, e.do("GET", "/readyz", "", nil), 200)
	token := e.login(adminEmail, adminPassword)
	wantError(t, e.do("PATCH", "/api/v1/users/admin@example.com", token, map[string]any{"roles": []string{"Root"}}), 400, "unknown role")
	wantError(t, e.do("PATCH", "/api/v1/users/admin@example.com", token, map[string]any{"roles": []string{"Viewer"}}), 409, "no enabled Admin")
	wantError(t, e.do("POST", "/api/v1/users/admin@example.com/disable", token, nil), 409, "your own account")
	wantError(t, e.do("POST", "/api/v1/users", token, map[string]any{"email": "x@example.com", "password": "short", "roles": []string{"Viewer"}}), 400, "password")
	wantError(t, e.do("POST", "/api/v1/users", token, map[string]any{"email": "not-an-email", "password": "violet-harbor-quartz-17", "roles": []string{"Viewer"}}), 400, "email")
	wantError(t, e.do("GET", "/api/v1/users/ghost@example.com", token, nil), 404, "not found")
	wantError(t, e.do("POST", "/api/v1/users", token, map[string]any{"email": "admin@example.com", "password": "violet-harbor-quartz-17", "roles": []string{"Viewer"}}), 409, "exists")
	long := strings.Repeat("é", 70)
	wantStatus(t, e.do("POST", "/api/v1/users", token, map[string]any{"email": "long@example.com", "password": long, "roles": []string{rbac.Viewer}}), 201)
	e.login("long@example.com", long)
}

// TestCookieSessionsKeepTheTokenOutOfScriptsReach: a refresh or password
// change that authenticated by the session cookie answers the new session
// in the cookie only, not in the body, where any script in the page could
// read it (and a script injected into the page could mint fresh 24 h
// tokens and carry them off). A Bearer client still gets the token.
func TestCookieSessionsKeepTheTokenOutOfScriptsReach(t *testing.T) {
	e := newEnv(t, "", "")
	const email = "erin@example.com"
	e.user(email, []string{"Viewer"})
	r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": passwordOf(email)})
	wantStatus(t, r, 200)
	cookieOf := func(r resp) string {
		t.Helper()
		for _, ck := range (&http.Response{Header: r.header}).Cookies() {
			if ck.Name == api.SessionCookie && ck.Value != "" {
				return api.SessionCookie + "=" + ck.Value
			}
		}
		t.Fatalf("no session cookie in %v", r.header)
		return ""
	}
	cookie, csrf := cookieOf(r), r.body["csrf_token"].(string)
	for _, c := range []struct {
		name, path string
		body       any
	}{
		{"refresh", "/api/v1/auth/refresh", nil},
		{"password-change", "/api/v1/auth/password", map[string]string{"current_password": passwordOf(email), "new_password": "violet-harbor-quartz-17"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", c.path, "", c.body, "Cookie", cookie, api.CSRFHeader, csrf)
			wantStatus(t, r, 200)
			if _, ok := r.body["token"]; ok {
				t.Fatalf("a cookie session's %s answered the token in the body: %s", c.name, r.raw)
			}
			cookie, csrf = cookieOf(r), r.body["csrf_token"].(string)
			wantStatus(t, e.do("GET", "/api/v1/auth/me", "", nil, "Cookie", cookie), 200)
		})
	}
	bearer := e.login(email, "violet-harbor-quartz-17")
	r = e.do("POST", "/api/v1/auth/refresh", bearer, nil)
	wantStatus(t, r, 200)
	if tok, _ := r.body["token"].(string); tok == "" {
		t.Fatalf("a Bearer refresh must answer the token: %s", r.raw)
	}
}

// TestReusedRefreshedTokenEndsEverySession: a refresh replaces the
// session; its old token used again within users.RefreshGrace is merely
// refused (a request already on its way), but used later it was copied:
// whoever refreshed first, the other holds the old token, so every session
// of the account ends (the thief's included) and auth.token_reuse is
// audited. A logged-out token coming back is only refused.
func TestReusedRefreshedTokenEndsEverySession(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		const email = "frank@example.com"
		stolen := e.user(email, []string{"Viewer"})
		other := e.login(email, passwordOf(email))
		loggedOut := e.login(email, passwordOf(email))
		wantStatus(t, e.do("POST", "/api/v1/auth/logout", loggedOut, nil), 204)
		r := e.do("POST", "/api/v1/auth/refresh", stolen, nil)
		wantStatus(t, r, 200)
		fresh := r.body["token"].(string)

		wantStatus(t, e.do("GET", "/api/v1/auth/me", stolen, nil), 401) // within the grace
		wantStatus(t, e.do("GET", "/api/v1/auth/me", loggedOut, nil), 401)
		for _, tok := range []string{fresh, other} {
			wantStatus(t, e.do("GET", "/api/v1/auth/me", tok, nil), 200)
		}
		admin := e.login(adminEmail, adminPassword)
		if recs := e.records(admin, "event_type=auth.token_reuse"); len(recs) != 0 {
			t.Fatalf("reuse within the grace: %v", recs)
		}

		e.users.Now = func() time.Time { return time.Now().Add(users.RefreshGrace + time.Second) }
		wantStatus(t, e.do("POST", "/api/v1/auth/refresh", stolen, nil), 401)
		for _, tok := range []string{fresh, other} {
			wantStatus(t, e.do("GET", "/api/v1/auth/me", tok, nil), 401)
		}
		wantStatus(t, e.do("GET", "/api/v1/auth/me", stolen, nil), 401) // again: refused, aggregated
		recs := e.records(admin, "event_type=auth.token_reuse")
		if len(recs) != 1 || recs[0]["user"] != email || recs[0]["result"] != "denied" {
			t.Fatalf("reuse records: %v", recs)
		}
		wantStatus(t, e.do("GET", "/api/v1/auth/me", admin, nil), 200) // nobody else's session ends
		e.users.Now = time.Now
		wantStatus(t, e.do("GET", "/api/v1/auth/me", e.login(email, passwordOf(email)), nil), 200) // the owner logs in again
	})
}
