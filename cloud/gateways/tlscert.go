package gateways

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/store"
)

// TLSRenewLast: the agent renews its step-ca certificate once 2/3 of its
// lifetime has passed; a certificate still presented past that point, or
// within TLSRenewLast of its end, means renewal is overdue.
const TLSRenewLast = 24 * time.Hour

// TLSRenewAt is when a certificate valid from notBefore to notAfter should
// have been renewed: at 2/3 of its lifetime, and at the latest TLSRenewLast
// before it ends.
func TLSRenewAt(notBefore, notAfter time.Time) time.Time {
	at := notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
	if last := notAfter.Add(-TLSRenewLast); last.Before(at) {
		at = last
	}
	return at
}

// recordTLSCert keeps the validity of the certificate g presented on the
// mTLS listener. step-ca does not report what it issues, so this is how the
// cloud learns a gateway's certificate expiry. It writes only when the
// certificate changed (a renewal), so the token exchange stays one read.
func recordTLSCert(tx *gorm.DB, g *store.Gateway, p PeerCert) error {
	if p.NotAfter.IsZero() {
		return nil
	}
	nb, na := p.NotBefore.UTC(), p.NotAfter.UTC()
	if g.TLSCertNotBefore != nil && g.TLSCertExpiresAt != nil && g.TLSCertNotBefore.Equal(nb) && g.TLSCertExpiresAt.Equal(na) {
		return nil
	}
	renew := TLSRenewAt(nb, na)
	err := tx.Model(&store.Gateway{}).Where("id = ?", g.ID).
		Updates(map[string]any{"tls_cert_not_before": nb, "tls_cert_expires_at": na, "tls_cert_renew_at": renew}).Error
	if err != nil {
		return fmt.Errorf("record TLS certificate validity of %s: %w", g.ID, err)
	}
	g.TLSCertNotBefore, g.TLSCertExpiresAt, g.TLSCertRenewAt = &nb, &na, &renew
	return nil
}
