package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// Gateways is the repository of gateways, their enrollment tokens, gateway
// tokens, challenges, configs and heartbeats. Reads run on their own;
// changes run in a GatewayTx so that a change and its audit record commit
// together. Missing rows are ErrNotFound.
type Gateways struct{ s *Store }

// Gateways returns the gateway repository.
func (s *Store) Gateways() *Gateways { return &Gateways{s: s} }

// GatewayTx is one transaction of the gateway repository.
type GatewayTx struct {
	s  *Store
	tx *gorm.DB
}

// InTx runs fn in one transaction.
func (r *Gateways) InTx(ctx context.Context, fn func(*GatewayTx) error) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error { return fn(&GatewayTx{s: r.s, tx: tx}) })
}

func (r *Gateways) db(ctx context.Context) *gorm.DB { return r.s.DB.WithContext(ctx) }

// notFound maps GORM's missing row onto ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

func takeGateway(q *gorm.DB, id string) (*Gateway, error) {
	var g Gateway
	if err := q.Where("id = ?", id).Take(&g).Error; err != nil {
		return nil, notFound(err)
	}
	return &g, nil
}

// Gateway returns gateway id.
func (r *Gateways) Gateway(ctx context.Context, id string) (*Gateway, error) {
	return takeGateway(r.db(ctx), id)
}

// DeployedVersion returns the version of gateway id's deployed config (0:
// none).
func (r *Gateways) DeployedVersion(ctx context.Context, id string) (int, error) {
	var c GatewayConfig
	err := r.db(ctx).Where("gateway_id = ?", id).Limit(1).Find(&c).Error
	return c.Version, err
}

// Config returns gateway id's deployed config.
func (r *Gateways) Config(ctx context.Context, id string) (*GatewayConfig, error) {
	var c GatewayConfig
	if err := r.db(ctx).Where("gateway_id = ?", id).Take(&c).Error; err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// DeployedVersions returns the deployed config version of each of ids that
// has one.
func (r *Gateways) DeployedVersions(ctx context.Context, ids []string) (map[string]int, error) {
	out := make(map[string]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var cs []GatewayConfig
	if err := r.db(ctx).Select("gateway_id", "version").Where("gateway_id IN ?", ids).Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("deployed config versions: %w", err)
	}
	for _, c := range cs {
		out[c.GatewayID] = c.Version
	}
	return out, nil
}

// SiteOf returns the site of gateway id ("" when it has none or does not
// exist).
func (r *Gateways) SiteOf(ctx context.Context, id string) string {
	var g Gateway
	if err := r.db(ctx).Select("site").Where("id = ?", id).Take(&g).Error; err != nil {
		return ""
	}
	return g.Site
}

// SiteInUse reports whether a gateway or an enrollment token is at site
// (true when the database cannot tell: callers use it to refuse).
func (r *Gateways) SiteInUse(ctx context.Context, site string) bool {
	var n int64
	if err := r.db(ctx).Model(&Gateway{}).Where("site = ?", site).Limit(1).Count(&n).Error; err != nil || n > 0 {
		return true
	}
	if err := r.db(ctx).Model(&EnrollmentToken{}).Where("site = ?", site).Limit(1).Count(&n).Error; err != nil || n > 0 {
		return true
	}
	return false
}

// EnrollmentTokens lists every enrollment token, newest first.
func (r *Gateways) EnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error) {
	var ts []EnrollmentToken
	err := r.db(ctx).Order("created_at DESC").Find(&ts).Error
	return ts, err
}

// usable selects the enrollment token with hash that can enroll at now.
func usable(q *gorm.DB, hash string, now time.Time) *gorm.DB {
	return q.Where("token_hash = ? AND revoked_at IS NULL AND expires_at > ? AND uses < max_uses", hash, now)
}

// EnrollmentTokenUsable reports whether the token with hash could enroll a
// gateway at now.
func (r *Gateways) EnrollmentTokenUsable(ctx context.Context, hash string, now time.Time) (bool, error) {
	var n int64
	err := usable(r.db(ctx).Model(&EnrollmentToken{}), hash, now).Count(&n).Error
	return n > 0, err
}

// BlockedFor returns how long throttle key is still blocked (0: not).
func (r *Gateways) BlockedFor(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	return r.s.BlockedFor(r.db(ctx), key, now)
}

// GatewayTokenAuth is what a gateway request needs to know about its token
// and its gateway, read in one query.
type GatewayTokenAuth struct {
	JTI           string
	GatewayID     string
	RevokedAt     *time.Time
	Status        string
	IdentityKind  string
	EnrollmentID  string
	ETag          *string // nil: no config deployed
	LastSeenAt    *time.Time
	AgentVersion  string
	AppliedConfig int
}

// TokenAuths returns the rows of the gateway tokens jtis that exist.
func (r *Gateways) TokenAuths(ctx context.Context, jtis []string) ([]GatewayTokenAuth, error) {
	var rows []GatewayTokenAuth
	err := r.db(ctx).Table("gateway_tokens").
		Select("gateway_tokens.jti, gateway_tokens.gateway_id, gateway_tokens.revoked_at, gateways.status, gateways.identity_kind, gateways.enrollment_id, "+
			"gateway_configs.e_tag AS e_tag, gateways.last_seen_at, gateways.agent_version, gateways.applied_config").
		Joins("JOIN gateways ON gateways.id = gateway_tokens.gateway_id").
		Joins("LEFT JOIN gateway_configs ON gateway_configs.gateway_id = gateway_tokens.gateway_id").
		Where("gateway_tokens.jti IN ?", jtis).Find(&rows).Error
	return rows, err
}

// Gateway returns gateway id, locked until the transaction ends when lock
// is set (FOR UPDATE on PostgreSQL; SQLite transactions hold the write
// lock from their start).
func (t *GatewayTx) Gateway(id string, lock bool) (*Gateway, error) {
	q := t.tx
	if lock && t.s.Dialect == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return takeGateway(q, id)
}

// SaveGateway writes every field of g, creating it if new.
func (t *GatewayTx) SaveGateway(g *Gateway) error { return t.tx.Save(g).Error }

// DeleteGateway removes g with its tokens, config, heartbeats and
// challenges.
func (t *GatewayTx) DeleteGateway(g *Gateway) error {
	// Its alarms too: left behind, they would belong to whichever gateway
	// takes the id next, at whatever site.
	for _, model := range []any{&GatewayToken{}, &GatewayConfig{}, &GatewayHeartbeat{}, &GatewayChallenge{}, &Alarm{}} {
		if err := t.tx.Where("gateway_id = ?", g.ID).Delete(model).Error; err != nil {
			return err
		}
	}
	return t.tx.Delete(g).Error
}

// Audit appends ev to the audit chain in this transaction.
func (t *GatewayTx) Audit(ev auditrec.Event) error {
	if _, err := AppendAudit(t.tx, ev); err != nil {
		return fmt.Errorf("audit %s: %w", ev.EventType, err)
	}
	return nil
}

// Bump counts one failure for throttle key (see Store.Bump).
func (t *GatewayTx) Bump(key string, now time.Time, window time.Duration, until func(int, time.Time) time.Time) error {
	_, err := t.s.Bump(t.tx, key, now, window, until)
	return err
}

// AddChallenge stores c, dropping the challenges expired at now.
func (t *GatewayTx) AddChallenge(c *GatewayChallenge, now time.Time) error {
	if err := t.tx.Where("expires_at < ?", now).Delete(&GatewayChallenge{}).Error; err != nil {
		return err
	}
	return t.tx.Create(c).Error
}

// UseChallenge deletes the challenge nonce of gatewayID if it is live at
// now; ErrNotFound when there is none.
func (t *GatewayTx) UseChallenge(gatewayID, nonce string, now time.Time) error {
	res := t.tx.Where("nonce = ? AND gateway_id = ? AND expires_at > ?", nonce, gatewayID, now).Delete(&GatewayChallenge{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// AddGatewayToken records an issued gateway token.
func (t *GatewayTx) AddGatewayToken(row *GatewayToken) error { return t.tx.Create(row).Error }

// RevokeGatewayTokens revokes, at now, every live token of gateway id.
func (t *GatewayTx) RevokeGatewayTokens(id string, now time.Time) error {
	return t.tx.Model(&GatewayToken{}).Where("gateway_id = ? AND revoked_at IS NULL", id).Update("revoked_at", now).Error
}

// AddEnrollmentToken stores a new enrollment token.
func (t *GatewayTx) AddEnrollmentToken(et *EnrollmentToken) error { return t.tx.Create(et).Error }

// EnrollmentToken returns enrollment token id.
func (t *GatewayTx) EnrollmentToken(id string) (*EnrollmentToken, error) {
	var et EnrollmentToken
	if err := t.tx.Where("id = ?", id).Take(&et).Error; err != nil {
		return nil, notFound(err)
	}
	return &et, nil
}

// RevokeEnrollmentToken revokes enrollment token id at now; revoked
// reports false when it was revoked already.
func (t *GatewayTx) RevokeEnrollmentToken(id string, now time.Time) (revoked bool, err error) {
	res := t.tx.Model(&EnrollmentToken{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now)
	return res.RowsAffected > 0, res.Error
}

// UseEnrollmentToken counts one use of the enrollment token with hash and
// returns it; ErrNotFound when no such token can enroll at now.
func (t *GatewayTx) UseEnrollmentToken(hash string, now time.Time) (*EnrollmentToken, error) {
	res := usable(t.tx.Model(&EnrollmentToken{}), hash, now).Update("uses", gorm.Expr("uses + 1"))
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	var et EnrollmentToken
	if err := t.tx.Where("token_hash = ?", hash).Take(&et).Error; err != nil {
		return nil, notFound(err)
	}
	return &et, nil
}

// SetTLSCert records the validity of the certificate gateway id presented.
func (t *GatewayTx) SetTLSCert(id string, notBefore, notAfter, renewAt time.Time) error {
	return t.tx.Model(&Gateway{}).Where("id = ?", id).
		Updates(map[string]any{"tls_cert_not_before": notBefore, "tls_cert_expires_at": notAfter, "tls_cert_renew_at": renewAt}).Error
}

// SetAKCertExpiry records when gateway id's last AK certificate expires.
func (t *GatewayTx) SetAKCertExpiry(id string, at time.Time) error {
	return t.tx.Model(&Gateway{}).Where("id = ?", id).Update("ak_cert_expires_at", at).Error
}

// Config returns gateway id's deployed config (the zero config when none).
func (t *GatewayTx) Config(id string) (*GatewayConfig, error) {
	var c GatewayConfig
	err := t.tx.Where("gateway_id = ?", id).Limit(1).Find(&c).Error
	return &c, err
}

// SaveConfig writes a gateway's config.
func (t *GatewayTx) SaveConfig(c *GatewayConfig) error { return t.tx.Save(c).Error }

// InsertHeartbeats stores hbs in one multi-row INSERT: heartbeats are the
// fleet's most frequent write.
func (r *Gateways) InsertHeartbeats(ctx context.Context, hbs []GatewayHeartbeat) error {
	var sql strings.Builder
	sql.WriteString("INSERT INTO gateway_heartbeats (gateway_id, received_at, status, agent_version, config_version, config_error, buffer_depth, readings_total, adapters) VALUES ")
	args := make([]any, 0, 9*len(hbs))
	for i, h := range hbs {
		if i > 0 {
			sql.WriteByte(',')
		}
		sql.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, h.GatewayID, h.ReceivedAt, h.Status, h.AgentVersion, h.ConfigVersion, h.ConfigError,
			h.BufferDepth, h.ReadingsTotal, h.Adapters)
	}
	return r.db(ctx).Exec(sql.String(), args...).Error
}

// TrimHeartbeats deletes gateway id's heartbeats past the newest rows or
// past bytes of adapter state, newest counted first.
func (r *Gateways) TrimHeartbeats(ctx context.Context, id string, rows, bytes int) error {
	return r.db(ctx).Exec(`DELETE FROM gateway_heartbeats WHERE id IN (
		SELECT id FROM (
			SELECT id, ROW_NUMBER() OVER (ORDER BY id DESC) AS n, SUM(LENGTH(adapters)) OVER (ORDER BY id DESC) AS bytes
			FROM gateway_heartbeats WHERE gateway_id = ?
		) AS h WHERE n > ? OR bytes > ?)`, id, rows, bytes).Error
}

// SetSummary records gateway id's last heartbeat time, agent version and
// applied config version.
func (r *Gateways) SetSummary(ctx context.Context, id string, seen time.Time, agentVersion string, applied int) error {
	return r.db(ctx).Model(&Gateway{}).Where("id = ?", id).Updates(map[string]any{
		"last_seen_at": seen, "agent_version": agentVersion, "applied_config": applied,
	}).Error
}

// Heartbeats returns up to limit of gateway id's heartbeats, newest first,
// older than cursor when it is not 0.
func (r *Gateways) Heartbeats(ctx context.Context, id string, cursor uint64, limit int) ([]GatewayHeartbeat, error) {
	q := r.db(ctx).Where("gateway_id = ?", id)
	if cursor > 0 {
		q = q.Where("id < ?", cursor)
	}
	var rows []GatewayHeartbeat
	err := q.Order("id DESC").Limit(limit).Find(&rows).Error
	return rows, err
}

// Prune deletes heartbeats received before and challenges expired at now.
func (r *Gateways) Prune(ctx context.Context, before, now time.Time) error {
	db := r.db(ctx)
	if err := db.Where("received_at < ?", before).Delete(&GatewayHeartbeat{}).Error; err != nil {
		return err
	}
	return db.Where("expires_at < ?", now).Delete(&GatewayChallenge{}).Error
}
