package store

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm"
)

// GatewayHealth is what the alarm rules read about one approved gateway:
// its certificate and its newest heartbeat (nil fields: none yet).
type GatewayHealth struct {
	ID               string
	EnrolledAt       time.Time
	TLSCertExpiresAt *time.Time
	TLSCertRenewAt   *time.Time
	// HeartbeatAt is when the newest heartbeat came (exact, unlike the
	// gateway's last_seen_at, which is refreshed only every 30 s).
	HeartbeatAt *time.Time
	ConfigError string
	Adapters    string // JSON []wire.AdapterState
}

// ApprovedGatewayHealth returns every approved gateway with its newest
// heartbeat. The newest heartbeat is found through the (gateway_id,
// received_at) index, one probe per gateway.
func (s *Store) ApprovedGatewayHealth(ctx context.Context) ([]GatewayHealth, error) {
	var rows []struct {
		ID               string
		EnrolledAt       time.Time
		TLSCertExpiresAt *time.Time
		TLSCertRenewAt   *time.Time
		ReceivedAt       *time.Time
		ConfigError      *string
		Adapters         *string
	}
	err := s.DB.WithContext(ctx).Table("gateways AS g").
		Select("g.id, g.enrolled_at, g.tls_cert_expires_at, g.tls_cert_renew_at, h.received_at, h.config_error, h.adapters").
		Joins(`LEFT JOIN gateway_heartbeats AS h ON h.id = (SELECT h2.id FROM gateway_heartbeats AS h2
			WHERE h2.gateway_id = g.id ORDER BY h2.received_at DESC, h2.id DESC LIMIT 1)`).
		Where("g.status = ?", GatewayApproved).Order("g.id").Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]GatewayHealth, len(rows))
	for i, r := range rows {
		out[i] = GatewayHealth{ID: r.ID, EnrolledAt: r.EnrolledAt, TLSCertExpiresAt: r.TLSCertExpiresAt,
			TLSCertRenewAt: r.TLSCertRenewAt, HeartbeatAt: r.ReceivedAt}
		if r.ConfigError != nil {
			out[i].ConfigError = *r.ConfigError
		}
		if r.Adapters != nil {
			out[i].Adapters = *r.Adapters
		}
	}
	return out, nil
}

// LoginFailures is a login throttle counter over a threshold: Key is
// "ip:<address or /64>" or "acct:<email>".
type LoginFailures struct {
	Key      string
	Failures int
}

// LoginFailuresOver returns the per-IP and per-account failed-login
// counters whose window began at or after since and that passed threshold.
func (s *Store) LoginFailuresOver(ctx context.Context, since time.Time, threshold int) ([]LoginFailures, error) {
	var out []LoginFailures
	err := s.DB.WithContext(ctx).Model(&LoginThrottle{}).Select("key, failures").
		Where("(key LIKE 'ip:%' OR key LIKE 'acct:%') AND failures > ? AND window_start >= ?", threshold, since).
		Order("key").Scan(&out).Error
	return out, translate(err)
}

// CountAuditEvents counts the audit records of eventType since since,
// counting a tallied record as its number of attempts.
func (s *Store) CountAuditEvents(ctx context.Context, eventType string, since time.Time) (int64, error) {
	var n, tallied int64
	db := s.DB.WithContext(ctx)
	if err := db.Table("audit_log").Where(`event_type = ? AND "timestamp" >= ?`, eventType, since).Count(&n).Error; err != nil {
		return 0, translate(err)
	}
	if err := db.Table("audit_tallies").Select("COALESCE(SUM(attempts), 0)").
		Where("event_type = ? AND window_start >= ?", eventType, since.Add(-10*time.Minute)).Scan(&tallied).Error; err != nil {
		return 0, translate(err)
	}
	return n + tallied, nil
}

// AuditHead returns the newest audit record's sequence number.
func (s *Store) AuditHead(ctx context.Context) (int64, error) {
	var seq int64
	err := s.DB.WithContext(ctx).Table("audit_log").Select("COALESCE(MAX(seq), 0)").Scan(&seq).Error
	return seq, translate(err)
}

// AdminLogin is a successful login of an account holding a watched role.
type AdminLogin struct {
	Seq       int64
	User, IP  string
	Timestamp time.Time
	// FirstFromIP: the account logged in before, but never from IP.
	FirstFromIP bool
}

// RoleLoginsAfter returns the logins of accounts holding role among the
// (at most limit) successful logins recorded after seq, each marked
// whether its IP is new for the account, and the last seq it looked at.
func (s *Store) RoleLoginsAfter(ctx context.Context, role string, seq int64, limit int) ([]AdminLogin, int64, error) {
	db := s.DB.WithContext(ctx)
	var rows []struct {
		Seq       int64
		UserEmail string
		IPAddress string
		Timestamp time.Time
	}
	if err := db.Table("audit_log").Select(`seq, user_email, ip_address, "timestamp"`).
		Where("event_type = ? AND seq > ?", "authentication.success", seq).Order("seq").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, seq, translate(err)
	}
	admins := map[string]bool{}
	var out []AdminLogin
	for _, r := range rows {
		seq = r.Seq
		admin, ok := admins[r.UserEmail]
		if !ok {
			var u User
			if err := db.Where("email = ?", r.UserEmail).Limit(1).Find(&u).Error; err != nil {
				return nil, seq, translate(err)
			}
			admin = slices.Contains(u.Roles, role)
			admins[r.UserEmail] = admin
		}
		if !admin {
			continue
		}
		var before, fromIP int64
		q := func() *gorm.DB {
			return db.Table("audit_log").Where("user_email = ? AND event_type = ? AND seq < ?", r.UserEmail, "authentication.success", r.Seq)
		}
		if err := q().Count(&before).Error; err != nil {
			return nil, seq, translate(err)
		}
		if err := q().Where("ip_address = ?", r.IPAddress).Count(&fromIP).Error; err != nil {
			return nil, seq, translate(err)
		}
		// An account's first login ever has no history to differ from.
		out = append(out, AdminLogin{Seq: r.Seq, User: r.UserEmail, IP: r.IPAddress, Timestamp: r.Timestamp, FirstFromIP: before > 0 && fromIP == 0})
	}
	return out, seq, nil
}
