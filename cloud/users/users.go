// Package users owns the people who use the control plane: accounts and
// their roles and gateway access, password logins with throttling, and the
// sessions (JWTs) they hold. Every change is audited in the transaction
// that makes it. The database is reached through the Repo interface only.
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

	"github.com/prometheus/client_golang/prometheus"

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
	repo          Repo
	keys          *auth.KeyRing
	log           *slog.Logger
	loginFailures prometheus.Counter
	// Now is the clock; tests move it.
	Now func() time.Time
}

// New returns the users service. Its metrics go to reg (nil: not
// exported); one service per registry.
func New(repo Repo, keys *auth.KeyRing, log *slog.Logger, reg prometheus.Registerer) *Service {
	s := &Service{repo: repo, keys: keys, log: log, Now: func() time.Time { return time.Now().UTC() },
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamforge_login_failures_total",
			Help: "Failed password logins.",
		})}
	if reg != nil {
		reg.MustRegister(s.loginFailures)
	}
	return s
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
	err = s.repo.InTx(ctx, func(tx Tx) error {
		if err := tx.CreateUser(u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return ErrExists
			}
			return fmt.Errorf("create user %s: %w", email, err)
		}
		ev := m.Event("user.create", "user", email, "create", "success")
		ev.Changes = map[string]audit.Change{
			"roles":          {Old: nil, New: u.Roles},
			"gateway_access": {Old: nil, New: nonNil(u.GatewayAccess)},
		}
		return tx.Audit(ev)
	})
	if err != nil {
		return View{}, err
	}
	return view(u), nil
}

// List returns every account, ordered by email.
func (s *Service) List(ctx context.Context) ([]View, error) {
	us, err := s.repo.ListUsers(ctx)
	if err != nil {
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
	u, err := notFound(s.repo.UserByEmail(ctx, canonical(email)))
	if err != nil {
		return View{}, err
	}
	return view(u), nil
}

// load returns the account in tx, locked for the change tx makes.
func load(tx Tx, email string) (*store.User, error) {
	return notFound(tx.UserByEmail(canonical(email), true))
}

// canonical is how accounts are looked up: the stored emails are
// normalized, the ones in paths and tokens may not be.
func canonical(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// notFound turns the store's ErrNotFound into the users' one.
func notFound(u *store.User, err error) (*store.User, error) {
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}
