package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// GatewayFilter selects gateways: those within a user's gateway_access
// (All, or ids and sites in Access), matching Q (a case-insensitive
// substring of id, site or hostname) and Status (a stored status, or
// "offline"/"online": approved with the last heartbeat before/after
// OfflineBefore).
type GatewayFilter struct {
	All           bool
	Access        []string
	Q             string
	Status        string
	OfflineBefore time.Time
}

// within is rbac.CanAccessGateway as SQL: all, gateway ids or sites.
func (f GatewayFilter) within(db *gorm.DB) *gorm.DB { return f.withinColumns(db, "id", "site") }

// withinColumns is within for a query whose gateway id and site are the
// columns idCol and siteCol (a join's, such as "d.gateway_id" and "g.site").
func (f GatewayFilter) withinColumns(db *gorm.DB, idCol, siteCol string) *gorm.DB {
	if f.All {
		return db
	}
	if len(f.Access) == 0 {
		return db.Where("1 = 0")
	}
	return db.Where("("+idCol+" IN ? OR ("+siteCol+" <> '' AND "+siteCol+" IN ?))", f.Access, f.Access)
}

// apply applies the whole filter to a query of gateways.
func (f GatewayFilter) apply(db *gorm.DB) *gorm.DB {
	db = f.within(db)
	if f.Q != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(f.Q)) + "%"
		db = db.Where(GatewaySearchExpr+` LIKE ? ESCAPE '\'`, like)
	}
	switch f.Status {
	case "":
	case "offline":
		db = db.Where("status = ? AND (last_seen_at IS NULL OR last_seen_at < ?)", GatewayApproved, f.OfflineBefore)
	case "online":
		db = db.Where("status = ? AND last_seen_at >= ?", GatewayApproved, f.OfflineBefore)
	default:
		db = db.Where("status = ?", f.Status)
	}
	return db
}

// gatewaySortColumns are the fields the gateway list sorts by.
var gatewaySortColumns = map[string]bool{
	"id": true, "site": true, "hostname": true, "status": true,
	"last_seen_at": true, "enrolled_at": true, "agent_version": true,
}

// GatewaySortable reports whether the gateway list can sort by field.
func GatewaySortable(field string) bool { return gatewaySortColumns[field] }

// GatewayPage returns the count of gateways f selects and one page of
// them, sorted by field (GatewaySortable; descending when desc), then id.
func (r *Gateways) GatewayPage(ctx context.Context, f GatewayFilter, field string, desc bool, limit, offset int) ([]Gateway, int64, error) {
	if !gatewaySortColumns[field] {
		return nil, 0, fmt.Errorf("sort gateways by %q: not a sortable field", field)
	}
	db := f.apply(r.db(ctx).Model(&Gateway{}))
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count gateways: %w", err)
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	order := field + " " + dir
	if field == "last_seen_at" { // never seen: the oldest heartbeat
		order = map[string]string{"ASC": "last_seen_at ASC NULLS FIRST", "DESC": "last_seen_at DESC NULLS LAST"}[dir]
	}
	if field != "id" {
		order += ", id"
	}
	// A deferred join: the offset walks an index for ids only, and just the
	// page's rows (wide ones, with keys and TPM evidence) are read.
	ids := db.Session(&gorm.Session{}).Select("id").Order(order).Limit(limit).Offset(offset)
	var gs []Gateway
	if err := r.db(ctx).Where("id IN (?)", ids).Order(order).Find(&gs).Error; err != nil {
		return nil, 0, fmt.Errorf("list gateways: %w", err)
	}
	return gs, total, nil
}

// CountGateways counts the gateways f selects.
func (r *Gateways) CountGateways(ctx context.Context, f GatewayFilter) (int64, error) {
	var n int64
	err := f.apply(r.db(ctx).Model(&Gateway{})).Count(&n).Error
	return n, err
}

// CountByStatus counts the gateways f selects by stored status.
func (r *Gateways) CountByStatus(ctx context.Context, f GatewayFilter) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	if err := f.apply(r.db(ctx).Model(&Gateway{})).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// GatewayExpiry is when a credential of a gateway expires.
type GatewayExpiry struct {
	GatewayID string
	ExpiresAt time.Time
}

// ExpiringTokens returns up to limit live gateway tokens of gateways f
// selects that expire between from and to, soonest first.
func (r *Gateways) ExpiringTokens(ctx context.Context, f GatewayFilter, from, to time.Time, limit int) ([]GatewayExpiry, error) {
	db := r.db(ctx)
	ids := f.within(db.Model(&Gateway{})).Select("id")
	var out []GatewayExpiry
	err := db.Table("gateway_tokens").Select("gateway_id, expires_at").
		Where("revoked_at IS NULL AND expires_at > ? AND expires_at < ? AND gateway_id IN (?)", from, to, ids).
		Order("expires_at").Limit(limit).Scan(&out).Error
	return out, err
}

// OverdueTLSCerts returns up to limit approved gateways f selects whose
// TLS certificate should have been renewed before now, soonest expiry
// first.
func (r *Gateways) OverdueTLSCerts(ctx context.Context, f GatewayFilter, now time.Time, limit int) ([]GatewayExpiry, error) {
	var out []GatewayExpiry
	err := f.within(r.db(ctx).Model(&Gateway{})).Select("id AS gateway_id, tls_cert_expires_at AS expires_at").
		Where("status = ? AND tls_cert_renew_at < ?", GatewayApproved, now).
		Order("tls_cert_expires_at").Limit(limit).Scan(&out).Error
	return out, err
}

// FleetHeartbeat is the part of a heartbeat the fleet plots read.
type FleetHeartbeat struct {
	GatewayID     string
	ReceivedAt    time.Time
	BufferDepth   int64
	ReadingsTotal int64
}

// EachFleetHeartbeat calls fn with up to maxRows heartbeats received since
// since by the gateways f selects, ordered by gateway and time, without
// holding them all in memory.
func (r *Gateways) EachFleetHeartbeat(ctx context.Context, f GatewayFilter, since time.Time, maxRows int, fn func(FleetHeartbeat)) error {
	db := r.db(ctx)
	ids := f.within(db.Model(&Gateway{})).Select("id")
	rows, err := db.Model(&GatewayHeartbeat{}).Select("gateway_id, received_at, buffer_depth, readings_total").
		Where("received_at >= ? AND gateway_id IN (?)", since, ids).Order("gateway_id, received_at").Limit(maxRows).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h FleetHeartbeat
		if err := rows.Scan(&h.GatewayID, &h.ReceivedAt, &h.BufferDepth, &h.ReadingsTotal); err != nil {
			return err
		}
		fn(h)
	}
	return rows.Err()
}
