package users

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/store"
)

// fakeRepo is an in-memory Repo. Transactions run one at a time on a copy
// of the state that replaces it only when fn returns nil, so a test sees
// whether the service keeps a change and its audit record together.
type fakeRepo struct {
	mu sync.Mutex
	st fakeState
	// failAudit, when set, makes every audit append fail.
	failAudit error
	// onTx, when set, runs at the start of the n-th transaction (from 1)
	// on the committed state: another process's change that lands between
	// two steps of the service.
	onTx func(n int, s *fakeState)
	txs  int
}

type fakeState struct {
	nextID    uint64
	users     map[string]store.User // by email
	sessions  map[string]store.Session
	throttles map[string]store.LoginThrottle
	events    []audit.Event // appended records
	tallies   []audit.Event // tallied events
}

func newFakeRepo() *fakeRepo {
	return &fakeRepo{st: fakeState{users: map[string]store.User{}, sessions: map[string]store.Session{},
		throttles: map[string]store.LoginThrottle{}}}
}

func (s fakeState) clone() fakeState {
	c := s
	c.users, c.sessions, c.throttles = maps.Clone(s.users), maps.Clone(s.sessions), maps.Clone(s.throttles)
	c.events, c.tallies = append([]audit.Event(nil), s.events...), append([]audit.Event(nil), s.tallies...)
	return c
}

func (r *fakeRepo) InTx(_ context.Context, fn func(Tx) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.txs++; r.onTx != nil {
		r.onTx(r.txs, &r.st)
	}
	tx := &fakeTx{st: r.st.clone(), failAudit: r.failAudit}
	if err := fn(tx); err != nil {
		return err
	}
	r.st = tx.st
	return nil
}

// view runs fn on the committed state.
func (r *fakeRepo) view(fn func(s *fakeState)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.st)
}

func (r *fakeRepo) UserByEmail(_ context.Context, email string) (*store.User, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return (&fakeTx{st: r.st}).UserByEmail(email, false)
}

func (r *fakeRepo) ListUsers(context.Context) ([]store.User, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []store.User
	for _, u := range r.st.users {
		out = append(out, u)
	}
	return out, nil
}

func (r *fakeRepo) SessionOwner(_ context.Context, jti string) (store.SessionOwner, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.st.sessions[jti]
	if !ok {
		return store.SessionOwner{}, store.ErrNotFound
	}
	for _, u := range r.st.users {
		if u.ID == s.UserID {
			return store.SessionOwner{UserID: u.ID, Email: u.Email, Disabled: u.Disabled, Revoked: s.RevokedAt != nil, RotatedAt: s.RotatedAt}, nil
		}
	}
	return store.SessionOwner{}, store.ErrNotFound
}

func (r *fakeRepo) PruneSessions(_ context.Context, t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	maps.DeleteFunc(r.st.sessions, func(_ string, s store.Session) bool { return s.ExpiresAt.Before(t) })
	return nil
}

func (r *fakeRepo) PruneThrottles(_ context.Context, now, windowBefore time.Time, keep string, keepBefore time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	maps.DeleteFunc(r.st.throttles, func(k string, t store.LoginThrottle) bool {
		if strings.HasPrefix(k, keep) {
			return t.WindowStart.Before(keepBefore)
		}
		return t.WindowStart.Before(windowBefore) && t.BlockedUntil.Before(now)
	})
	return nil
}

type fakeTx struct {
	st        fakeState
	failAudit error
}

func (t *fakeTx) UserByEmail(email string, _ bool) (*store.User, error) {
	u, ok := t.st.users[email]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &u, nil
}

func (t *fakeTx) CountUsers() (int64, error) { return int64(len(t.st.users)), nil }

func (t *fakeTx) CreateUser(u *store.User) error {
	if _, ok := t.st.users[u.Email]; ok {
		return store.ErrConflict
	}
	t.st.nextID++
	u.ID = t.st.nextID
	t.st.users[u.Email] = *u
	return nil
}

func (t *fakeTx) byID(id uint64) (store.User, bool) {
	for _, u := range t.st.users {
		if u.ID == id {
			return u, true
		}
	}
	return store.User{}, false
}

func (t *fakeTx) SaveUser(u *store.User) error {
	t.st.users[u.Email] = *u
	return nil
}

func (t *fakeTx) SetUserDisabled(id uint64, disabled bool) error {
	if u, ok := t.byID(id); ok {
		u.Disabled = disabled
		t.st.users[u.Email] = u
	}
	return nil
}

func (t *fakeTx) ReplacePasswordHash(id uint64, old, next string) (bool, error) {
	u, ok := t.byID(id)
	if !ok || u.PasswordHash != old {
		return false, nil
	}
	u.PasswordHash = next
	t.st.users[u.Email] = u
	return true, nil
}

func (t *fakeTx) DeleteUser(id uint64) error {
	maps.DeleteFunc(t.st.sessions, func(_ string, s store.Session) bool { return s.UserID == id })
	maps.DeleteFunc(t.st.users, func(_ string, u store.User) bool { return u.ID == id })
	return nil
}

func (t *fakeTx) EnabledUsersExcept(id uint64) ([]store.User, error) {
	var out []store.User
	for _, u := range t.st.users {
		if u.ID != id && !u.Disabled {
			out = append(out, u)
		}
	}
	return out, nil
}

func (t *fakeTx) CreateSession(s *store.Session) error {
	if _, ok := t.st.sessions[s.JTI]; ok {
		return store.ErrConflict
	}
	t.st.sessions[s.JTI] = *s
	return nil
}

func (t *fakeTx) RevokeSession(jti string, now time.Time) (bool, error) {
	s, ok := t.st.sessions[jti]
	if !ok || s.RevokedAt != nil {
		return false, nil
	}
	s.RevokedAt = &now
	t.st.sessions[jti] = s
	return true, nil
}

func (t *fakeTx) RotateSession(jti string, now time.Time) (bool, error) {
	live, _ := t.RevokeSession(jti, now)
	if live {
		s := t.st.sessions[jti]
		s.RotatedAt = &now
		t.st.sessions[jti] = s
	}
	return live, nil
}

func (t *fakeTx) RevokeUserSessions(userID uint64, now time.Time) error {
	for jti, s := range t.st.sessions {
		if s.UserID == userID && s.RevokedAt == nil {
			s.RevokedAt = &now
			t.st.sessions[jti] = s
		}
	}
	return nil
}

func (t *fakeTx) LockThrottle(key string, now time.Time, window time.Duration) (*store.LoginThrottle, error) {
	r, ok := t.st.throttles[key]
	if !ok {
		r = store.LoginThrottle{Key: key, WindowStart: now}
		t.st.throttles[key] = r
	}
	if now.Sub(r.WindowStart) >= window {
		r.Failures, r.WindowStart = 0, now
	}
	return &r, nil
}

func (t *fakeTx) SaveThrottle(r *store.LoginThrottle) error {
	t.st.throttles[r.Key] = *r
	return nil
}

func (t *fakeTx) Throttle(key string) (*store.LoginThrottle, error) {
	r, ok := t.st.throttles[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &r, nil
}

func (t *fakeTx) TouchThrottle(key string, now time.Time) error {
	r := t.st.throttles[key]
	r.Key, r.WindowStart = key, now
	t.st.throttles[key] = r
	return nil
}

func (t *fakeTx) Audit(ev audit.Event) error {
	if t.failAudit != nil {
		return t.failAudit
	}
	t.st.events = append(t.st.events, ev)
	return nil
}

func (t *fakeTx) Tally(ev audit.Event, _ time.Time) error {
	if t.failAudit != nil {
		return t.failAudit
	}
	t.st.tallies = append(t.st.tallies, ev)
	return nil
}

var errAuditDown = errors.New("audit trail unavailable")
