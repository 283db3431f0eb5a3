package gateways

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/secretbind"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/pipeline"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Configs deploys signed configs and serves them to their gateways.
type Configs struct {
	repo ConfigRepo
	set  *Settings
	log  *slog.Logger
}

// NewConfigs returns the config service over repo.
func NewConfigs(repo ConfigRepo, set *Settings, log *slog.Logger) *Configs {
	return &Configs{repo: repo, set: set, log: log}
}

// MaxConfigBytes bounds a config document.
const MaxConfigBytes = 512 << 10

// Deploy stores doc (a JSON object) as the gateway's next config version,
// signed with the config signing key: the bundle is made here, once, and
// delivered byte for byte, so nothing written to the database later can
// change what a gateway accepts. The version goes past the one the gateway
// last reported applying too, since the agent refuses any version not newer
// than that (after a database restore the counter could be behind).
func (s *Configs) Deploy(ctx context.Context, m Meta, access []string, id string, doc json.RawMessage) (wire.ConfigResponse, error) {
	var obj map[string]any
	if len(doc) > MaxConfigBytes || json.Unmarshal(doc, &obj) != nil || obj == nil {
		return wire.ConfigResponse{}, &ValidationError{"config", fmt.Sprintf("must be a JSON object of at most %d bytes", MaxConfigBytes)}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return wire.ConfigResponse{}, &ValidationError{"config", "must be JSON"}
	}
	// Checked as the gateway will check it, so that a config it would
	// refuse is refused here, with the field that is wrong.
	if err := pipeline.CheckOverlay(doc); err != nil {
		return wire.ConfigResponse{}, &ValidationError{"config", err.Error()}
	}
	keys := s.set.ConfigKeys
	if keys == nil {
		return wire.ConfigResponse{}, ErrNoConfigKeys
	}
	var out wire.ConfigResponse
	err := s.repo.InTx(ctx, func(tx ConfigTx) error {
		g, err := load(tx, id, true)
		if err != nil {
			return err
		}
		if !rbac.CanAccessGateway(access, g.ID, g.Site) {
			return ErrNotFound
		}
		if err := secretbind.Check(tx, m, compact.Bytes()); err != nil {
			return err
		}
		cur, err := tx.Config(id)
		if err != nil {
			return err
		}
		version := max(cur.Version, g.AppliedConfig) + 1
		if version > wire.MaxConfigVersion {
			return &ValidationError{"config", fmt.Sprintf("the gateway's config versions have reached %d", wire.MaxConfigVersion)}
		}
		b, err := keys.Sign(id, version, compact.Bytes(), s.set.Now())
		if err != nil {
			return fmt.Errorf("sign config v%d of %s: %w", version, id, err)
		}
		bundle, err := json.Marshal(b)
		if err != nil {
			return err
		}
		next := store.GatewayConfig{GatewayID: id, Version: version, Document: compact.String(), Bundle: string(bundle),
			ETag: bundleETag(version, b), UpdatedBy: m.Actor}
		if err := tx.SaveConfig(&next); err != nil {
			return err
		}
		sum := sha256.Sum256(compact.Bytes())
		ev := m.Event("config.deploy", "gateway", id, "deploy", audit.ResultSuccess)
		ev.Resource = "gateway_config"
		ev.Changes = map[string]audit.Change{"version": {Old: cur.Version, New: next.Version}, "sha256": {New: hex.EncodeToString(sum[:])},
			"key_id": {New: b.KeyID}}
		out = wire.ConfigResponse{GatewayID: id, Version: next.Version, Config: json.RawMessage(next.Document), Bundle: &b}
		return tx.Audit(ev)
	})
	var v *secretbind.Violation
	if errors.As(err, &v) {
		// The refusal is recorded on its own: the deploy's transaction,
		// and anything it bound, rolled back.
		if aerr := s.repo.InTx(ctx, func(tx ConfigTx) error { return tx.Audit(secretbind.DeniedEvent(m, id, v)) }); aerr != nil {
			return wire.ConfigResponse{}, fmt.Errorf("audit refused config for %s: %w", id, aerr)
		}
	}
	return out, err
}

// errDryRun rolls back CheckSecrets' transaction.
var errDryRun = errors.New("dry run")

// CheckSecrets refuses doc with a *secretbind.Violation, as Deploy would,
// without writing anything but denied (its Reason set to the violation's
// message): a rollout is refused before it is stored, its waves checked
// again as Deploy writes them.
func (s *Configs) CheckSecrets(ctx context.Context, m Meta, doc json.RawMessage, denied audit.Event) error {
	err := s.repo.InTx(ctx, func(tx ConfigTx) error {
		if err := secretbind.Check(tx, m, doc); err != nil {
			return err
		}
		return errDryRun // a first use binds nothing yet
	})
	var v *secretbind.Violation
	switch {
	case errors.Is(err, errDryRun):
		return nil
	case errors.As(err, &v):
		denied.Reason = v.Error()
		if aerr := s.repo.InTx(ctx, func(tx ConfigTx) error { return tx.Audit(denied) }); aerr != nil {
			return fmt.Errorf("audit refused config: %w", aerr)
		}
	}
	return err
}

// bundleETag names a bundle: a new signature (another key) is a new ETag.
func bundleETag(version int, b wire.ConfigBundle) string {
	h := sha256.New()
	h.Write(b.Payload)
	h.Write(b.Signature)
	return fmt.Sprintf(`"v%d-%s"`, version, hex.EncodeToString(h.Sum(nil)[:8]))
}

// ServedETag is the ETag of a config answer: the stored config's, and the
// newest signing key's id, so that after a rotation every gateway fetches
// its config once more and learns the new key from its endorsement chain.
func (s *Configs) ServedETag(stored string) string {
	if s.set.ConfigKeys == nil {
		return stored
	}
	sum := sha256.Sum256([]byte(s.set.ConfigKeys.Newest()))
	return strings.TrimSuffix(stored, `"`) + "-k" + hex.EncodeToString(sum[:4]) + `"`
}

// Current returns the deployed config of gateway id and its ETag: the
// signed bundle as stored, with the chain of key endorsements up to its
// key. It checks no signature: the gateway does, which is the point.
func (s *Configs) Current(ctx context.Context, id string) (wire.ConfigResponse, string, error) {
	c, err := s.repo.Config(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return wire.ConfigResponse{}, "", ErrNoConfig
	}
	if err != nil {
		return wire.ConfigResponse{}, "", err
	}
	out := wire.ConfigResponse{GatewayID: id, Version: c.Version, Config: json.RawMessage(c.Document)}
	if c.Bundle != "" {
		var b wire.ConfigBundle
		if err := json.Unmarshal([]byte(c.Bundle), &b); err != nil {
			// Served anyway, unsigned: the gateway refuses it and says so.
			s.log.Error("stored config bundle is not JSON", "gateway_id", id, "version", c.Version)
		} else {
			out.Bundle = &b
			if s.set.ConfigKeys != nil {
				out.SigningKeys = s.set.ConfigKeys.Chain(b.KeyID, s.set.Now())
			}
		}
	}
	return out, s.ServedETag(c.ETag), nil
}

// errUnverified answers a delivery for a config whose bundle does not
// verify: written into the database without the signing key, or damaged.
var errUnverified = errs.New(errs.Conflict, "the config deployed to this gateway does not verify against the config signing keys: deploy it again")

// Config returns the config deployed to gateway id as its signed bundle
// says (version and document), store.ErrNotFound when there is none: what
// the cloud itself acts on (the secrets it delivers, cloud/secrets) is
// what the agent would accept, never a document column edited in the
// database.
func (s *Configs) Config(ctx context.Context, id string) (*store.GatewayConfig, error) {
	c, err := s.repo.Config(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.set.ConfigKeys == nil {
		return nil, ErrNoConfigKeys
	}
	var b wire.ConfigBundle
	p, err := wire.BundlePayload{}, json.Unmarshal([]byte(c.Bundle), &b)
	if err == nil {
		p, err = s.set.ConfigKeys.VerifyBundle(b)
	}
	if err == nil && p.GatewayID != id {
		err = fmt.Errorf("the bundle is %s's", p.GatewayID)
	}
	if err != nil {
		s.log.Error("a deployed config does not verify: written without the signing key, or damaged", "gateway_id", id, "err", err)
		return nil, errUnverified
	}
	out := *c
	out.Version, out.Document = p.Version, string(p.Config)
	return &out, nil
}
