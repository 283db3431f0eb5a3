package users

import (
	"context"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/store"
)

// Repo is the database the service works on; store.Users is the real one
// (see StoreRepo), the unit tests use a fake. Reads that stand alone are
// methods here; everything that must hold together runs in one Tx.
type Repo interface {
	InTx(ctx context.Context, fn func(Tx) error) error
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	SessionOwner(ctx context.Context, jti string) (store.SessionOwner, error)
	PruneSessions(ctx context.Context, expiredBefore time.Time) error
	PruneThrottles(ctx context.Context, now, windowBefore time.Time, keepPrefix string, keepBefore time.Time) error
}

// Tx is one transaction. Lookups return store.ErrNotFound, inserts
// store.ErrConflict, for the service to turn into its own errors.
type Tx interface {
	accountRows
	sessionRows
	throttleRows
	auditTrail
}

type accountRows interface {
	UserByEmail(email string, lock bool) (*store.User, error)
	CountUsers() (int64, error)
	CreateUser(u *store.User) error
	SaveUser(u *store.User) error
	SetUserDisabled(id uint64, disabled bool) error
	ReplacePasswordHash(id uint64, old, next string) (bool, error)
	DeleteUser(id uint64) error
	EnabledUsersExcept(id uint64) ([]store.User, error)
}

type sessionRows interface {
	CreateSession(s *store.Session) error
	RevokeSession(jti string, now time.Time) (bool, error)
	RotateSession(jti string, now time.Time) (bool, error)
	RevokeUserSessions(userID uint64, now time.Time) error
}

type throttleRows interface {
	LockThrottle(key string, now time.Time, window time.Duration) (*store.LoginThrottle, error)
	SaveThrottle(r *store.LoginThrottle) error
	Throttle(key string) (*store.LoginThrottle, error)
	TouchThrottle(key string, now time.Time) error
}

// auditTrail writes audit records in the transaction of the change they
// record.
type auditTrail interface {
	Audit(ev audit.Event) error
	Tally(ev audit.Event, now time.Time) error
}

// StoreRepo is the Repo over the control plane's database.
func StoreRepo(s *store.Store) Repo { return storeRepo{s.Users()} }

type storeRepo struct{ *store.Users }

func (r storeRepo) InTx(ctx context.Context, fn func(Tx) error) error {
	return r.Users.InTx(ctx, func(t *store.UserTx) error { return fn(t) })
}
