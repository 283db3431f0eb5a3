// Package secrets owns the secret values that gateway configs reference as
// `${secret:name}`: it stores them sealed (cloud/secretbox: envelope
// encryption with a key outside the database), lists their names and
// metadata, and hands values to one gateway only: the ones its deployed
// config references. No answer of this package to a user carries a value,
// and audit records name secrets, never values.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/secretbind"
	"github.com/streamforge/streamforge/cloud/secretbox"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/secret"
	"github.com/streamforge/streamforge/pkg/secretdest"
	"github.com/streamforge/streamforge/pkg/secretprot"
)

// MaxValueBytes bounds a value (passwords and tokens: what a config
// references); a value is one line: the API refuses control characters,
// line breaks included, in it.
const MaxValueBytes = 16 << 10

// Client errors.
var (
	ErrNotFound = errs.New(errs.NotFound, "no such secret")
	ErrExists   = errs.New(errs.Conflict, "a secret with this name exists")
	ErrNoConfig = errs.New(errs.NotFound, "no config is deployed to this gateway")
)

// nameRE is the name a `${secret:name}` reference can carry.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// Repo is the storage the service needs (store.Secrets).
type Repo interface {
	Create(ctx context.Context, v store.SecretValue, ev audit.Event) (store.SecretValue, error)
	Update(ctx context.Context, v store.SecretValue, desc, dests, prot *string, ev audit.Event, before func(store.SecretValue, *audit.Event)) (store.SecretValue, error)
	Delete(ctx context.Context, name string, ev audit.Event) error
	List(ctx context.Context) ([]store.SecretValue, error)
	Get(ctx context.Context, name string) (store.SecretValue, error)
	Rewrap(ctx context.Context, name, keyID string, dataKey []byte) error
	Deliver(ctx context.Context, names []string, ev audit.Event) ([]store.SecretValue, error)
}

// Configs gives a gateway's deployed config as its signed bundle says
// (gateways.Configs.Config): a document column edited in the database
// names no secret.
type Configs interface {
	Config(ctx context.Context, gatewayID string) (*store.GatewayConfig, error)
}

// Origin says who acts, for the audit trail.
type Origin = audit.Origin

// Metadata is what users see of a secret: never its value.
// Destinations are where configs may send it (empty: not bound yet),
// MinProtection the least protection they must send it with (empty: not
// bound yet).
type Metadata struct {
	Name          string                `json:"name"`
	Description   string                `json:"description"`
	Destinations  []string              `json:"destinations"`
	MinProtection secretprot.Protection `json:"min_protection"`
	Version       int                   `json:"version"`
	KeyID         string                `json:"key_id"`
	CreatedBy     string                `json:"created_by"`
	UpdatedBy     string                `json:"updated_by"`
	CreatedAt     time.Time             `json:"created_at"`
	UpdatedAt     time.Time             `json:"updated_at"`
}

func metadata(v store.SecretValue) (Metadata, error) {
	prot, err := secretprot.Decode(v.Protection)
	if err != nil {
		return Metadata{}, fmt.Errorf("secret %s: %w", v.Name, err)
	}
	return Metadata{Name: v.Name, Description: v.Description, Destinations: secretbind.Split(v.Destinations), MinProtection: prot,
		Version: v.Version, KeyID: v.KeyID, CreatedBy: v.CreatedBy, UpdatedBy: v.UpdatedBy, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}, nil
}

// Service is the secrets domain logic.
type Service struct {
	repo    Repo
	configs Configs
	box     *secretbox.Box
}

// New returns the service.
func New(repo Repo, configs Configs, box *secretbox.Box) *Service {
	return &Service{repo: repo, configs: configs, box: box}
}

// redactedChange is the only change a value's audit record shows.
var redactedChange = audit.Change{Old: secret.Redacted, New: secret.Redacted}

func validate(name, value string, needValue bool) error {
	// Only dots would be a path segment that clients resolve away ("."
	// or ".."): the secret could never be changed or deleted.
	if !nameRE.MatchString(name) || strings.Trim(name, ".") == "" {
		return errs.Invalid("name", "1 to 128 of A-Z a-z 0-9 _ . - (what ${secret:name} can name), not only dots")
	}
	if needValue && value == "" {
		return errs.Invalid("value", "must be set")
	}
	if len(value) > MaxValueBytes {
		return errs.Invalid("value", fmt.Sprintf("at most %d bytes", MaxValueBytes))
	}
	return nil
}

// MaxDestinations bounds a secret's destinations.
const MaxDestinations = 64

// validDestinations refuses a destination that is neither host:port (a
// Kafka broker) nor a URL with a host (an OPC UA endpoint).
func validDestinations(ds []string) error {
	if len(ds) > MaxDestinations {
		return errs.Invalid("destinations", fmt.Sprintf("at most %d", MaxDestinations))
	}
	for i, d := range ds {
		if !secretdest.Valid(d) {
			return errs.Invalid(fmt.Sprintf("destinations[%d]", i), "want a broker host:port or an endpoint URL (opc.tcp://host:port/path) of at most 512 bytes")
		}
	}
	return nil
}

// validProtection refuses a protection with a property of no known value.
func validProtection(p *secretprot.Protection) error {
	if p == nil {
		return nil
	}
	if field, msg := p.Valid(); field != "" {
		return errs.Invalid("min_protection."+field, msg)
	}
	return nil
}

// Create stores a new secret, bound to destinations when there are any
// and to prot when not nil (else the first config that uses it binds
// them: cloud/secretbind).
func (s *Service) Create(ctx context.Context, o Origin, name, value, description string, destinations []string, prot *secretprot.Protection) (Metadata, error) {
	if err := validate(name, value, true); err != nil {
		return Metadata{}, err
	}
	if err := errs.Description(&description); err != nil {
		return Metadata{}, err
	}
	if err := validDestinations(destinations); err != nil {
		return Metadata{}, err
	}
	if err := validProtection(prot); err != nil {
		return Metadata{}, err
	}
	var bound secretprot.Protection
	if prot != nil {
		bound = *prot
	}
	sealed, err := s.box.Seal(name, []byte(value))
	if err != nil {
		return Metadata{}, fmt.Errorf("seal secret %s: %w", name, err)
	}
	ev := o.Event("secret.create", "secret", name, "create", audit.ResultSuccess)
	dests := secretbind.Join(destinations)
	ev.Changes = map[string]audit.Change{"value": {New: secret.Redacted}, "key_id": {New: sealed.KeyID},
		"destinations": {New: secretbind.Split(dests)}, "min_protection": {New: bound.String()}}
	v, err := s.repo.Create(ctx, store.SecretValue{Name: name, Description: description, Destinations: dests, Protection: bound.Encode(), KeyID: sealed.KeyID,
		DataKey: sealed.DataKey, Ciphertext: sealed.Ciphertext, CreatedBy: o.Actor, UpdatedBy: o.Actor}, ev)
	if errors.Is(err, store.ErrConflict) {
		return Metadata{}, ErrExists
	}
	if err != nil {
		return Metadata{}, fmt.Errorf("create secret %s: %w", name, err)
	}
	return metadata(v)
}

// Update replaces a secret's value, its description when not nil and its
// destinations when not nil (an empty list unbinds it: the next config
// that uses it binds it again) and its minimum protection when not nil
// (lowering it is how an Admin allows a weaker one; empty unbinds it).
// With destinations or protection given, the value may be left out: it
// is kept.
func (s *Service) Update(ctx context.Context, o Origin, name, value string, description *string, destinations *[]string, prot *secretprot.Protection) (Metadata, error) {
	if err := validate(name, value, destinations == nil && prot == nil); err != nil {
		return Metadata{}, err
	}
	if err := errs.Description(description); err != nil {
		return Metadata{}, err
	}
	ev := o.Event("secret.update", "secret", name, "update", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{}
	row := store.SecretValue{Name: name, UpdatedBy: o.Actor}
	if value != "" {
		sealed, err := s.box.Seal(name, []byte(value))
		if err != nil {
			return Metadata{}, fmt.Errorf("seal secret %s: %w", name, err)
		}
		row.KeyID, row.DataKey, row.Ciphertext = sealed.KeyID, sealed.DataKey, sealed.Ciphertext
		ev.Changes["value"], ev.Changes["key_id"] = redactedChange, audit.Change{New: sealed.KeyID}
	}
	var dests *string
	if destinations != nil {
		if err := validDestinations(*destinations); err != nil {
			return Metadata{}, err
		}
		d := secretbind.Join(*destinations)
		dests = &d
	}
	if err := validProtection(prot); err != nil {
		return Metadata{}, err
	}
	var stored *string
	if prot != nil {
		p := prot.Encode()
		stored = &p
	}
	before := func(cur store.SecretValue, ev *audit.Event) {
		if dests != nil {
			ev.Changes["destinations"] = audit.Change{Old: secretbind.Split(cur.Destinations), New: secretbind.Split(*dests)}
		}
		if prot != nil {
			old, _ := secretprot.Decode(cur.Protection) // a broken one shows as none bound
			ev.Changes["min_protection"] = audit.Change{Old: old.String(), New: prot.String()}
		}
	}
	v, err := s.repo.Update(ctx, row, description, dests, stored, ev, before)
	if errors.Is(err, store.ErrNotFound) {
		return Metadata{}, ErrNotFound
	}
	if err != nil {
		return Metadata{}, fmt.Errorf("update secret %s: %w", name, err)
	}
	return metadata(v)
}

// Delete removes a secret. Gateways whose configs reference it keep the
// value they hold until their next config needs it again.
func (s *Service) Delete(ctx context.Context, o Origin, name string) error {
	ev := o.Event("secret.delete", "secret", name, "delete", audit.ResultSuccess)
	err := s.repo.Delete(ctx, name, ev)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// List returns the secrets' metadata.
func (s *Service) List(ctx context.Context) ([]Metadata, error) {
	vs, err := s.repo.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	out := make([]Metadata, 0, len(vs))
	for _, v := range vs {
		m, err := metadata(v)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Get returns one secret's metadata.
func (s *Service) Get(ctx context.Context, name string) (Metadata, error) {
	v, err := s.repo.Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return Metadata{}, ErrNotFound
	}
	if err != nil {
		return Metadata{}, err
	}
	return metadata(v)
}

// RewrapAll moves every value to the newest key-encryption key, after
// secretbox.Box.Rotate; then older key files can be deleted. It returns
// how many values were rewrapped.
func (s *Service) RewrapAll(ctx context.Context) (int, error) {
	vs, err := s.repo.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("list secrets: %w", err)
	}
	n := 0
	for _, v := range vs {
		r, err := s.box.Rewrap(v.Name, secretbox.Sealed{KeyID: v.KeyID, DataKey: v.DataKey, Ciphertext: v.Ciphertext})
		if err != nil {
			return n, err
		}
		if r.KeyID == v.KeyID {
			continue
		}
		if err := s.repo.Rewrap(ctx, v.Name, r.KeyID, r.DataKey); err != nil {
			return n, fmt.Errorf("rewrap secret %s: %w", v.Name, err)
		}
		n++
	}
	return n, nil
}

// Delivery is what a gateway receives: the values its deployed config
// version references with the destinations each may be sent to and the
// least protection it must be sent with, and the names it references that
// do not exist.
type Delivery struct {
	ConfigVersion int                              `json:"config_version"`
	Values        map[string]secret.Secret         `json:"-"`
	Destinations  map[string][]string              `json:"destinations"`
	Protection    map[string]secretprot.Protection `json:"protection"`
	Missing       []string                         `json:"missing"`
}

// ForGateway returns the secrets that gateway id's deployed config
// references, and audits the delivery (names only). The caller has
// authenticated the gateway by its certificate.
func (s *Service) ForGateway(ctx context.Context, o Origin, id string) (Delivery, error) {
	c, err := s.configs.Config(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Delivery{}, ErrNoConfig
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("config of %s: %w", id, err)
	}
	names, err := secret.Names([]byte(c.Document))
	if err != nil {
		return Delivery{}, fmt.Errorf("config of %s: %w", id, err)
	}
	ev := o.Event("secret.deliver", "gateway", id, "deliver", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"secrets": {New: names}, "config_version": {New: c.Version}}
	vs, err := s.repo.Deliver(ctx, names, ev)
	if err != nil {
		return Delivery{}, fmt.Errorf("deliver secrets to %s: %w", id, err)
	}
	// A secret not bound yet (created after this config was signed, or
	// unbound by an Admin) goes where this signed config sends it, as
	// its next deploy would bind it.
	own, err := secretdest.Uses([]byte(c.Document))
	if err != nil {
		return Delivery{}, fmt.Errorf("config of %s: %w", id, err)
	}
	d := Delivery{ConfigVersion: c.Version, Values: map[string]secret.Secret{}, Destinations: map[string][]string{},
		Protection: map[string]secretprot.Protection{}, Missing: []string{}}
	for _, v := range vs {
		plain, err := s.box.Open(v.Name, secretbox.Sealed{KeyID: v.KeyID, DataKey: v.DataKey, Ciphertext: v.Ciphertext})
		if err != nil {
			return Delivery{}, err
		}
		d.Values[v.Name] = secret.New(string(plain))
		d.Destinations[v.Name] = secretbind.Split(v.Destinations)
		if v.Destinations == "" {
			d.Destinations[v.Name] = secretdest.Of(own, v.Name)
		}
		// Likewise a protection not bound (kinds not bound) is the one
		// this signed config sends it with.
		prot, err := secretprot.Decode(v.Protection)
		if err != nil {
			return Delivery{}, fmt.Errorf("secret %s: %w", v.Name, err)
		}
		d.Protection[v.Name] = prot.Fill(secretdest.ProtectionOf(own, v.Name))
	}
	for _, n := range names {
		if _, ok := d.Values[n]; !ok {
			d.Missing = append(d.Missing, n)
		}
	}
	return d, nil
}
