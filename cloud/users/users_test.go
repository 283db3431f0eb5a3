package users

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Unit tests of the users service against an in-memory Repo (fake_test.go).
// The HTTP suites in cloud/api run the same rules over SQLite and
// PostgreSQL; these pin the service's own logic: what it counts, refunds,
// revokes and audits, and that a change and its audit record go together.

const (
	admin   = "admin@example.com"
	adminPW = "correct horse battery staple"
)

var (
	ipA = Meta{IP: "192.0.2.10", UserAgent: "test"}
	ipB = Meta{IP: "198.51.100.20", UserAgent: "test"}
)

type fixture struct {
	t    *testing.T
	repo *fakeRepo
	svc  *Service
	reg  *prometheus.Registry
	now  time.Time
}

// newFixture is a service over an empty fake with one bootstrapped Admin.
// Its clock starts at the real time (tokens are checked against it) and
// moves only when a test moves it.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := auth.LoadKeyRing(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, repo: newFakeRepo(), reg: prometheus.NewRegistry(), now: time.Now().UTC().Truncate(time.Microsecond)}
	f.svc = New(f.repo, keys, slog.New(slog.DiscardHandler), f.reg)
	f.svc.Now = func() time.Time { return f.now }
	if created, _, err := f.svc.Bootstrap(context.Background(), admin, adminPW); err != nil || !created {
		t.Fatalf("bootstrap: created=%v err=%v", created, err)
	}
	return f
}

func (f *fixture) login(m Meta, email, pw string) (Session, error) {
	f.t.Helper()
	return f.svc.Login(context.Background(), m, email, pw)
}

func (f *fixture) mustLogin(m Meta, email, pw string) Session {
	f.t.Helper()
	s, err := f.login(m, email, pw)
	if err != nil {
		f.t.Fatalf("login %s: %v", email, err)
	}
	return s
}

func (f *fixture) throttle(key string) store.LoginThrottle {
	var r store.LoginThrottle
	f.repo.view(func(s *fakeState) { r = s.throttles[key] })
	return r
}

func (f *fixture) setThrottle(r store.LoginThrottle) {
	f.repo.view(func(s *fakeState) { s.throttles[r.Key] = r })
}

func (f *fixture) events() (events, tallies []audit.Event) {
	f.repo.view(func(s *fakeState) { events, tallies = s.events, s.tallies })
	return events, tallies
}

func (f *fixture) lastEvent() audit.Event {
	f.t.Helper()
	ev, _ := f.events()
	if len(ev) == 0 {
		f.t.Fatal("no audit record")
	}
	return ev[len(ev)-1]
}

func (f *fixture) authenticates(tok string) bool {
	f.t.Helper()
	_, err := f.svc.Authenticate(context.Background(), tok)
	if err != nil && !errors.Is(err, auth.ErrInvalidToken) {
		f.t.Fatalf("authenticate: unexpected %v", err)
	}
	return err == nil
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func wantKind(t *testing.T, err error, kind errs.Kind) *errs.Error {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Fatalf("err = %v, want kind %v", err, kind)
	}
	return e
}

func TestLoginStartsAuditedSessionAndRefundsItsReservation(t *testing.T) {
	f := newFixture(t)
	s := f.mustLogin(ipA, "  Admin@Example.com ", adminPW)
	if s.Claims.Subject != admin || !f.authenticates(s.Token) {
		t.Fatalf("session %+v does not authenticate as %s", s.Claims, admin)
	}
	if ev := f.lastEvent(); ev.EventType != "authentication.success" || ev.User != admin || ev.IPAddress != ipA.IP {
		t.Errorf("audit = %+v", ev)
	}
	if n := f.throttle(ipKey(ipA.IP)).Failures; n != 0 {
		t.Errorf("ip failures after a good login = %d, want 0 (refunded)", n)
	}
	if n := f.throttle(accountKey(admin)).Failures; n != 0 {
		t.Errorf("account failures after a good login = %d, want 0 (refunded)", n)
	}
	if f.throttle(knownKey(admin, ipA.IP)).WindowStart.IsZero() {
		t.Error("a good login does not remember its client")
	}
}

func TestWrongPasswordIsCountedTalliedAndMetered(t *testing.T) {
	f := newFixture(t)
	for i, email := range []string{admin, "nobody@example.com", "not an email"} {
		_, err := f.login(ipA, email, "wrong password here")
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%q: err = %v, want ErrInvalidCredentials", email, err)
		}
		if n := f.throttle(ipKey(ipA.IP)).Failures; n != i+1 {
			t.Errorf("%q: ip failures = %d, want %d", email, n, i+1)
		}
	}
	if n := f.throttle(accountKey(admin)).Failures; n != 1 {
		t.Errorf("account failures = %d, want 1", n)
	}
	if got := counterValue(t, f.svc.loginFailures); got != 3 {
		t.Errorf("login failures metric = %v, want 3", got)
	}
	_, tallies := f.events()
	if len(tallies) != 3 || tallies[0].Reason != "invalid_credentials" || tallies[2].User != "(invalid)" {
		t.Errorf("tallies = %+v", tallies)
	}
}

func TestIPBackoffStartsAfterTheFreeFailuresAndDoubles(t *testing.T) {
	f := newFixture(t)
	for range ipFreeFailures + 1 {
		if _, err := f.login(ipA, admin, "wrong password here"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("err = %v", err)
		}
	}
	_, err := f.login(ipA, admin, adminPW)
	if e := wantKind(t, err, errs.Throttled); e.RetryAfter != time.Second {
		t.Errorf("retry after %v, want 1s", e.RetryAfter)
	}
	if _, tallies := f.events(); tallies[len(tallies)-1].Result != audit.ResultBlocked {
		t.Errorf("a throttled attempt is tallied as %q", tallies[len(tallies)-1].Result)
	}
	f.mustLogin(ipB, admin, adminPW) // the block is the IP's, not the account's

	f.now = f.now.Add(time.Second)
	if _, err := f.login(ipA, admin, "wrong password here"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("after the back-off: err = %v", err)
	}
	_, err = f.login(ipA, admin, adminPW)
	if e := wantKind(t, err, errs.Throttled); e.RetryAfter != 2*time.Second {
		t.Errorf("second back-off %v, want 2s", e.RetryAfter)
	}
	f.now = f.now.Add(ThrottleWindow)
	f.mustLogin(ipA, admin, adminPW) // a new window forgives
}

func TestAccountLimitBlocksNewClientsButNotAKnownOne(t *testing.T) {
	f := newFixture(t)
	f.mustLogin(ipA, admin, adminPW) // ipA becomes a known client
	f.setThrottle(store.LoginThrottle{Key: accountKey(admin), Failures: AccountFailureLimit - 1, WindowStart: f.now})
	if _, err := f.login(ipB, admin, "wrong password here"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("the last allowed failure: err = %v", err)
	}
	_, err := f.login(ipB, admin, adminPW)
	if e := wantKind(t, err, errs.Throttled); e.RetryAfter != ThrottleWindow {
		t.Errorf("retry after %v, want the rest of the window (%v)", e.RetryAfter, ThrottleWindow)
	}
	f.mustLogin(ipA, admin, adminPW)

	f.now = f.now.Add(knownClientTTL) // a client is known for so long only
	f.setThrottle(store.LoginThrottle{Key: accountKey(admin), Failures: AccountFailureLimit,
		WindowStart: f.now, BlockedUntil: f.now.Add(ThrottleWindow)})
	wantKind(t, func() error { _, err := f.login(ipA, admin, adminPW); return err }(), errs.Throttled)
}

func TestUncheckedLoginIsRefundedNotCounted(t *testing.T) {
	f := newFixture(t)
	f.repo.view(func(s *fakeState) {
		u := s.users[admin]
		u.PasswordHash = "not an argon2id hash"
		s.users[admin] = u
	})
	_, err := f.login(ipA, admin, adminPW)
	if err == nil || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want a failed check", err)
	}
	if n := f.throttle(ipKey(ipA.IP)).Failures; n != 0 {
		t.Errorf("ip failures = %d, want 0: an unchecked attempt is no guess", n)
	}
	if _, tallies := f.events(); len(tallies) != 0 {
		t.Errorf("an unchecked attempt is audited as a failure: %+v", tallies)
	}
}

func TestDisabledAccountCannotLogIn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustCreate(t, f, "ops@example.com", rbac.Admin)
	if _, err := f.svc.SetDisabled(ctx, Meta{Actor: admin}, "ops@example.com", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login(ipA, "ops@example.com", "plenty long passphrase 42"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want ErrInvalidCredentials", err)
	}
	if _, tallies := f.events(); tallies[len(tallies)-1].Reason != "account_disabled" {
		t.Errorf("tally reason %q", tallies[len(tallies)-1].Reason)
	}
}

func mustCreate(t *testing.T, f *fixture, email string, roles ...string) View {
	t.Helper()
	v, err := f.svc.Create(context.Background(), Meta{Actor: admin},
		CreateInput{Email: email, Password: "plenty long passphrase 42", Roles: roles, GatewayAccess: []string{"*"}})
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return v
}

func TestLogoutAndRefreshRevokeTheOldToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.mustLogin(ipA, admin, adminPW)
	next, err := f.svc.Refresh(ctx, ipA, s.Claims)
	if err != nil {
		t.Fatal(err)
	}
	if f.authenticates(s.Token) || !f.authenticates(next.Token) {
		t.Fatal("refresh must revoke the old token and issue a working one")
	}
	if _, err := f.svc.Refresh(ctx, ipA, s.Claims); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("second refresh of one token: err = %v, want ErrInvalidToken", err)
	}
	f.wantRevokedBy(f.svc.Logout(ctx, ipA, next.Claims), next.Token, "auth.logout")
}

// wantRevokedBy checks that the change that returned err succeeded,
// revoked token, and was audited as eventType.
func (f *fixture) wantRevokedBy(err error, token, eventType string) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("%s: %v", eventType, err)
	}
	if f.authenticates(token) {
		f.t.Errorf("after %s the token still authenticates", eventType)
	}
	if ev := f.lastEvent(); ev.EventType != eventType {
		f.t.Errorf("last audit %q, want %q", ev.EventType, eventType)
	}
}

func TestGrantChangesAndDisableRevokeEverySession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustCreate(t, f, "ops@example.com", rbac.Operator)
	pw := "plenty long passphrase 42"
	s1, s2 := f.mustLogin(ipA, "ops@example.com", pw), f.mustLogin(ipB, "ops@example.com", pw)
	roles := []string{rbac.Viewer}
	if _, err := f.svc.Update(ctx, Meta{Actor: admin}, "ops@example.com", UpdateInput{Roles: &roles}); err != nil {
		t.Fatal(err)
	}
	if f.authenticates(s1.Token) || f.authenticates(s2.Token) {
		t.Fatal("a role change leaves a session with stale grants")
	}
	s3 := f.mustLogin(ipA, "ops@example.com", pw)
	if got := s3.Claims.Roles; len(got) != 1 || got[0] != rbac.Viewer {
		t.Errorf("new session roles %v", got)
	}
	_, err := f.svc.SetDisabled(ctx, Meta{Actor: admin}, "ops@example.com", true)
	f.wantRevokedBy(err, s3.Token, "user.disable")
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	next := "a brand new passphrase here"
	t.Run("fail-wrong-current", func(t *testing.T) {
		f := newFixture(t)
		s := f.mustLogin(ipA, admin, adminPW)
		_, err := f.svc.ChangePassword(ctx, ipA, s.Claims, "not the password", next)
		if !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("err = %v", err)
		}
		if _, tallies := f.events(); tallies[len(tallies)-1].Reason != "wrong_current_password" {
			t.Errorf("not tallied: %+v", tallies)
		}
		if n := f.throttle(ipKey(ipA.IP)).Failures; n != 1 {
			t.Errorf("ip failures %d, want 1: a session must not guess for free", n)
		}
		if !f.authenticates(s.Token) {
			t.Error("a failed change revoked the session")
		}
	})
	t.Run("fail-same-password", func(t *testing.T) {
		f := newFixture(t)
		s := f.mustLogin(ipA, admin, adminPW)
		wantKind(t, func() error { _, err := f.svc.ChangePassword(ctx, ipA, s.Claims, adminPW, adminPW); return err }(), errs.Validation)
	})
	t.Run("fail-changed-meanwhile", func(t *testing.T) {
		f := newFixture(t)
		s := f.mustLogin(ipA, admin, adminPW)
		base := f.repo.txs
		f.repo.onTx = func(n int, st *fakeState) {
			if n == base+2 { // after the throttle's transaction, before the change's
				u := st.users[admin]
				u.PasswordHash += "x"
				st.users[admin] = u
			}
		}
		wantKind(t, func() error { _, err := f.svc.ChangePassword(ctx, ipA, s.Claims, adminPW, next); return err }(), errs.Conflict)
		if !f.authenticates(s.Token) {
			t.Error("the lost race revoked the session")
		}
	})
	t.Run("ok", func(t *testing.T) {
		f := newFixture(t)
		s, other := f.mustLogin(ipA, admin, adminPW), f.mustLogin(ipB, admin, adminPW)
		fresh, err := f.svc.ChangePassword(ctx, ipA, s.Claims, adminPW, next)
		if err != nil {
			t.Fatal(err)
		}
		if f.authenticates(s.Token) || f.authenticates(other.Token) || !f.authenticates(fresh.Token) {
			t.Error("every old session must be revoked, the new one must work")
		}
		ev := f.lastEvent()
		if ev.EventType != "user.password_change" || ev.Changes["password"].New != "[redacted]" {
			t.Errorf("audit %+v", ev)
		}
		if n := f.throttle(ipKey(ipA.IP)).Failures; n != 0 {
			t.Errorf("ip failures %d, want 0 (refunded)", n)
		}
		f.mustLogin(ipA, admin, next)
	})
}

func TestManageKeepsAnEnabledAdminAndTheCallersOwnAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	me := Meta{Actor: admin}
	viewer := []string{rbac.Viewer}
	if _, err := f.svc.Update(ctx, me, admin, UpdateInput{Roles: &viewer}); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("demote the only admin: err = %v", err)
	}
	if _, err := f.svc.SetDisabled(ctx, me, admin, true); !errors.Is(err, ErrSelf) {
		t.Errorf("disable self: err = %v", err)
	}
	if err := f.svc.Delete(ctx, me, admin); !errors.Is(err, ErrSelf) {
		t.Errorf("delete self: err = %v", err)
	}
	mustCreate(t, f, "second@example.com", rbac.Admin)
	if _, err := f.svc.SetDisabled(ctx, Meta{Actor: "second@example.com"}, admin, true); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, me, "second@example.com"); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("delete the last enabled admin: err = %v", err)
	}
	if _, err := f.svc.SetDisabled(ctx, Meta{Actor: "second@example.com"}, admin, false); err != nil {
		t.Fatal(err)
	}
	s := f.mustLogin(ipA, "second@example.com", "plenty long passphrase 42")
	if err := f.svc.Delete(ctx, me, "second@example.com"); err != nil {
		t.Fatal(err)
	}
	if f.authenticates(s.Token) {
		t.Error("a deleted user's session still authenticates")
	}
	if _, err := f.svc.Get(ctx, "second@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get deleted: err = %v", err)
	}
	if ev := f.lastEvent(); ev.EventType != "user.delete" || ev.ResourceID != "second@example.com" {
		t.Errorf("audit %+v", ev)
	}
}

func TestCreateValidatesAndRefusesADuplicate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, in := range map[string]CreateInput{
		"fail-email":    {Email: "not an email", Password: "plenty long passphrase 42", Roles: []string{rbac.Viewer}},
		"fail-password": {Email: "a@example.com", Password: "short", Roles: []string{rbac.Viewer}},
		"fail-no-role":  {Email: "a@example.com", Password: "plenty long passphrase 42"},
		"fail-role":     {Email: "a@example.com", Password: "plenty long passphrase 42", Roles: []string{"Root"}},
		"fail-access":   {Email: "a@example.com", Password: "plenty long passphrase 42", Roles: []string{rbac.Viewer}, GatewayAccess: []string{" "}},
	} {
		if _, err := f.svc.Create(ctx, Meta{Actor: admin}, in); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantKind(t, err, errs.Validation)
		}
	}
	v := mustCreate(t, f, "Ops@Example.com", rbac.Operator, rbac.Operator)
	if v.Email != "ops@example.com" || len(v.Roles) != 1 {
		t.Errorf("created %+v: want the email normalized and roles deduplicated", v)
	}
	_, err := f.svc.Create(ctx, Meta{Actor: admin}, CreateInput{Email: "ops@example.com",
		Password: "plenty long passphrase 42", Roles: []string{rbac.Viewer}})
	if !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: err = %v, want ErrExists", err)
	}
	list, err := f.svc.List(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("list = %v, %v", list, err)
	}
}

// TestChangeAndAuditRecordCommitTogether: when the audit record cannot be
// written, the change it records is not made either.
func TestChangeAndAuditRecordCommitTogether(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.mustLogin(ipA, admin, adminPW)
	f.repo.failAudit = errAuditDown
	if _, err := f.svc.Create(ctx, Meta{Actor: admin}, CreateInput{Email: "ops@example.com",
		Password: "plenty long passphrase 42", Roles: []string{rbac.Viewer}}); !errors.Is(err, errAuditDown) {
		t.Fatalf("create: err = %v", err)
	}
	if _, err := f.svc.Get(ctx, "ops@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unaudited account exists: %v", err)
	}
	if err := f.svc.Logout(ctx, ipA, s.Claims); !errors.Is(err, errAuditDown) {
		t.Fatalf("logout: err = %v", err)
	}
	if !f.authenticates(s.Token) {
		t.Error("an unaudited logout revoked the session")
	}
	if _, err := f.login(ipB, admin, adminPW); !errors.Is(err, errAuditDown) {
		t.Fatalf("login: err = %v", err)
	}
	f.repo.failAudit = nil
	if n := f.throttle(ipKey(ipB.IP)).Failures; n != 1 {
		t.Errorf("ip failures %d: the refund rolled back with the login, so the attempt stays counted", n)
	}
}

func TestPruneForgetsOldWindowsAndSessionsOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.mustLogin(ipA, admin, adminPW)
	f.setThrottle(store.LoginThrottle{Key: ipKey("203.0.113.1"), Failures: 3, WindowStart: f.now})
	f.now = f.now.Add(ThrottleWindow + time.Minute)
	f.setThrottle(store.LoginThrottle{Key: ipKey("203.0.113.2"), Failures: 3, WindowStart: f.now})
	if err := f.svc.PruneThrottles(ctx); err != nil {
		t.Fatal(err)
	}
	if f.throttle(ipKey("203.0.113.1")).Key != "" || f.throttle(ipKey("203.0.113.2")).Key == "" {
		t.Error("prune must drop the finished window and keep the current one")
	}
	if f.throttle(knownKey(admin, ipA.IP)).Key == "" {
		t.Error("prune forgot a known client within its TTL")
	}
	f.now = f.now.Add(auth.TokenLifetime + 24*time.Hour)
	if err := f.svc.PruneSessions(ctx); err != nil {
		t.Fatal(err)
	}
	f.repo.view(func(s *fakeState) {
		if len(s.sessions) != 0 {
			t.Errorf("%d expired sessions kept", len(s.sessions))
		}
	})
}

// TestServicesKeepTheirOwnMetrics: two services in one process, each with
// its own registry, neither panics nor counts the other's failures.
func TestServicesKeepTheirOwnMetrics(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	if _, err := a.login(ipA, admin, "wrong password here"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    *fixture
		want float64
	}{{a, 1}, {b, 0}} {
		mfs, err := c.f.reg.Gather()
		if err != nil || len(mfs) != 1 || mfs[0].GetName() != "streamforge_login_failures_total" {
			t.Fatalf("registry holds %v, %v; want the login failures counter", mfs, err)
		}
		if got := counterValue(t, c.f.svc.loginFailures); got != c.want {
			t.Errorf("login failures = %v, want %v", got, c.want)
		}
	}
}
