package gateways

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/store"
)

// fakeDB is an in-memory stand-in for cloud/store's gateway repository:
// the services' rules are tested against it without a database (the
// HTTP+database suites in cloud/api run the same rules on SQLite and
// PostgreSQL). Transactions run one at a time and do not roll back.
type fakeDB struct {
	mu         sync.Mutex
	gateways   map[string]*store.Gateway
	etokens    map[string]*store.EnrollmentToken
	challenges map[string]store.GatewayChallenge
	tokens     map[string]store.GatewayToken
	throttles  map[string]*store.LoginThrottle
	heartbeats []store.GatewayHeartbeat
	audits     []audit.Event

	// tokenAuths, when set, runs before each TokenAuths query.
	tokenAuths func(jtis []string)
	queries    int
	// insertHB, when set, runs before each heartbeat insert.
	insertHB func(n int)
	inserts  int
	trims    map[string]int
	// trimHB, when set, runs before each heartbeat trim.
	trimHB func(id string)
}

func newFakeDB() *fakeDB {
	return &fakeDB{gateways: map[string]*store.Gateway{}, etokens: map[string]*store.EnrollmentToken{},
		challenges: map[string]store.GatewayChallenge{}, tokens: map[string]store.GatewayToken{},
		throttles: map[string]*store.LoginThrottle{}, trims: map[string]int{}}
}

// fakeRepo serves fakeDB as a repository whose transactions are T.
type fakeRepo[T any] struct{ *fakeDB }

func (r fakeRepo[T]) InTx(ctx context.Context, fn func(T) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fn(any(fakeTx{r.fakeDB}).(T))
}

// fakeTx is a transaction: fakeDB's lock is held.
type fakeTx struct{ db *fakeDB }

var (
	_ EnrollmentRepo = fakeRepo[EnrollmentTx]{}
	_ AccessRepo     = fakeRepo[AccessTx]{}
	_ HeartbeatRepo  = fakeRepo[any]{}
	_ EnrollmentTx   = fakeTx{}
	_ AccessTx       = fakeTx{}
)

func (d *fakeDB) auditTypes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, e := range d.audits {
		out = append(out, e.EventType+":"+e.Result)
	}
	return out
}

func (d *fakeDB) Gateway(ctx context.Context, id string) (*store.Gateway, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fakeTx{d}.Gateway(id, false)
}

func (d *fakeDB) EnrollmentTokens(ctx context.Context) ([]store.EnrollmentToken, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []store.EnrollmentToken
	for _, id := range slices.Sorted(maps.Keys(d.etokens)) {
		out = append(out, *d.etokens[id])
	}
	return out, nil
}

func (d *fakeDB) usable(hash string, now time.Time) *store.EnrollmentToken {
	for _, t := range d.etokens {
		if t.TokenHash == hash && t.RevokedAt == nil && now.Before(t.ExpiresAt) && t.Uses < t.MaxUses {
			return t
		}
	}
	return nil
}

func (d *fakeDB) EnrollmentTokenUsable(ctx context.Context, hash string, now time.Time) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.usable(hash, now) != nil, nil
}

func (d *fakeDB) BlockedFor(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.throttles[key]; t != nil && t.BlockedUntil.After(now) {
		return t.BlockedUntil.Sub(now), nil
	}
	return 0, nil
}

func (d *fakeDB) TokenAuths(ctx context.Context, jtis []string) ([]store.GatewayTokenAuth, error) {
	if d.tokenAuths != nil {
		d.tokenAuths(jtis)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queries++
	var out []store.GatewayTokenAuth
	for _, jti := range jtis {
		if t, ok := d.tokens[jti]; ok {
			g := d.gateways[t.GatewayID]
			out = append(out, store.GatewayTokenAuth{JTI: jti, GatewayID: t.GatewayID, RevokedAt: t.RevokedAt, Status: g.Status,
				IdentityKind: g.IdentityKind, EnrollmentID: g.EnrollmentID})
		}
	}
	return out, nil
}

func (d *fakeDB) InsertHeartbeats(ctx context.Context, hbs []store.GatewayHeartbeat) error {
	if d.insertHB != nil {
		d.insertHB(len(hbs))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inserts++
	d.heartbeats = append(d.heartbeats, hbs...)
	return nil
}

func (d *fakeDB) TrimHeartbeats(ctx context.Context, id string, rows, bytes int) error {
	if d.trimHB != nil {
		d.trimHB(id)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.trims[id]++
	return nil
}

func (d *fakeDB) SetSummary(ctx context.Context, id string, seen time.Time, agentVersion string, applied int) error {
	return nil
}

func (d *fakeDB) Heartbeats(ctx context.Context, id string, cursor uint64, limit int) ([]store.GatewayHeartbeat, error) {
	return nil, nil
}

func (d *fakeDB) Prune(ctx context.Context, before, now time.Time) error { return nil }

func (t fakeTx) Audit(ev audit.Event) error {
	t.db.audits = append(t.db.audits, ev)
	return nil
}

func (t fakeTx) Gateway(id string, lock bool) (*store.Gateway, error) {
	g, ok := t.db.gateways[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *g
	return &c, nil
}

func (t fakeTx) SaveGateway(g *store.Gateway) error {
	c := *g
	t.db.gateways[g.ID] = &c
	return nil
}

func (t fakeTx) AddChallenge(c *store.GatewayChallenge, now time.Time) error {
	t.db.challenges[c.Nonce] = *c
	return nil
}

func (t fakeTx) UseChallenge(gatewayID, nonce string, now time.Time) error {
	c, ok := t.db.challenges[nonce]
	if !ok || c.GatewayID != gatewayID || !now.Before(c.ExpiresAt) {
		return store.ErrNotFound
	}
	delete(t.db.challenges, nonce)
	return nil
}

func (t fakeTx) AddGatewayToken(row *store.GatewayToken) error {
	t.db.tokens[row.JTI] = *row
	return nil
}

func (t fakeTx) RevokeGatewayTokens(id string, now time.Time) error {
	for jti, tok := range t.db.tokens {
		if tok.GatewayID == id && tok.RevokedAt == nil {
			tok.RevokedAt = &now
			t.db.tokens[jti] = tok
		}
	}
	return nil
}

func (t fakeTx) SetTLSCert(id string, notBefore, notAfter, renewAt time.Time) error { return nil }

func (t fakeTx) SetAKCertExpiry(id string, at time.Time) error { return nil }

func (t fakeTx) AddEnrollmentToken(et *store.EnrollmentToken) error {
	c := *et
	t.db.etokens[et.ID] = &c
	return nil
}

func (t fakeTx) EnrollmentToken(id string) (*store.EnrollmentToken, error) {
	et, ok := t.db.etokens[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *et
	return &c, nil
}

func (t fakeTx) RevokeEnrollmentToken(id string, now time.Time) (bool, error) {
	et := t.db.etokens[id]
	if et == nil || et.RevokedAt != nil {
		return false, nil
	}
	et.RevokedAt = &now
	return true, nil
}

func (t fakeTx) UseEnrollmentToken(hash string, now time.Time) (*store.EnrollmentToken, error) {
	et := t.db.usable(hash, now)
	if et == nil {
		return nil, store.ErrNotFound
	}
	et.Uses++
	c := *et
	return &c, nil
}

func (t fakeTx) Bump(key string, now time.Time, window time.Duration, until func(int, time.Time) time.Time) error {
	r := t.db.throttles[key]
	if r == nil || now.Sub(r.WindowStart) >= window {
		r = &store.LoginThrottle{Key: key, WindowStart: now}
		t.db.throttles[key] = r
	}
	r.Failures++
	r.BlockedUntil = until(r.Failures, r.WindowStart)
	return nil
}
