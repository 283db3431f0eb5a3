package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/cloud/users"
)

// burst sends n logins at once, request i to envs[i%len(envs)] from ip(i)
// with password pw(i), and counts the answers by status.
func burst(t *testing.T, envs []*env, n int, ip func(int) string, email string, pw func(int) string) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := envs[i%len(envs)].loginFrom(ip(i), email, pw(i))
			if r.status == 429 || r.status == 503 {
				if r.header.Get("Retry-After") == "" {
					t.Errorf("%d without Retry-After", r.status)
				}
			}
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts
}

// patientHashing lets logins wait for an argon2id slot as long as a test
// needs, so that its counts do not depend on how fast this machine hashes.
func patientHashing(t *testing.T) {
	auth.SetHashMemoryBudget(auth.DefaultHashMemoryMiB, time.Minute)
	t.Cleanup(func() { auth.SetHashMemoryBudget(auth.DefaultHashMemoryMiB, auth.DefaultHashWait) })
}

// replicas starts n control planes over one database (SQLite: one
// process), as several replicas behind a load balancer would run.
func replicas(t *testing.T, dbURL string, n int) []*env {
	t.Helper()
	first := newEnv(t, dbURL, "", withTrustedProxy("127.0.0.1/32"))
	out := []*env{first}
	for len(out) < n && dbURL != "" {
		out = append(out, newEnv(t, dbURL, first.keyDir, withTrustedProxy("127.0.0.1/32")))
	}
	return out
}

// TestParallelWrongPasswordsPerIPGetNoMoreGuessesThanSequential: a burst
// of wrong passwords from one IP, spread over two replicas on PostgreSQL,
// gets the 6 checks that sequential attempts get (5 free, the 6th starts
// the back-off); the rest are answered 429 with Retry-After.
func TestParallelWrongPasswordsPerIPGetNoMoreGuessesThanSequential(t *testing.T) {
	patientHashing(t)
	databases(t, func(t *testing.T, dbURL string) {
		envs := replicas(t, dbURL, 2)
		const n = 60
		counts := burst(t, envs, n, func(int) string { return "203.0.113.77" }, adminEmail,
			func(i int) string { return fmt.Sprintf("wrong password %d", i) })
		if counts[401] != 6 || counts[429] != n-6 {
			t.Fatalf("answers %v, want 6 checked (401) and %d throttled (429)", counts, n-6)
		}
	})
}

// TestParallelWrongPasswordsPerAccountStopAtTheHourlyCap: a burst from
// many IPs (each within its own free failures) at one account, over two
// replicas, checks at most AccountFailureLimit passwords.
func TestParallelWrongPasswordsPerAccountStopAtTheHourlyCap(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 100 passwords")
	}
	patientHashing(t)
	databases(t, func(t *testing.T, dbURL string) {
		envs := replicas(t, dbURL, 2)
		n := users.AccountFailureLimit + 30
		counts := burst(t, envs, n, func(i int) string { return fmt.Sprintf("198.51.%d.%d", i/200, i%200+1) }, adminEmail,
			func(i int) string { return fmt.Sprintf("attacker guess %d", i) })
		if counts[401] != users.AccountFailureLimit || counts[429] != 30 {
			t.Fatalf("answers %v, want %d checked (401) and 30 throttled (429)", counts, users.AccountFailureLimit)
		}
	})
}

// TestSuccessfulLoginDoesNotUseUpAGuess: the attempt counted up front is
// given back when the password is right, so an owner who logs in often
// never runs into the back-off.
func TestSuccessfulLoginDoesNotUseUpAGuess(t *testing.T) {
	e := newEnv(t, "", "", withTrustedProxy("127.0.0.1/32"))
	const ip = "203.0.113.90"
	for i := 0; i < 20; i++ {
		wantStatus(t, e.loginFrom(ip, adminEmail, adminPassword), 200)
	}
	for i := 0; i < 6; i++ {
		wantStatus(t, e.loginFrom(ip, adminEmail, "wrong password "+fmt.Sprint(i)), 401)
	}
	retryAfter(t, e.loginFrom(ip, adminEmail, adminPassword))
}

// send is a raw request with repeated header lines (hdr: name, value, ...
// added, not set) and a raw body.
func (e *env) send(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// lastLoginFailureIP is the address the newest failed-login record names.
func (e *env) lastLoginFailureIP(t *testing.T) string {
	t.Helper()
	recs, err := audit.Query(store.NewAuditRepo(e.store.DB), audit.Filter{EventTypePrefix: "authentication.failure", Limit: 100})
	if err != nil || len(recs.Records) == 0 {
		t.Fatalf("no failure record: %v", err)
	}
	return recs.Records[0].IPAddress
}

// TestForwardedForEveryLineCountsRightmostUntrustedWins: behind a trusted
// proxy that adds its own X-Forwarded-For line, the client's own line
// cannot choose its address: all lines are one list, read from the right.
func TestForwardedForEveryLineCountsRightmostUntrustedWins(t *testing.T) {
	e := newEnv(t, "", "", withTrustedProxy("127.0.0.0/8"))
	login := `{"email":"nobody@example.com","password":"wrong password here"}`
	cases := []struct {
		name  string
		lines []string
		want  string
	}{
		{"ok-two-lines-client-forges-first", []string{"192.0.2.1", "203.0.113.5"}, "203.0.113.5"},
		{"ok-trusted-hops-skipped", []string{"192.0.2.1, 203.0.113.6", "127.0.0.2"}, "203.0.113.6"},
		{"ok-forged-loopback-then-real", []string{"127.0.0.1", "203.0.113.7"}, "203.0.113.7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			for _, l := range c.lines {
				hdr = append(hdr, "X-Forwarded-For", l)
			}
			wantStatus(t, e.send("POST", "/api/v1/auth/login", login, hdr...), 401)
			if got := e.lastLoginFailureIP(t); got != c.want {
				t.Fatalf("client IP %q, want %q", got, c.want)
			}
		})
	}
	for _, bad := range []string{"not-an-ip", "203.0.113.5, garbage", "203.0.113.5,,127.0.0.1", "unknown"} {
		t.Run("fail-unparseable-"+bad, func(t *testing.T) {
			wantError(t, e.send("POST", "/api/v1/auth/login", login, "X-Forwarded-For", bad), 400, "X-Forwarded-For")
		})
	}
}

// TestMetricsRefuseForgedLoopback: with a proxy on loopback trusted, a
// client that writes 127.0.0.1 (or garbage that used to fall back to the
// proxy's address) into X-Forwarded-For does not get the loopback-only
// /metrics; a direct loopback scrape does.
func TestMetricsRefuseForgedLoopback(t *testing.T) {
	e := newEnv(t, "", "", withTrustedProxy("127.0.0.1/32"))
	wantStatus(t, e.send("GET", "/metrics", ""), 200)
	for _, xff := range [][]string{{"127.0.0.1"}, {"::1"}, {"garbage"}, {"127.0.0.1", "127.0.0.1"}} {
		var hdr []string
		for _, l := range xff {
			hdr = append(hdr, "X-Forwarded-For", l)
		}
		if r := e.send("GET", "/metrics", "", hdr...); r.status != 403 && r.status != 400 {
			t.Errorf("X-Forwarded-For %q: %d, want 403 or 400", xff, r.status)
		}
	}
}

// TestDuplicateJSONKeysRefused: a key given twice, or twice in different
// case, is refused with 400 on every JSON body, before any handler runs;
// today the last one won and {"roles":["Viewer"],"roles":["Admin"]}
// created an Admin.
func TestDuplicateJSONKeysRefused(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	bodies := []struct{ name, path, body string }{
		{"fail-roles-twice", "/api/v1/users", `{"email":"dup1@example.com","password":"violet-harbor-quartz-17","roles":["Viewer"],"roles":["Admin"]}`},
		{"fail-roles-other-case", "/api/v1/users", `{"email":"dup2@example.com","password":"violet-harbor-quartz-17","roles":["Viewer"],"ROLES":["Admin"]}`},
		{"fail-nested-hardware-info", "/api/v1/gateways/enroll", `{"gateway_id":"gw-x","hardware_info":{"cpu":"a","CPU":"b"}}`},
		{"fail-login-email-twice", "/api/v1/auth/login", `{"email":"a@example.com","Email":"admin@example.com","password":"x"}`},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			wantError(t, e.send("POST", b.path, b.body, "Authorization", "Bearer "+admin), 400, "more than once")
		})
	}
	for _, email := range []string{"dup1@example.com", "dup2@example.com"} {
		wantStatus(t, e.do("GET", "/api/v1/users/"+email, admin, nil), 404)
	}
	// The walk that finds duplicates is bounded in depth.
	deep := `{"config":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`
	wantError(t, e.send("PUT", "/api/v1/gateways/gw-x/config", deep, "Authorization", "Bearer "+admin), 400, "nested too deeply")
	// Same names in different objects are fine.
	wantStatus(t, e.send("POST", "/api/v1/users", `{"email":"ok@example.com","password":"violet-harbor-quartz-17","roles":["Viewer"],"gateway_access":[]}`,
		"Authorization", "Bearer "+admin), 201)
}

// TestControlCharactersRefused: NUL, bidi overrides and other control or
// format characters are refused in ids, names, hostnames and every other
// text field, in bodies and in paths.
func TestControlCharactersRefused(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	for _, c := range []struct{ name, path, body string }{
		{"fail-nul-in-email", "/api/v1/users", `{"email":"eve\u0000@example.com","password":"violet-harbor-quartz-17","roles":["Viewer"]}`},
		{"fail-bidi-override-in-access", "/api/v1/users", `{"email":"eve@example.com","password":"violet-harbor-quartz-17","roles":["Viewer"],"gateway_access":["site-\u202eevil"]}`},
		{"fail-zero-width-in-site", "/api/v1/enrollment-tokens", `{"site":"plant\u200b1","max_uses":1,"expires_in":"1h"}`},
		{"fail-newline-in-hostname", "/api/v1/gateways/enroll", `{"gateway_id":"gw-1","hostname":"edge\nforged log line"}`},
		{"fail-bidi-in-gateway-id", "/api/v1/gateways/enroll", `{"gateway_id":"gw-\u202e1","hostname":"edge"}`},
		{"fail-escape-in-key", "/api/v1/auth/login", `{"email\u001b":"a@example.com"}`},
		{"fail-bidi-in-password", "/api/v1/auth/login", `{"email":"a@example.com","password":"pass\u2066word"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.send("POST", c.path, c.body, "Authorization", "Bearer "+admin), 400, "U+")
		})
	}
	for _, p := range []string{"/api/v1/gateways/gw-%E2%80%AE1", "/api/v1/users/a%00b@example.com", "/api/v1/gateways?status=%E2%80%AEx"} {
		t.Run("fail-path-"+p, func(t *testing.T) {
			wantStatus(t, e.send("GET", p, "", "Authorization", "Bearer "+admin), 400)
		})
	}
	// PEM text and error texts keep their line breaks.
	wantStatus(t, e.send("POST", "/api/v1/users", `{"email":"tab@example.com","password":"violet-harbor-quartz-17","roles":["Viewer"]}`,
		"Authorization", "Bearer "+admin), 201)
}

// TestLibraryErrorTextsNeverReachClients: a key the x509 parser rejects is
// answered with our own message; the parser's text stays in the log.
func TestLibraryErrorTextsNeverReachClients(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	tok := e.do("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"max_uses": 5, "expires_in": "1h"})
	wantStatus(t, tok, 201)
	garbage := "-----BEGIN PUBLIC KEY-----\\nMAoGCCqGSM49AwEHA0IABA==\\n-----END PUBLIC KEY-----\\n"
	r := e.send("POST", "/api/v1/gateways/enroll", fmt.Sprintf(
		`{"gateway_id":"gw-lib","enrollment_token":%q,"hostname":"edge","identity":{"kind":"key","public_key":"%s"},"nonce":%q,"proof":"AA=="}`,
		tok.body["token"], garbage, e.enrollNonce("gw-lib")))
	wantError(t, r, 400, "identity.public_key: must be a PEM PUBLIC KEY")
	for _, leak := range []string{"x509", "asn1", "asn.1", "tpm2", "attest"} {
		if strings.Contains(strings.ToLower(string(r.raw)), leak) {
			t.Errorf("answer leaks %q: %s", leak, r.raw)
		}
	}
}

func passwordHashes(t testing.TB, e *env) float64 {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "streamforge_password_hashes_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestUnknownEmailCostsWhatAKnownOneCosts: a login for an unknown or
// malformed email runs one full argon2id check through the same capped
// pool as a known one, so neither its time nor a busy answer tells which
// accounts exist. (BenchmarkLoginKnownVsUnknown gives the times.)
func TestUnknownEmailCostsWhatAKnownOneCosts(t *testing.T) {
	e := newEnv(t, "", "", withTrustedProxy("127.0.0.1/32"))
	for i, email := range []string{adminEmail, "nobody@example.com", "not an email"} {
		before := passwordHashes(t, e)
		wantStatus(t, e.loginFrom(fmt.Sprintf("203.0.113.%d", 100+i), email, "wrong password here"), 401)
		if got := passwordHashes(t, e) - before; got != 1 {
			t.Errorf("%q: %v argon2id runs, want 1", email, got)
		}
	}
}

// BenchmarkLoginKnownVsUnknown: the time of a failed login for a known
// account, an unknown one and a malformed email (each login in a fresh
// throttle window, so only the check is measured).
func BenchmarkLoginKnownVsUnknown(b *testing.B) {
	e := newEnv(b, "", "", withTrustedProxy("127.0.0.1/32"))
	clk := &clock{}
	e.users.Now = func() time.Time { clk.advance(users.ThrottleWindow); return clk.now() }
	for _, email := range []string{adminEmail, "nobody@example.com", "not an email"} {
		b.Run(strings.ReplaceAll(email, " ", "-"), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if r := e.loginFrom("203.0.113.9", email, "wrong password here"); r.status != 401 {
					b.Fatalf("%d %s", r.status, r.raw)
				}
			}
		})
	}
}

// TestRateLimitRetryAfterIsTheWindow: the per-IP request limit's 429 asks
// for the rest of its one-minute window, through the one renderer.
func TestRateLimitRetryAfterIsTheWindow(t *testing.T) {
	e := newEnv(t, "", "", func(o *api.Options, _ *api.Deps) { o.RateLimitPerMinute = 2 })
	for i := 0; i < 2; i++ {
		wantStatus(t, e.send("GET", "/healthz", ""), 200)
	}
	r := e.send("GET", "/healthz", "")
	if r.status != 429 || r.header.Get("Retry-After") != "60" {
		t.Fatalf("%d Retry-After %q, want 429 and 60", r.status, r.header.Get("Retry-After"))
	}
}

// TestIPv6ClientsThrottledPerSlash64: an IPv6 client holds a whole /64, so
// its addresses share one back-off.
func TestIPv6ClientsThrottledPerSlash64(t *testing.T) {
	e := newEnv(t, "", "", withTrustedProxy("127.0.0.1/32"))
	for i := 1; i <= 6; i++ {
		wantStatus(t, e.loginFrom(fmt.Sprintf("2001:db8:1:2::%x", i), adminEmail, "wrong password "+fmt.Sprint(i)), 401)
	}
	retryAfter(t, e.loginFrom("2001:db8:1:2:ffff::1", adminEmail, adminPassword))
	wantStatus(t, e.loginFrom("2001:db8:1:3::1", adminEmail, adminPassword), 200)
}
