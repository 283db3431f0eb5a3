// Package clock is the agent's judgement of the time where a wrong wall
// clock would lock it out: validity checks of certificates in TLS
// handshakes (the control plane's mTLS listener, step-ca), the renewal
// time of its own certificate and config signing key retirement. A gateway
// without a battery-backed clock may boot hours or years off; its timers
// run on the monotonic clock and need none of this.
//
// Now is the local clock corrected by the skew the control plane's Date
// headers show (when it exceeds Tolerance), and never earlier than a floor:
// the agent's build time and the newest NotBefore of a certificate it has
// verified or holds. A skew past Tolerance is logged as a warning (and so
// reaches the control plane's gateway logs).
package clock

import (
	"crypto/x509"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultTolerance is the skew left alone: Date headers have a resolution
// of a second, and a few seconds of drift change no certificate decision.
const DefaultTolerance = time.Minute

// Clock is safe for concurrent use.
type Clock struct {
	// Tolerance is the skew below which the local clock is trusted as is.
	Tolerance time.Duration
	log       *slog.Logger
	local     func() time.Time

	mu     sync.Mutex
	floor  time.Time
	offset time.Duration // control plane minus local, 0 within Tolerance
}

// New returns a clock whose floor is the build time of this binary (its
// VCS commit time, when the build recorded one).
func New(log *slog.Logger) *Clock {
	c := &Clock{Tolerance: DefaultTolerance, log: log, local: time.Now}
	c.RaiseFloor(BuildTime())
	return c
}

// BuildTime is the commit time recorded in the binary (zero if none).
func BuildTime() time.Time {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return time.Time{}
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.time" {
			t, _ := time.Parse(time.RFC3339, s.Value)
			return t
		}
	}
	return time.Time{}
}

// Now is the corrected time (see the package doc).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.local().Add(c.offset)
	if t.Before(c.floor) {
		return c.floor
	}
	return t
}

// Skew is what the clock currently adds to the local time (0 when the
// local clock agrees with the control plane within Tolerance).
func (c *Clock) Skew() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// RaiseFloor makes t the earliest time Now returns, if it is later than
// the floor so far: a certificate valid from t was issued at or after t.
func (c *Clock) RaiseFloor(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.floor) {
		c.floor = t
	}
}

// SawCertificates raises the floor to the newest NotBefore among chains
// (the verified chains of a handshake, or the agent's own certificate).
func (c *Clock) SawCertificates(certs ...*x509.Certificate) {
	for _, cert := range certs {
		if cert != nil {
			c.RaiseFloor(cert.NotBefore)
		}
	}
}

// ObserveDate takes the Date header of a control plane answer to a
// request sent at sent and answered at received (local clock). The
// control plane's time is taken to be that of the middle of the exchange.
func (c *Clock) ObserveDate(date string, sent, received time.Time) {
	server, err := http.ParseTime(date)
	if err != nil || date == "" {
		return
	}
	mid := sent.Add(received.Sub(sent) / 2)
	skew := server.Sub(mid).Round(time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.offset
	if skew.Abs() <= c.Tolerance {
		c.offset = 0
	} else {
		c.offset = skew
	}
	switch {
	case c.offset == 0 && prev != 0:
		c.log.Info("gateway clock agrees with the control plane again", "skew", skew)
	case c.offset != 0 && (prev == 0 || (c.offset-prev).Abs() > c.Tolerance):
		c.log.Warn("gateway clock differs from the control plane's; judging certificates by the control plane's time",
			"skew", c.offset, "local", mid.UTC().Format(time.RFC3339), "control_plane", server.UTC().Format(time.RFC3339))
	}
}
