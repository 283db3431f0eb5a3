package gateways

import (
	"context"

	"github.com/streamforge/streamforge/cloud/store"
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
	row   store.GatewayTokenAuth
	found bool
	err   error
}

func newAuthBatcher(repo AccessRepo) *batcher[authLookup] {
	return &batcher[authLookup]{workers: authReaders, max: authBatchMax,
		run: func(ctx context.Context, batch []authLookup) { readTokens(ctx, repo, batch) }}
}

// lookupToken returns the row of token jti if it belongs to gatewayID.
func (s *Access) lookupToken(ctx context.Context, jti, gatewayID string) (store.GatewayTokenAuth, bool, error) {
	l := authLookup{jti: jti, gatewayID: gatewayID, done: make(chan authResult, 1)}
	if err := s.auth.submit(ctx, l); err != nil {
		return store.GatewayTokenAuth{}, false, err
	}
	r, err := await(ctx, l.done)
	if err != nil {
		return store.GatewayTokenAuth{}, false, err
	}
	return r.row, r.found, r.err
}

// readTokens answers a batch of lookups with one query.
func readTokens(ctx context.Context, repo AccessRepo, batch []authLookup) {
	jtis := make([]string, len(batch))
	for i, l := range batch {
		jtis[i] = l.jti
	}
	rows, err := repo.TokenAuths(ctx, jtis)
	byJTI := make(map[string]*store.GatewayTokenAuth, len(rows))
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
}
