package gateways

import (
	"fmt"
	"time"

	"github.com/streamforge/streamforge/cloud/store"
)

// TLSRenewAt is when the agent renews a certificate valid from notBefore to
// notAfter: at 2/3 of its lifetime (see agent/cmd/streamforge-agent/mtls.go).
// One still presented after that means its renewal is overdue. That point
// is also at least a day before the end of any certificate that lasts 3
// days or more; for step-ca's default 24 h certificates "within a day of
// the end" would hold from issue, so it is not a separate rule.
func TLSRenewAt(notBefore, notAfter time.Time) time.Time {
	return notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
}

// recordTLSCert keeps the validity of the certificate g presented on the
// mTLS listener. step-ca does not report what it issues, so this is how the
// cloud learns a gateway's certificate expiry. It writes only when the
// certificate changed (a renewal), so the token exchange stays one read.
func recordTLSCert(tx AccessTx, g *store.Gateway, p PeerCert) error {
	if p.NotAfter.IsZero() {
		return nil
	}
	nb, na := p.NotBefore.UTC(), p.NotAfter.UTC()
	if g.TLSCertNotBefore != nil && g.TLSCertExpiresAt != nil && g.TLSCertNotBefore.Equal(nb) && g.TLSCertExpiresAt.Equal(na) {
		return nil
	}
	renew := TLSRenewAt(nb, na)
	if err := tx.SetTLSCert(g.ID, nb, na, renew); err != nil {
		return fmt.Errorf("record TLS certificate validity of %s: %w", g.ID, err)
	}
	g.TLSCertNotBefore, g.TLSCertExpiresAt, g.TLSCertRenewAt = &nb, &na, &renew
	return nil
}
