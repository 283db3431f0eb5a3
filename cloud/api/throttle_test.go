package api_test

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/users"
)

// clock lets a test move the users service's time forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().UTC().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func (e *env) loginFrom(ip, email, password string) resp {
	e.t.Helper()
	return e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, "X-Forwarded-For", ip)
}

func retryAfter(t *testing.T, r resp) int {
	t.Helper()
	wantStatus(t, r, 429)
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	return n
}

// TestLoginBackoffGrowsPerIP: after a few free failures each further one
// doubles the wait, answered 429 with Retry-After, even for the right password.
func TestLoginBackoffGrowsPerIP(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "", withTrustedProxy("127.0.0.1/32"))
		clk := &clock{}
		e.users.Now = clk.now
		const ip = "203.0.113.7"
		for i := 0; i < 6; i++ {
			wantStatus(t, e.loginFrom(ip, adminEmail, "wrong password "+fmt.Sprint(i)), 401)
		}
		prev := 0
		for round := 0; round < 4; round++ {
			wait := retryAfter(t, e.loginFrom(ip, adminEmail, adminPassword))
			if wait <= prev {
				t.Fatalf("round %d: Retry-After %d did not grow past %d", round, wait, prev)
			}
			prev = wait
			clk.advance(time.Duration(wait)*time.Second + 100*time.Millisecond)
			wantStatus(t, e.loginFrom(ip, adminEmail, "wrong again, sorry"), 401)
		}
		// Another client IP is not slowed down by this one.
		wantStatus(t, e.loginFrom("203.0.113.8", adminEmail, adminPassword), 200)
	})
}

// TestAccountFailureCapCannotLockOwnerOut: 100 failures per hour per
// account from any IPs, then 429 until the hour is over, except from an
// IP the owner has logged in from before.
func TestAccountFailureCapCannotLockOwnerOut(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "", withTrustedProxy("127.0.0.1/32"))
		clk := &clock{}
		e.users.Now = clk.now
		const home = "203.0.113.50"
		wantStatus(t, e.loginFrom(home, adminEmail, adminPassword), 200)
		for i := 1; i <= users.AccountFailureLimit; i++ {
			wantStatus(t, e.loginFrom(fmt.Sprintf("198.51.100.%d", i), adminEmail, "attacker guess "+fmt.Sprint(i)), 401)
		}
		if wait := retryAfter(t, e.loginFrom("198.51.100.200", adminEmail, "attacker guess 101")); wait < 3000 || wait > 3600 {
			t.Fatalf("Retry-After %d, want the rest of the hour", wait)
		}
		retryAfter(t, e.loginFrom("198.51.100.201", adminEmail, adminPassword))
		wantStatus(t, e.loginFrom(home, adminEmail, adminPassword), 200)
		clk.advance(users.ThrottleWindow + time.Second)
		wantStatus(t, e.loginFrom("198.51.100.202", adminEmail, adminPassword), 200)
	})
}

// TestForwardedForIgnoredWithoutTrustedProxy: a client cannot pick its own
// address to dodge the per-IP back-off.
func TestForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	e := newEnv(t, "", "")
	for i := 0; i < 6; i++ {
		wantStatus(t, e.loginFrom(fmt.Sprintf("198.51.100.%d", i), adminEmail, "wrong password x"), 401)
	}
	retryAfter(t, e.loginFrom("198.51.100.99", adminEmail, adminPassword))
}
