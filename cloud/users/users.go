// Package users owns the people who use the control plane: accounts and
// their roles and gateway access, password logins with throttling, and the
// sessions (JWTs) they hold. Every change is audited in its own transaction.
package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Errors callers branch on; their messages are safe to show to clients.
var (
	ErrNotFound           = errs.New(errs.NotFound, "user not found")
	ErrExists             = errs.New(errs.Conflict, "user already exists")
	ErrInvalidCredentials = errs.New(errs.Unauthenticated, "invalid email or password")
	ErrLastAdmin          = errs.New(errs.Conflict, "this would leave no enabled Admin")
	ErrSelf               = errs.New(errs.Conflict, "you cannot disable or delete your own account")
)

// Meta says who asks and from where; it goes into the audit records.
type Meta = audit.Origin

// Service is the users domain.
type Service struct {
	store *store.Store
	keys  *auth.KeyRing
	log   *slog.Logger
	// Now is the clock; tests move it.
	Now func() time.Time
}

// New returns the users service.
func New(s *store.Store, keys *auth.KeyRing, log *slog.Logger) *Service {
	return &Service{store: s, keys: keys, log: log, Now: func() time.Time { return time.Now().UTC() }}
}

// View is a user as the API shows it: never the password hash.
type View struct {
	Email         string    `json:"email"`
	Roles         []string  `json:"roles"`
	GatewayAccess []string  `json:"gateway_access"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func view(u *store.User) View {
	return View{Email: u.Email, Roles: nonNil(u.Roles), GatewayAccess: nonNil(u.GatewayAccess),
		Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// NormalizeEmail lower-cases and checks an email address.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 {
		return "", errs.Invalid("email", "must be a plain email address")
	}
	return e, nil
}

func validateRoles(roles []string) error {
	if len(roles) == 0 {
		return errs.Invalid("roles", "at least one role is required")
	}
	for _, r := range roles {
		if !rbac.ValidRole(r) {
			return errs.Invalid("roles", fmt.Sprintf("unknown role %q (known: %s)", r, strings.Join(rbac.Roles(), ", ")))
		}
	}
	return nil
}

func validateAccess(access []string) error {
	for _, a := range access {
		if strings.TrimSpace(a) == "" || len(a) > 255 {
			return errs.Invalid("gateway_access", "entries must be gateway ids, site names or \"*\"")
		}
	}
	return nil
}

func dedupe(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return slices.Compact(out)
}

// CreateInput is a new account.
type CreateInput struct {
	Email         string   `json:"email"`
	Password      string   `json:"password"`
	Roles         []string `json:"roles"`
	GatewayAccess []string `json:"gateway_access"`
}

// Create adds an account.
func (s *Service) Create(ctx context.Context, m Meta, in CreateInput) (View, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return View{}, err
	}
	if err := auth.CheckPasswordPolicy(in.Password, email); err != nil {
		return View{}, errs.Invalid("password", err.Error())
	}
	if err := validateRoles(in.Roles); err != nil {
		return View{}, err
	}
	if err := validateAccess(in.GatewayAccess); err != nil {
		return View{}, err
	}
	hash, err := auth.HashPassword(ctx, in.Password)
	if err != nil {
		return View{}, err
	}
	u := &store.User{Email: email, PasswordHash: hash, Roles: dedupe(in.Roles), GatewayAccess: dedupe(in.GatewayAccess)}
	err = s.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return ErrExists
			}
			return err
		}
		ev := m.Event("user.create", "user", email, "create", "success")
		ev.Changes = map[string]audit.Change{
			"roles":          {Old: nil, New: u.Roles},
			"gateway_access": {Old: nil, New: nonNil(u.GatewayAccess)},
		}
		_, err := store.AppendAudit(tx, ev)
		return err
	})
	if err != nil {
		return View{}, err
	}
	return view(u), nil
}

// List returns every account, ordered by email.
func (s *Service) List(ctx context.Context) ([]View, error) {
	var us []store.User
	if err := s.store.DB.WithContext(ctx).Order("email").Find(&us).Error; err != nil {
		return nil, err
	}
	out := make([]View, len(us))
	for i := range us {
		out[i] = view(&us[i])
	}
	return out, nil
}

// Get returns one account.
func (s *Service) Get(ctx context.Context, email string) (View, error) {
	u, err := s.load(s.store.DB.WithContext(ctx), email, false)
	if err != nil {
		return View{}, err
	}
	return view(u), nil
}

func (s *Service) load(tx *gorm.DB, email string, lock bool) (*store.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	q := tx
	if lock && s.store.Dialect == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var u store.User
	if err := q.Where("email = ?", email).First(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return &u, nil
}
