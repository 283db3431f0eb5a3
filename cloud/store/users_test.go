package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/internal/testenv"
)

// openBoth runs fn on a fresh SQLite store and a fresh PostgreSQL one.
func openBoth(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for _, db := range []struct{ name, url string }{{"sqlite", ""}, {"postgres", "pg"}} {
		t.Run(db.name, func(t *testing.T) {
			url := db.url
			if url != "" {
				url = testenv.PostgresURL(t)
			}
			s, err := store.Open(context.Background(), url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

func newUser(email string) *store.User {
	return &store.User{Email: email, PasswordHash: "h", Roles: []string{"Viewer"}, GatewayAccess: []string{}}
}

// TestUsersRepositoryAnswersSentinels: callers branch on ErrNotFound and
// ErrConflict, never on a driver's error, on either database.
func TestUsersRepositoryAnswersSentinels(t *testing.T) {
	openBoth(t, func(t *testing.T, s *store.Store) {
		ctx, r := context.Background(), s.Users()
		if _, err := r.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		if _, err := r.SessionOwner(ctx, "no-such-jti"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown session: %v", err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		create := func(tx *store.UserTx) error {
			return tx.CreateUser(newUser("a@example.com"))
		}
		if err := r.InTx(ctx, create); err != nil {
			t.Fatal(err)
		}
		if err := r.InTx(ctx, create); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate email: %v", err)
		}
		err := r.InTx(ctx, func(tx *store.UserTx) error {
			if _, err := tx.Throttle("ip:192.0.2.1"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown throttle: %v", err)
			}
			u := newUser("b@example.com")
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			return tx.CreateSession(&store.Session{JTI: "j1", UserID: u.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		})
		if err != nil {
			t.Fatal(err)
		}
		o, err := r.SessionOwner(ctx, "j1")
		if err != nil || o.Email != "b@example.com" || o.Revoked || o.Disabled {
			t.Errorf("session owner = %+v, %v", o, err)
		}
	})
}

// TestUserTxRollsBackWithItsAuditRecord: a change and its audit record
// commit together or not at all.
func TestUserTxRollsBackWithItsAuditRecord(t *testing.T) {
	openBoth(t, func(t *testing.T, s *store.Store) {
		ctx, r := context.Background(), s.Users()
		boom := errors.New("boom")
		err := r.InTx(ctx, func(tx *store.UserTx) error {
			if err := tx.CreateUser(newUser("c@example.com")); err != nil {
				return err
			}
			if err := tx.Audit(auditrec.Event{EventType: "user.create", User: "system", ResourceID: "c@example.com",
				Action: "create", Result: auditrec.ResultSuccess}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if _, err := r.UserByEmail(ctx, "c@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rolled-back user exists: %v", err)
		}
		var n int64
		if err := s.DB.WithContext(ctx).Table("audit_log").Where("resource_id = ?", "c@example.com").Count(&n).Error; err != nil || n != 0 {
			t.Errorf("rolled-back audit records: %d, %v", n, err)
		}
	})
}

// TestPruneThrottlesKeepsWhatStillCounts: finished windows go; current
// windows, live blocks and recently touched rows stay.
func TestPruneThrottlesKeepsWhatStillCounts(t *testing.T) {
	openBoth(t, func(t *testing.T, s *store.Store) {
		ctx, r := context.Background(), s.Users()
		now := time.Now().UTC().Truncate(time.Microsecond)
		old, ttl := now.Add(-2*time.Hour), now.Add(-30*24*time.Hour)
		err := r.InTx(ctx, func(tx *store.UserTx) error {
			for _, row := range []store.LoginThrottle{
				{Key: "ip:gone", Failures: 3, WindowStart: old},
				{Key: "ip:blocked", Failures: 9, WindowStart: old, BlockedUntil: now.Add(time.Minute)},
				{Key: "ip:current", Failures: 1, WindowStart: now},
			} {
				if err := tx.SaveThrottle(&row); err != nil {
					return err
				}
			}
			if err := tx.TouchThrottle("known:a|1", old); err != nil {
				return err
			}
			return tx.TouchThrottle("known:a|2", ttl.Add(-time.Minute))
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.PruneThrottles(ctx, now, now.Add(-time.Hour), "known:", ttl); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"ip:gone": false, "ip:blocked": true, "ip:current": true, "known:a|1": true, "known:a|2": false}
		_ = r.InTx(ctx, func(tx *store.UserTx) error {
			for k, kept := range want {
				_, err := tx.Throttle(k)
				if got := err == nil; got != kept {
					t.Errorf("%s kept = %v, want %v (%v)", k, got, kept, err)
				}
			}
			return nil
		})
	})
}
