package auth

import (
	"sync"
	"time"
)

// verifiedCacheSize bounds the tokens whose signature check is remembered.
const verifiedCacheSize = 65536

// verifiedCache remembers tokens whose signature, issuer and audience
// checked out, so that a gateway polling every few seconds does not cost
// an Ed25519 verification each time. Only the signature check is saved:
// exp and nbf are checked again on every hit, and revocation is checked
// in the database by the callers as before, and a hit whose signing key
// has left the ring misses. A token can only be found by its exact bytes,
// so a tampered token always misses.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[string]cached
}

type cached struct {
	claims *Claims
	kid    string
}

func cacheKey(token, audience string) string { return audience + "\x00" + token }

func (v *verifiedCache) get(token, audience string, now time.Time) (*Claims, string, bool) {
	v.mu.Lock()
	e, ok := v.entries[cacheKey(token, audience)]
	v.mu.Unlock()
	if !ok {
		return nil, "", false
	}
	c := e.claims
	if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Time.Add(clockLeeway)) ||
		(c.NotBefore != nil && now.Add(clockLeeway).Before(c.NotBefore.Time)) {
		return nil, "", false
	}
	cp := *c
	return &cp, e.kid, true
}

func (v *verifiedCache) put(token, audience, kid string, c *Claims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil || len(v.entries) >= verifiedCacheSize {
		v.entries = make(map[string]cached, 1024) // start over rather than track ages
	}
	cp := *c
	v.entries[cacheKey(token, audience)] = cached{claims: &cp, kid: kid}
}
