// Package serviceaccounts owns the control plane's non-human users (the
// Copilot, scripts): an Admin creates one with roles and gateway access and
// issues it API tokens that expire and can be revoked. A token is shown
// once; the database keeps only its public prefix and the SHA-256 of its
// secret. Tokens authenticate like user sessions: to the same claims.
package serviceaccounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// TokenPrefix starts every service account token, so the API can tell one
// from a user's JWT without trying to parse it (and secret scanners can
// find a leaked one).
const TokenPrefix = "sfsa_"

// SubjectPrefix marks a service account in claims and audit records, so no
// record can be mistaken for a person's.
const SubjectPrefix = "sa:"

// Token lifetimes.
const (
	DefaultTokenLifetime = 30 * 24 * time.Hour
	MaxTokenLifetime     = 365 * 24 * time.Hour
)

// Errors clients see.
var (
	ErrNotFound      = errs.New(errs.NotFound, "no such service account")
	ErrTokenNotFound = errs.New(errs.NotFound, "no such token of this service account")
	ErrExists        = errs.New(errs.Conflict, "a service account with this name exists")
)

// Repo is what the service needs of the store (store.ServiceAccounts).
type Repo interface {
	Create(ctx context.Context, a store.ServiceAccount, ev audit.Event) (store.ServiceAccount, error)
	List(ctx context.Context) ([]store.ServiceAccount, error)
	Get(ctx context.Context, name string) (store.ServiceAccount, error)
	Delete(ctx context.Context, name string, ev audit.Event) error
	CreateToken(ctx context.Context, name string, t store.ServiceAccountToken, ev audit.Event) (store.ServiceAccountToken, error)
	Tokens(ctx context.Context, name string) ([]store.ServiceAccountToken, error)
	RevokeToken(ctx context.Context, name string, id uint64, now time.Time, ev audit.Event) error
	TokenByPrefix(ctx context.Context, prefix string) (store.ServiceAccountToken, store.ServiceAccount, error)
}

// Service is the service accounts domain.
type Service struct {
	repo Repo
	// Now is the clock; tests move it.
	Now func() time.Time
}

// New returns the service over repo.
func New(repo Repo) *Service {
	return &Service{repo: repo, Now: func() time.Time { return time.Now().UTC() }}
}

// Origin says who acts, for the audit trail.
type Origin = audit.Origin

// Account is a service account as the API shows it.
type Account struct {
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	Roles         []string  `json:"roles"`
	GatewayAccess []string  `json:"gateway_access"`
	CreatedBy     string    `json:"created_by"`
	CreatedAt     time.Time `json:"created_at"`
	// Subject is how the account appears in audit records.
	Subject string `json:"subject"`
}

// TokenView is a token as listed: never its secret.
type TokenView struct {
	ID        uint64     `json:"id"`
	Prefix    string     `json:"prefix"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
}

// IssuedToken is a new token: Token is shown this once.
type IssuedToken struct {
	TokenView
	Token string `json:"token"`
}

// CreateInput is a new account.
type CreateInput struct {
	Name          string   `json:"name"`
	Description   string   `json:"description"`
	Roles         []string `json:"roles"`
	GatewayAccess []string `json:"gateway_access"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

func (in CreateInput) validate() error {
	if !nameRE.MatchString(in.Name) {
		return errs.Invalid("name", "1-64 of [a-z0-9_.-], starting with a letter or digit")
	}
	if len(in.Roles) == 0 {
		return errs.Invalid("roles", "at least one role")
	}
	for _, r := range in.Roles {
		switch {
		case !rbac.ValidRole(r):
			return errs.Invalid("roles", fmt.Sprintf("unknown role %q", r))
		case r == rbac.Admin:
			// A leaked token of an Admin account would own the control
			// plane; people hold that role, with their own sessions.
			return errs.Invalid("roles", "a service account cannot be an Admin")
		}
	}
	if len(in.Description) > 1024 {
		return errs.Invalid("description", "at most 1024 bytes")
	}
	for _, a := range in.GatewayAccess {
		if strings.TrimSpace(a) == "" || len(a) > 255 {
			return errs.Invalid("gateway_access", "entries are gateway ids, site names or \"*\" (1-255 bytes)")
		}
	}
	return nil
}

func view(a store.ServiceAccount) Account {
	return Account{Name: a.Name, Description: a.Description, Roles: nonNil(a.Roles), GatewayAccess: nonNil(a.GatewayAccess),
		CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt, Subject: SubjectPrefix + a.Name}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Create makes a service account.
func (s *Service) Create(ctx context.Context, o Origin, in CreateInput) (Account, error) {
	if err := in.validate(); err != nil {
		return Account{}, err
	}
	roles, access := nonNil(slices.Compact(slices.Sorted(slices.Values(in.Roles)))), nonNil(slices.Compact(slices.Sorted(slices.Values(in.GatewayAccess))))
	ev := o.Event("service_account.create", "service_account", in.Name, "create", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"roles": {New: roles}, "gateway_access": {New: access}}
	a, err := s.repo.Create(ctx, store.ServiceAccount{Name: in.Name, Description: in.Description, Roles: roles,
		GatewayAccess: access, CreatedBy: o.Actor, CreatedAt: s.Now()}, ev)
	if errors.Is(err, store.ErrConflict) {
		return Account{}, ErrExists
	}
	if err != nil {
		return Account{}, fmt.Errorf("create service account %s: %w", in.Name, err)
	}
	return view(a), nil
}

// List returns every service account.
func (s *Service) List(ctx context.Context) ([]Account, error) {
	as, err := s.repo.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Account, len(as))
	for i, a := range as {
		out[i] = view(a)
	}
	return out, nil
}

// Get returns the account called name.
func (s *Service) Get(ctx context.Context, name string) (Account, error) {
	a, err := s.repo.Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return Account{}, ErrNotFound
	}
	return view(a), err
}

// Delete removes the account called name; its tokens stop working at once.
func (s *Service) Delete(ctx context.Context, o Origin, name string) error {
	ev := o.Event("service_account.delete", "service_account", name, "delete", audit.ResultSuccess)
	err := s.repo.Delete(ctx, name, ev)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// IssueToken makes a token for the account called name that expires after
// lifetime (0: DefaultTokenLifetime). Its secret is in the answer only.
func (s *Service) IssueToken(ctx context.Context, o Origin, name string, lifetime time.Duration) (IssuedToken, error) {
	switch {
	case lifetime == 0:
		lifetime = DefaultTokenLifetime
	case lifetime < time.Minute || lifetime > MaxTokenLifetime:
		return IssuedToken{}, errs.Invalid("expires_in", "between 1m and 8760h")
	}
	prefix, secret := make([]byte, 8), make([]byte, 32)
	if _, err := rand.Read(prefix); err != nil {
		return IssuedToken{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return IssuedToken{}, err
	}
	now := s.Now().Truncate(time.Second)
	t := store.ServiceAccountToken{Prefix: hex.EncodeToString(prefix), Hash: hashSecret(secret),
		ExpiresAt: now.Add(lifetime), CreatedBy: o.Actor, CreatedAt: now}
	ev := o.Event("service_account.token.create", "service_account", name, "create_token", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"token_prefix": {New: t.Prefix}, "expires_at": {New: t.ExpiresAt}}
	t, err := s.repo.CreateToken(ctx, name, t, ev)
	if errors.Is(err, store.ErrNotFound) {
		return IssuedToken{}, ErrNotFound
	}
	if err != nil {
		return IssuedToken{}, fmt.Errorf("issue token for %s: %w", name, err)
	}
	return IssuedToken{TokenView: tokenView(t), Token: TokenPrefix + t.Prefix + "." + base64.RawURLEncoding.EncodeToString(secret)}, nil
}

// hashSecret: the secret is 256 random bits, so a fast hash suffices (there
// is no dictionary to search), and a slow one would cost every API call.
func hashSecret(secret []byte) string {
	h := sha256.Sum256(secret)
	return hex.EncodeToString(h[:])
}

func tokenView(t store.ServiceAccountToken) TokenView {
	return TokenView{ID: t.ID, Prefix: t.Prefix, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt}
}

// Tokens lists the account's tokens (never their secrets).
func (s *Service) Tokens(ctx context.Context, name string) ([]TokenView, error) {
	ts, err := s.repo.Tokens(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := make([]TokenView, len(ts))
	for i, t := range ts {
		out[i] = tokenView(t)
	}
	return out, nil
}

// RevokeToken revokes token id of the account called name, at once.
func (s *Service) RevokeToken(ctx context.Context, o Origin, name string, id uint64) error {
	ev := o.Event("service_account.token.revoke", "service_account", name, "revoke_token", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"token_id": {New: id}}
	err := s.repo.RevokeToken(ctx, name, id, s.Now(), ev)
	if errors.Is(err, store.ErrNotFound) {
		return ErrTokenNotFound
	}
	return err
}

// IsToken reports whether token has the form of a service account token.
func IsToken(token string) bool { return strings.HasPrefix(token, TokenPrefix) }

// Authenticate checks a service account token and returns the claims it
// carries: the account's roles and gateway access, expiring with the
// token. Every refusal is auth.ErrInvalidToken.
func (s *Service) Authenticate(ctx context.Context, token string) (*auth.Claims, error) {
	prefix, secret, ok := strings.Cut(strings.TrimPrefix(token, TokenPrefix), ".")
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if !ok || !IsToken(token) || len(prefix) != 16 || err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("%w: malformed service account token", auth.ErrInvalidToken)
	}
	t, a, err := s.repo.TokenByPrefix(ctx, prefix)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: unknown service account token", auth.ErrInvalidToken)
	case err != nil:
		return nil, err
	case subtle.ConstantTimeCompare([]byte(hashSecret(raw)), []byte(t.Hash)) != 1:
		return nil, fmt.Errorf("%w: wrong service account token secret", auth.ErrInvalidToken)
	case t.RevokedAt != nil:
		return nil, fmt.Errorf("%w: service account token revoked", auth.ErrInvalidToken)
	case !s.Now().Before(t.ExpiresAt):
		return nil, fmt.Errorf("%w: service account token expired", auth.ErrInvalidToken)
	case a.Disabled:
		return nil, fmt.Errorf("%w: service account disabled", auth.ErrInvalidToken)
	}
	return &auth.Claims{
		Roles: nonNil(a.Roles), Permissions: rbac.Permissions(a.Roles), GatewayAccess: nonNil(a.GatewayAccess),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: SubjectPrefix + a.Name, Issuer: auth.Issuer, Audience: jwt.ClaimStrings{auth.AudienceUser},
			IssuedAt: jwt.NewNumericDate(t.CreatedAt), ExpiresAt: jwt.NewNumericDate(t.ExpiresAt),
			ID: "sat-" + strconv.FormatUint(t.ID, 10),
		},
	}, nil
}
