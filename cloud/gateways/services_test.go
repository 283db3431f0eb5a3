package gateways

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestMain fails the package when any test leaves a goroutine behind: the
// services' batching goroutines must stop at Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a test clock the services read through Settings.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newSettings() (*Settings, *clock) {
	c := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	return &Settings{Now: c.now, AllowKeyIdentity: true}, c
}

// keyEnroll builds a signed software-key enrollment of id with token.
func keyEnroll(t *testing.T, e *Enrollment, id, token string) wire.EnrollRequest {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := wire.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	nonce := randomHex(16)
	if err := e.repo.InTx(context.Background(), func(tx EnrollmentTx) error {
		return tx.(fakeTx).AddChallenge(&store.GatewayChallenge{Nonce: nonce, GatewayID: id, ExpiresAt: e.set.Now().Add(time.Minute)}, e.set.Now())
	}); err != nil {
		t.Fatal(err)
	}
	req := wire.EnrollRequest{GatewayID: id, EnrollmentToken: token, Nonce: nonce, Hostname: "h-" + id,
		Identity: wire.Identity{Kind: "key", PublicKey: pemKey}}
	if err := wire.SignEnroll(priv, &req); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestEnrollmentTokenUsesAndExpiry(t *testing.T) {
	set, clk := newSettings()
	db := newFakeDB()
	e := NewEnrollment(fakeRepo[EnrollmentTx]{db}, set)
	ctx := context.Background()
	m := Meta{Actor: "admin@example.com"}
	tok, err := e.CreateToken(ctx, m, []string{"*"}, TokenInput{ExpiresIn: "1h", MaxUses: 2, Site: "plant-1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		id      string
		wantErr error
	}{
		{"ok-first-use", "gw-one", nil},
		{"ok-second-use", "gw-two", nil},
		{"fail-used-up", "gw-three", ErrBadEnrollment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Enroll(ctx, m, keyEnroll(t, e, tc.id, tok.Token))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("enroll %s: %v, want %v", tc.id, err, tc.wantErr)
			}
			if err == nil && (res.Status != store.GatewayPending || res.Site != "plant-1" || res.ClaimCode == "") {
				t.Fatalf("enroll %s: %+v", tc.id, res)
			}
		})
	}

	// A fresh token past its lifetime enrolls nothing.
	late, err := e.CreateToken(ctx, m, []string{"*"}, TokenInput{ExpiresIn: "30m", MaxUses: 5})
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(31 * time.Minute)
	if _, err := e.Enroll(ctx, m, keyEnroll(t, e, "gw-late", late.Token)); !errors.Is(err, ErrBadEnrollment) {
		t.Fatalf("expired token: %v, want ErrBadEnrollment", err)
	}
	// Revoked tokens too, and revoking twice is no error.
	live, _ := e.CreateToken(ctx, m, []string{"*"}, TokenInput{ExpiresIn: "1h", MaxUses: 5})
	for range 2 {
		if err := e.RevokeToken(ctx, m, []string{"*"}, live.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Enroll(ctx, m, keyEnroll(t, e, "gw-revoked", live.Token)); !errors.Is(err, ErrBadEnrollment) {
		t.Fatalf("revoked token: %v, want ErrBadEnrollment", err)
	}
	if err := e.RevokeToken(ctx, m, []string{"plant-2"}, live.ID); !errors.Is(err, ErrTokenNotFound) {
		t.Fatalf("revoke outside access: %v, want ErrTokenNotFound", err)
	}
	if db.etokens[tok.ID].Uses != 2 {
		t.Fatalf("uses %d, want 2", db.etokens[tok.ID].Uses)
	}
	failures := 0
	for _, a := range db.auditTypes() {
		if a == "gateway.enroll:failure" {
			failures++
		}
	}
	if failures != 3 {
		t.Fatalf("audited %d refused enrollments, want 3: %v", failures, db.auditTypes())
	}
}

func TestCreateTokenRefusesBadInput(t *testing.T) {
	set, _ := newSettings()
	e := NewEnrollment(fakeRepo[EnrollmentTx]{newFakeDB()}, set)
	tests := []struct {
		name   string
		access []string
		in     TokenInput
		field  string
	}{
		{"fail-no-duration", []string{"*"}, TokenInput{MaxUses: 1}, "expires_in"},
		{"fail-over-90-days", []string{"*"}, TokenInput{ExpiresIn: "2161h", MaxUses: 1}, "expires_in"},
		{"fail-zero-uses", []string{"*"}, TokenInput{ExpiresIn: "1h"}, "max_uses"},
		{"fail-site-outside-access", []string{"plant-1"}, TokenInput{ExpiresIn: "1h", MaxUses: 1, Site: "plant-2"}, "site"},
		{"fail-no-site-without-star", []string{"plant-1"}, TokenInput{ExpiresIn: "1h", MaxUses: 1}, "site"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.CreateToken(context.Background(), Meta{}, tc.access, tc.in)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("got %v, want a validation error of %s", err, tc.field)
			}
		})
	}
}

// TestClaimLockout: wrong codes lock the gateway after ClaimFailuresPerGW
// (even for the right code), other gateways stay claimable, and guesses at
// gateways a user cannot see count only against that user.
func TestClaimLockout(t *testing.T) {
	set, clk := newSettings()
	db := newFakeDB()
	e := NewEnrollment(fakeRepo[EnrollmentTx]{db}, set)
	ctx := context.Background()
	codes := map[string]string{}
	for _, id := range []string{"gw-a", "gw-b"} {
		code, hash, err := newClaimCode(ctx)
		if err != nil {
			t.Fatal(err)
		}
		codes[id] = code
		db.gateways[id] = &store.Gateway{ID: id, Status: store.GatewayPending, IdentityKind: "tpm", EKVerified: true,
			ClaimCodeHash: hash, ClaimExpiresAt: clk.now().Add(ClaimLifetime)}
	}
	tech := Meta{Actor: "tech@example.com"}
	claim := func(m Meta, access []string, id, code string) error {
		_, err := e.Claim(ctx, m, access, ClaimInput{GatewayID: id, ClaimCode: code, Site: "plant-1"})
		return err
	}
	for i := range ClaimFailuresPerGW {
		if err := claim(tech, []string{"*"}, "gw-a", "AAAA-AAAA-AAAA"); !errors.Is(err, ErrBadClaim) {
			t.Fatalf("wrong code %d: %v, want ErrBadClaim", i, err)
		}
	}
	var th *ThrottledError
	if err := claim(Meta{Actor: "other@example.com"}, []string{"*"}, "gw-a", codes["gw-a"]); !errors.As(err, &th) || th.RetryAfter <= 0 {
		t.Fatalf("right code on a locked gateway: %v, want ThrottledError", err)
	}
	if err := claim(tech, []string{"*"}, "gw-b", codes["gw-b"]); err != nil {
		t.Fatalf("another gateway: %v", err)
	}
	if g := db.gateways["gw-b"]; g.Status != store.GatewayApproved || g.ClaimedBy != tech.Actor || g.ClaimCodeHash != "" {
		t.Fatalf("claimed gateway: %+v", g)
	}
	// A user who cannot see gw-a spends only their own attempts.
	outsider := Meta{Actor: "outsider@example.com"}
	clk.advance(ClaimWindow)
	for i := range ClaimFailuresPerUsr {
		if err := claim(outsider, []string{"plant-1", "gw-x"}, "gw-x", "AAAA-AAAA-AAAA"); !errors.Is(err, ErrBadClaim) {
			t.Fatalf("unknown gateway %d: %v", i, err)
		}
	}
	if err := claim(outsider, []string{"plant-1", "gw-x"}, "gw-x", "AAAA-AAAA-AAAA"); !errors.As(err, &th) {
		t.Fatalf("user over the limit: %v, want ThrottledError", err)
	}
	if n := db.throttles["claim-gw:gw-x"]; n != nil {
		t.Fatalf("an unseen gateway's limit was touched: %+v", n)
	}
	if err := claim(tech, []string{"*"}, "gw-a", codes["gw-a"]); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestTokenChecksAreBatched: lookups that queue while the readers are busy
// are answered by one query each time a reader is free, each with its own
// row.
func TestTokenChecksAreBatched(t *testing.T) {
	set, _ := newSettings()
	db := newFakeDB()
	const n = 100
	for i := range n {
		id := fmt.Sprintf("gw-%03d", i)
		db.gateways[id] = &store.Gateway{ID: id, Status: store.GatewayApproved, EnrollmentID: "e-" + id}
		db.tokens["jti-"+id] = store.GatewayToken{JTI: "jti-" + id, GatewayID: id}
	}
	gate := make(chan struct{})
	busy := make(chan struct{}, authReaders)
	db.tokenAuths = func([]string) {
		// The readers' first queries wait at the gate.
		select {
		case busy <- struct{}{}:
			<-gate
		default:
		}
	}
	a := NewAccess(fakeRepo[AccessTx]{db}, nil, set)
	a.Start(context.Background())
	defer a.Close()
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	defer open() // before Close (defers run last first): a failed wait must not leave a reader at the gate
	type answer struct {
		id    string
		row   store.GatewayTokenAuth
		found bool
		err   error
	}
	answers := make(chan answer, n+1)
	ask := func(id, owner string) {
		row, found, err := a.lookupToken(context.Background(), "jti-"+id, owner)
		answers <- answer{id, row, found, err}
	}
	// One lookup at a time until every reader is busy at the gate: sent
	// together, two lookups could go to one reader as one batch.
	for i := range authReaders {
		go ask(fmt.Sprintf("gw-%03d", i), fmt.Sprintf("gw-%03d", i))
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%d readers busy", i+1), func() bool { return len(busy) == i+1 })
	}
	for i := authReaders; i < n; i++ {
		go ask(fmt.Sprintf("gw-%03d", i), fmt.Sprintf("gw-%03d", i))
	}
	go ask("gw-000", "gw-001") // a token of another gateway is no token
	testenv.Eventually(t, 10*time.Second, "lookups queued", func() bool { return len(a.auth.ch) == n-authReaders+1 })
	open()
	for range n + 1 {
		r := <-answers
		if r.err != nil {
			t.Fatalf("%s: %v", r.id, r.err)
		}
		if r.found != (r.row.GatewayID == r.id) || (!r.found && r.id != "gw-000") {
			t.Fatalf("%s: found %v row %+v", r.id, r.found, r.row)
		}
	}
	// Two first queries, then at most one per reader for the queue.
	if db.queries > authReaders*2 {
		t.Fatalf("%d queries for %d lookups, want at most %d", db.queries, n+1, authReaders*2)
	}
}

// TestHeartbeatCloseFlushes: heartbeats queued behind a slow insert are
// all written when Close returns, and later ones are refused, not lost.
func TestHeartbeatCloseFlushes(t *testing.T) {
	set, _ := newSettings()
	db := newFakeDB()
	gate, started := make(chan struct{}), make(chan struct{})
	var once sync.Once
	db.insertHB = func(int) { once.Do(func() { close(started); <-gate }) }
	h := NewHeartbeats(fakeRepo[any]{db}, set, slog.New(slog.DiscardHandler))
	h.Start(context.Background())
	const n = 50
	errs := make(chan error, n)
	beat := func(i int) {
		errs <- h.Heartbeat(context.Background(), Auth{GatewayID: fmt.Sprintf("gw-%02d", i)}, wire.Heartbeat{Status: "ok", AgentVersion: "1"})
	}
	go beat(0)
	<-started // the writer holds the first heartbeat in a slow insert
	for i := 1; i < n; i++ {
		go beat(i)
	}
	testenv.Eventually(t, 10*time.Second, "heartbeats queued", func() bool { return len(h.writer.ch) == n-1 })
	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	close(gate)
	<-closed
	// Close returned: every queued heartbeat is stored already.
	db.mu.Lock()
	stored := len(db.heartbeats)
	db.mu.Unlock()
	if stored != n {
		t.Fatalf("%d heartbeats stored when Close returned, want %d", stored, n)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	if db.inserts >= n {
		t.Fatalf("%d inserts for %d heartbeats: not batched", db.inserts, n)
	}
	if err := h.Heartbeat(context.Background(), Auth{GatewayID: "gw-late"}, wire.Heartbeat{Status: "ok"}); !errors.Is(err, ErrStopped) {
		t.Fatalf("heartbeat after Close: %v, want ErrStopped", err)
	}
}

// TestServiceCloseStopsGoroutines: after Close no goroutine of the
// service is left, whatever was queued.
func TestServiceCloseStopsGoroutines(t *testing.T) {
	set, _ := newSettings()
	db := newFakeDB()
	db.gateways["gw-1"] = &store.Gateway{ID: "gw-1", Status: store.GatewayApproved}
	db.tokens["jti-1"] = store.GatewayToken{JTI: "jti-1", GatewayID: "gw-1"}
	a := NewAccess(fakeRepo[AccessTx]{db}, (*auth.KeyRing)(nil), set)
	h := NewHeartbeats(fakeRepo[any]{db}, set, slog.New(slog.DiscardHandler))
	before := goleak.IgnoreCurrent()
	a.Start(context.Background())
	h.Start(context.Background())
	if _, found, err := a.lookupToken(context.Background(), "jti-1", "gw-1"); err != nil || !found {
		t.Fatalf("lookup: %v %v", found, err)
	}
	if err := h.Heartbeat(context.Background(), Auth{GatewayID: "gw-1"}, wire.Heartbeat{Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	h.Close()
	goleak.VerifyNone(t, before)
}

// TestHeartbeatAnsweredAfterItsTrim: a heartbeat whose batch trims its
// gateway's history is answered only once the trim is done, so that a
// reader who saw the answer reads the history as it stays (a trim left
// pending made TestHeartbeatsAreBounded's page walk count a row that was
// gone by the time it counted the table).
func TestHeartbeatAnsweredAfterItsTrim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set, _ := newSettings()
		set.HistoryRows = 1 // every heartbeat trims
		db := newFakeDB()
		trimming, gate := make(chan struct{}), make(chan struct{})
		db.trimHB = func(string) { close(trimming); <-gate }
		release := sync.OnceFunc(func() { close(gate) })
		h := NewHeartbeats(fakeRepo[any]{db}, set, slog.New(slog.DiscardHandler))
		h.Start(context.Background())
		defer h.Close()
		defer release() // before Close, also when the test fails
		answered := make(chan error, 1)
		go func() {
			answered <- h.Heartbeat(context.Background(), Auth{GatewayID: "gw-1"}, wire.Heartbeat{Status: "ok"})
		}()
		<-trimming      // the writer is inside the trim (after its batch wait)
		synctest.Wait() // and the heartbeat's goroutine has got as far as it can
		select {
		case err := <-answered:
			t.Fatalf("heartbeat answered (%v) while its trim was pending", err)
		default:
		}
		release()
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
		db.mu.Lock()
		defer db.mu.Unlock()
		if db.trims["gw-1"] != 1 {
			t.Fatalf("%d trims of gw-1 when it was answered, want 1", db.trims["gw-1"])
		}
	})
}
