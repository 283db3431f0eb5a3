package gateways

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// MaxConfigBytes bounds a config document.
const MaxConfigBytes = 512 << 10

// Deploy stores doc (a JSON object) as the gateway's next config version.
func (s *Service) Deploy(ctx context.Context, m Meta, access []string, id string, doc json.RawMessage) (wire.ConfigResponse, error) {
	var obj map[string]any
	if len(doc) > MaxConfigBytes || json.Unmarshal(doc, &obj) != nil || obj == nil {
		return wire.ConfigResponse{}, &ValidationError{"config", fmt.Sprintf("must be a JSON object of at most %d bytes", MaxConfigBytes)}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return wire.ConfigResponse{}, &ValidationError{"config", "must be JSON"}
	}
	var out wire.ConfigResponse
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		g, err := s.load(tx, id, true)
		if err != nil {
			return err
		}
		if !rbac.CanAccessGateway(access, g.ID, g.Site) {
			return ErrNotFound
		}
		var cur store.GatewayConfig
		if err := tx.Where("gateway_id = ?", id).Limit(1).Find(&cur).Error; err != nil {
			return err
		}
		next := store.GatewayConfig{GatewayID: id, Version: cur.Version + 1, Document: compact.String(), UpdatedBy: m.Actor}
		sum := sha256.Sum256(compact.Bytes())
		next.ETag = fmt.Sprintf(`"v%d-%s"`, next.Version, hex.EncodeToString(sum[:8]))
		if err := tx.Save(&next).Error; err != nil {
			return err
		}
		ev := m.Event("config.deploy", "gateway", id, "deploy", audit.ResultSuccess)
		ev.Resource = "gateway_config"
		ev.Changes = map[string]audit.Change{"version": {Old: cur.Version, New: next.Version}, "sha256": {New: hex.EncodeToString(sum[:])}}
		out = wire.ConfigResponse{GatewayID: id, Version: next.Version, Config: json.RawMessage(next.Document)}
		return appendAudit(tx, ev)
	})
	return out, err
}

// Current returns the deployed config of gateway id and its ETag.
func (s *Service) Current(ctx context.Context, id string) (wire.ConfigResponse, string, error) {
	var c store.GatewayConfig
	err := s.store.DB.WithContext(ctx).Where("gateway_id = ?", id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return wire.ConfigResponse{}, "", ErrNoConfig
	}
	if err != nil {
		return wire.ConfigResponse{}, "", err
	}
	return wire.ConfigResponse{GatewayID: id, Version: c.Version, Config: json.RawMessage(c.Document)}, c.ETag, nil
}
