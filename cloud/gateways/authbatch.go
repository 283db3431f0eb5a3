package gateways

import (
	"context"
	"sync"
	"time"
)

// Every gateway request reads its token's row in Authenticate, so at fleet
// scale these reads are the database's busiest work. They are batched: a
// reader takes the lookups waiting when it is free and answers them with one
// SELECT ... WHERE jti IN (...). Each request still sees the database as of
// its own arrival or later (a revoked token or a disabled gateway stops
// working at once); a lone request waits for nothing, and under load the
// batches grow by themselves instead of queueing one round trip per request.
const (
	authReaders  = 2   // queries in flight at once
	authBatchMax = 500 // lookups per query
)

type authLookup struct {
	jti, gatewayID string
	done           chan authResult
}

type authResult struct {
	row   authRow
	found bool
	err   error
}

// authRow is what a request needs to know about its token and gateway.
type authRow struct {
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

type authBatcher struct {
	once sync.Once
	ch   chan authLookup
}

// lookupToken returns the row of token jti if it belongs to gatewayID.
func (s *Service) lookupToken(ctx context.Context, jti, gatewayID string) (authRow, bool, error) {
	s.auth.once.Do(func() {
		s.auth.ch = make(chan authLookup, authBatchMax)
		for range authReaders {
			go s.readTokens()
		}
	})
	l := authLookup{jti: jti, gatewayID: gatewayID, done: make(chan authResult, 1)}
	select {
	case s.auth.ch <- l:
	case <-ctx.Done():
		return authRow{}, false, ctx.Err()
	}
	select {
	case r := <-l.done:
		return r.row, r.found, r.err
	case <-ctx.Done():
		return authRow{}, false, ctx.Err()
	}
}

func (s *Service) readTokens() {
	batch := make([]authLookup, 0, authBatchMax)
	jtis := make([]string, 0, authBatchMax)
	for first := range s.auth.ch {
		batch = append(batch[:0], first)
	collect:
		for len(batch) < authBatchMax {
			select {
			case l := <-s.auth.ch:
				batch = append(batch, l)
			default:
				break collect
			}
		}
		jtis = jtis[:0]
		for _, l := range batch {
			jtis = append(jtis, l.jti)
		}
		var rows []authRow
		err := s.store.DB.Table("gateway_tokens").
			Select("gateway_tokens.jti, gateway_tokens.gateway_id, gateway_tokens.revoked_at, gateways.status, gateways.identity_kind, gateways.enrollment_id, "+
				"gateway_configs.e_tag AS e_tag, gateways.last_seen_at, gateways.agent_version, gateways.applied_config").
			Joins("JOIN gateways ON gateways.id = gateway_tokens.gateway_id").
			Joins("LEFT JOIN gateway_configs ON gateway_configs.gateway_id = gateway_tokens.gateway_id").
			Where("gateway_tokens.jti IN ?", jtis).Find(&rows).Error
		byJTI := make(map[string]*authRow, len(rows))
		for i := range rows {
			byJTI[rows[i].JTI] = &rows[i]
		}
		for _, l := range batch {
			r := authResult{err: err}
			if row, ok := byJTI[l.jti]; ok && row.GatewayID == l.gatewayID {
				r.row, r.found = *row, true
			}
			l.done <- r
		}
		clear(batch)
	}
}
