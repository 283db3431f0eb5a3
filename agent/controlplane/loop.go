package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/streamforge/streamforge/pkg/wire"
)

// Options configure Run.
type Options struct {
	Client          *Client
	EnrollmentToken string
	Hostname        string
	HardwareInfo    map[string]string
	StateDir        string
	// PollInterval between config polls; HeartbeatInterval between heartbeats.
	PollInterval      time.Duration
	HeartbeatInterval time.Duration
	// CallTimeout bounds each config poll and heartbeat (default 10 s). The
	// control plane answers in milliseconds; a call that hangs is on a dead
	// or half-open connection, and waiting out the HTTP client's 30 s would
	// hold every later call behind it.
	CallTimeout time.Duration
	// Apply puts a config into effect; an error keeps the previous one.
	Apply func(ctx context.Context, cfg wire.ConfigResponse) error
	// Health reports the data path's state for heartbeats.
	Health func() wire.Heartbeat
	// OnEnrolled is told the claim code once the gateway has enrolled.
	OnEnrolled func(code string, expires time.Time)
	// ConfigKeys, when set (configured out of band), are the config
	// signing keys pinned instead of those of the first token answer;
	// they replace a pinned set that lacks any of them, which is also how
	// a gateway that missed a rotation is brought back.
	ConfigKeys []wire.ConfigKey
	// Sealer, when set (a TPM), keeps the claim code sealed on disk.
	Sealer Sealer
	// MTLS, when set, gets the approved gateway's certificate for its AK
	// certificate chain (and keeps it renewed until ctx ends), returning an
	// HTTP client that presents it; the loop then talks to MTLSURL.
	MTLS    func(ctx context.Context, akChain [][]byte) (*http.Client, error)
	MTLSURL string
	Log     *slog.Logger
	// Now, when set, is the time config signing keys' retirement is
	// judged at (the clock corrected for skew); time.Now otherwise.
	Now func() time.Time
	// Logs, when set, is the agent's ring of recent (scrubbed) log lines:
	// each heartbeat is followed by the lines logged since the last batch
	// the control plane took.
	Logs LogSource
	// ConnectionTest, when set, runs a connection test the control plane
	// asks for (see conntest.go).
	ConnectionTest func(wire.ConnectionTest) wire.ConnectionTestResult
}

// LogSource gives the log lines after line number after (at most maxLines
// and about maxBytes), and how many of those were evicted unshipped.
type LogSource interface {
	Since(after uint64, maxLines, maxBytes int) ([]wire.LogEntry, uint64)
}

// Sealer seals data to a TPM: only that TPM opens the blob.
type Sealer interface {
	Seal(data []byte) ([]byte, error)
	Unseal(blob []byte) ([]byte, error)
}

// Loop is the agent's control plane lifecycle.
type Loop struct {
	opts Options
	mu   sync.Mutex
	st   State
	// sealed is st.ClaimCode sealed by opts.Sealer, made once per code.
	sealed, sealedFor []byte
	// A refused token is replaced at most once per reauthWait, which
	// doubles while the control plane keeps refusing (a disabled gateway
	// must not hammer it).
	reauthAt   time.Time
	reauthWait time.Duration
	// onMTLS: calls go to the mTLS listener; mtlsUp: one has succeeded
	// there (logged once).
	onMTLS, mtlsUp bool
	// logsShipped is the number of the last log line the control plane took.
	logsShipped uint64
	// testing is set while connection tests run, in a goroutine that Run
	// waits for (tests) before it returns.
	testing atomic.Bool
	tests   sync.WaitGroup
	// A version whose data path could not start (a disruptive failure:
	// trying it again stops the running data path) is retried only at
	// retryAt, the wait doubling from failWait up to maxFailWait.
	failedVersion int
	retryAt       time.Time
	failWait      time.Duration
}

// The spacing of retries of a config version whose data path could not
// start.
const (
	firstFailWait = time.Minute
	maxFailWait   = 15 * time.Minute
)

// disruptive reports whether err says that applying the config again
// would disturb the running data path (agent/run.StartError).
func disruptive(err error) bool {
	var d interface{ Disruptive() bool }
	return errors.As(err, &d) && d.Disruptive()
}

// NewLoop prepares the lifecycle and applies the last-known-good config,
// if any, so the data path runs before the control plane answers.
func NewLoop(ctx context.Context, o Options) (*Loop, error) {
	if o.PollInterval <= 0 {
		o.PollInterval = 10 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 30 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	st, err := LoadState(o.StateDir)
	if err != nil {
		return nil, err
	}
	if st.GatewayID != "" && st.GatewayID != o.Client.GatewayID {
		return nil, fmt.Errorf("state in %s belongs to gateway %s, not %s", o.StateDir, st.GatewayID, o.Client.GatewayID)
	}
	st.GatewayID = o.Client.GatewayID
	if st.Config != nil && st.ConfigTrust.HighWater < st.Config.Version {
		st.ConfigTrust.HighWater = st.Config.Version // state from before signed bundles
	}
	st.ConfigTrust.pinConfigured(o.ConfigKeys)
	l := &Loop{opts: o, st: st}
	if o.Sealer != nil && len(st.SealedClaimCode) > 0 {
		code, err := o.Sealer.Unseal(st.SealedClaimCode)
		if err != nil {
			// A cleared TPM: the code is lost, an admin can still approve.
			o.Log.Warn("claim code cannot be unsealed; an admin must approve this gateway", "err", err)
		} else {
			l.st.ClaimCode, l.sealed, l.sealedFor = string(code), st.SealedClaimCode, code
		}
	}
	if st.Config != nil && o.Apply != nil {
		if err := o.Apply(ctx, *st.Config); err != nil {
			return nil, fmt.Errorf("apply last-known-good config v%d: %w", st.Config.Version, err)
		}
		o.Log.Info("running on last-known-good config", "version", st.Config.Version)
	}
	return l, nil
}

// State returns a copy of the current state.
func (l *Loop) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *Loop) update(fn func(*State)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(&l.st)
	disk := l.st
	disk.SealedClaimCode = nil
	if l.opts.Sealer != nil && disk.ClaimCode != "" {
		if string(l.sealedFor) != disk.ClaimCode {
			blob, err := l.opts.Sealer.Seal([]byte(disk.ClaimCode))
			if err != nil {
				return fmt.Errorf("seal the claim code: %w", err)
			}
			l.sealed, l.sealedFor = blob, []byte(disk.ClaimCode)
		}
		disk.ClaimCode, disk.SealedClaimCode = "", l.sealed
	}
	return disk.Save(l.opts.StateDir)
}

// backoff sleeps for d (doubling up to max for the next call) or returns
// false when ctx is done.
func backoff(ctx context.Context, d *time.Duration, max time.Duration) bool {
	t := time.NewTimer(*d)
	defer t.Stop()
	*d = min(*d*2, max)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Run enrolls (once), waits for approval, then polls config, sends
// heartbeats and renews the token until ctx ends. Errors from the control
// plane are retried with back-off; they never stop the data path.
func (l *Loop) Run(ctx context.Context) error {
	defer l.tests.Wait()
	if err := l.enroll(ctx); err != nil {
		return err
	}
	if err := l.obtainToken(ctx); err != nil {
		return err
	}
	poll := time.NewTicker(l.opts.PollInterval)
	defer poll.Stop()
	beat := time.NewTicker(l.opts.HeartbeatInterval)
	defer beat.Stop()
	l.upgrade(ctx)
	l.pollConfig(ctx)
	l.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			l.upgrade(ctx)
			l.pollConfig(ctx)
			l.maybeRenew(ctx)
		case <-beat.C:
			l.heartbeat(ctx)
		}
	}
}

func (l *Loop) enroll(ctx context.Context) error {
	if l.State().Enrolled {
		l.announce()
		return nil
	}
	wait := time.Second
	for {
		res, err := l.opts.Client.Enroll(ctx, l.opts.EnrollmentToken, l.opts.Hostname, l.opts.HardwareInfo)
		if err == nil {
			if err := l.update(func(s *State) {
				s.Enrolled, s.Status, s.ClaimCode, s.ClaimExpiresAt = true, res.Status, res.ClaimCode, res.ClaimExpiresAt
			}); err != nil {
				return err
			}
			l.opts.Log.Info("enrolled", "gateway_id", res.GatewayID, "status", res.Status, "site", res.Site)
			l.announce()
			return nil
		}
		if IsStatus(err, http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict) {
			// Needs a person: a new token or a fixed id. Retry slowly.
			l.opts.Log.Error("enrollment refused; waiting for a fix", "err", err)
			wait = max(wait, time.Minute)
		} else {
			l.opts.Log.Warn("enrollment failed; retrying", "err", err, "in", wait)
		}
		if !backoff(ctx, &wait, 5*time.Minute) {
			return ctx.Err()
		}
	}
}

func (l *Loop) announce() {
	st := l.State()
	if l.opts.OnEnrolled != nil && st.ClaimCode != "" {
		l.opts.OnEnrolled(st.ClaimCode, st.ClaimExpiresAt)
	}
}

// obtainToken waits (with back-off) until the gateway is approved and
// gets its token.
func (l *Loop) obtainToken(ctx context.Context) error {
	wait := time.Second
	for {
		res, err := l.opts.Client.ObtainToken(ctx)
		if err == nil {
			l.pinKeys(res.ConfigKeys)
			// Approved: the claim code has served and is forgotten.
			_ = l.update(func(s *State) { s.Status, s.ClaimCode = "approved", "" })
			l.opts.Log.Info("gateway token obtained")
			return nil
		}
		if IsStatus(err, http.StatusForbidden) {
			_ = l.update(func(s *State) { s.Status = "awaiting approval" })
			l.opts.Log.Info("waiting for approval", "retry_in", wait)
		} else {
			l.opts.Log.Warn("token request failed", "err", err, "retry_in", wait)
		}
		if !backoff(ctx, &wait, time.Minute) {
			return ctx.Err()
		}
	}
}

// reauth gets a new token after the old one was refused (revoked, or the
// gateway disabled and enabled again).
func (l *Loop) reauth(ctx context.Context, err error) {
	if !IsStatus(err, http.StatusUnauthorized) || time.Now().Before(l.reauthAt) {
		return
	}
	l.opts.Log.Warn("gateway token refused; obtaining a new one", "err", err)
	res, err := l.opts.Client.ObtainToken(ctx)
	if err != nil {
		l.reauthWait = min(max(2*l.reauthWait, time.Second), 5*time.Minute)
		l.reauthAt = time.Now().Add(l.reauthWait)
		l.opts.Log.Warn("new token refused", "err", err, "retry_in", l.reauthWait)
		if IsStatus(err, http.StatusForbidden) {
			_ = l.update(func(s *State) { s.Status = "not approved (disabled or rejected)" })
		}
		return
	}
	l.pinKeys(res.ConfigKeys)
	l.reauthWait, l.reauthAt = 0, time.Time{}
	_ = l.update(func(s *State) { s.Status = "approved" })
}

func (l *Loop) pollConfig(ctx context.Context) {
	callCtx, cancel := context.WithTimeout(ctx, l.opts.CallTimeout)
	res, err := l.opts.Client.FetchConfig(callCtx)
	cancel()
	l.startConnectionTests(ctx)
	if err != nil {
		l.opts.Log.Warn("config poll failed; keeping the current config", "err", err)
		l.reauth(ctx, err)
		return
	}
	l.mtlsCallWorked()
	if res == nil {
		return
	}
	now := l.opts.Now()
	st := l.State()
	trust := st.ConfigTrust.clone()
	learned := trust.learn(res.SigningKeys, now)
	p, news, err := trust.verify(res.Bundle, l.opts.Client.GatewayID, now)
	if err != nil {
		l.opts.Log.Error("config refused; keeping the last-known-good", "offered_version", res.Version, "err", err)
		l.save(func(s *State) { s.ConfigTrust, s.ConfigError = trust, "refused: "+err.Error() })
		return
	}
	if !news {
		if learned || st.ConfigError != "" {
			l.save(func(s *State) { s.ConfigTrust, s.ConfigError = trust, "" })
		}
		return
	}
	if p.Version == l.failedVersion && now.Before(l.retryAt) {
		return // it failed to start; its error stays in the heartbeats
	}
	cfg := wire.ConfigResponse{GatewayID: p.GatewayID, Version: p.Version, Config: p.Config, Bundle: res.Bundle}
	if l.opts.Apply != nil {
		if err := l.opts.Apply(ctx, cfg); err != nil {
			msg, retry := fmt.Sprintf("config v%d failed to apply: %v", cfg.Version, err), "next poll"
			if disruptive(err) {
				if p.Version != l.failedVersion {
					l.failedVersion, l.failWait = p.Version, firstFailWait
				} else {
					l.failWait = min(2*l.failWait, maxFailWait)
				}
				l.retryAt, msg, retry = now.Add(l.failWait), err.Error(), l.failWait.String()
			}
			l.opts.Log.Error("config rejected; keeping the last-known-good", "version", cfg.Version, "err", err, "retry", retry)
			l.save(func(s *State) {
				s.ConfigTrust, s.ConfigError = trust, msg
				s.Status = fmt.Sprintf("config v%d rejected", cfg.Version)
			})
			return
		}
	}
	// The config and its high-water mark are written in one atomic
	// replace of the state file: after a crash both or neither moved.
	trust.HighWater = p.Version
	l.save(func(s *State) { s.Config, s.ConfigTrust, s.ConfigError, s.Status = &cfg, trust, "", "approved" })
	l.opts.Log.Info("config applied", "version", cfg.Version, "key_id", p.KeyID)
}

// save updates the state, logging a failure to persist it.
func (l *Loop) save(fn func(*State)) {
	if err := l.update(fn); err != nil {
		l.opts.Log.Error("persist control plane state", "err", err)
	}
}

// pinKeys pins the config signing keys of a token answer, if none are
// pinned yet.
func (l *Loop) pinKeys(keys []wire.ConfigKey) {
	if len(l.State().ConfigTrust.Keys) > 0 || len(keys) == 0 {
		return
	}
	l.save(func(s *State) {
		if s.ConfigTrust.pin(keys) {
			l.opts.Log.Info("config signing keys pinned", "keys", len(keys))
		}
	})
}

func (l *Loop) heartbeat(ctx context.Context) {
	hb := wire.Heartbeat{Status: "ok"}
	if l.opts.Health != nil {
		hb = l.opts.Health()
	}
	st := l.State()
	if st.Config != nil {
		hb.ConfigVersion = st.Config.Version
	}
	hb.ConfigError = truncate(st.ConfigError, maxConfigError)
	if st.Status != "approved" && st.Status != "" {
		hb.Status = st.Status
	}
	hb.Fit() // the control plane refuses a heartbeat past its limits
	callCtx, cancel := context.WithTimeout(ctx, l.opts.CallTimeout)
	defer cancel()
	if err := l.opts.Client.Heartbeat(callCtx, hb); err != nil {
		l.opts.Log.Warn("heartbeat failed", "err", err)
		l.reauth(ctx, err)
		return
	}
	l.mtlsCallWorked()
	l.shipLogs(callCtx)
}

// maxConfigError is the control plane's bound on a heartbeat's config_error.
const maxConfigError = 512

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// renewBefore is how long before expiry the token is renewed.
const renewBefore = 30 * 24 * time.Hour

func (l *Loop) maybeRenew(ctx context.Context) {
	_, exp := l.opts.Client.Token()
	if exp.Sub(l.opts.Now()) > renewBefore {
		return
	}
	if _, err := l.opts.Client.RenewToken(ctx); err != nil && !errors.Is(err, context.Canceled) {
		l.opts.Log.Warn("token renewal failed", "err", err)
	}
}

// upgrade moves an approved gateway to mTLS: its AK certificate from the
// control plane, a certificate from step-ca, then calls over the mTLS
// listener. On failure the plain API goes on and the next poll retries.
func (l *Loop) upgrade(ctx context.Context) {
	if l.opts.MTLS == nil || l.onMTLS {
		return
	}
	chain, err := l.opts.Client.AKCertificate(ctx)
	if err != nil {
		l.opts.Log.Warn("AK certificate not available yet", "err", err)
		return
	}
	httpc, err := l.opts.MTLS(ctx, chain)
	if err != nil {
		l.opts.Log.Warn("gateway certificate not obtained; staying on the token API", "err", err)
		return
	}
	l.opts.Client.UseMTLS(l.opts.MTLSURL, httpc)
	l.onMTLS = true
	if _, err := l.opts.Client.ObtainToken(ctx); err != nil {
		// The calls go on over mTLS; the token is asked for again when
		// one is refused (reauth).
		l.opts.Log.Warn("moved to the mTLS listener, but its first token request failed; retrying with the next calls",
			"url", l.opts.MTLSURL, "err", err)
		return
	}
	l.mtlsCallWorked()
}

// mtlsCallWorked notes a call that succeeded; the first one over mTLS is
// logged, so the log says so only once it is true.
func (l *Loop) mtlsCallWorked() {
	if l.onMTLS && !l.mtlsUp {
		l.mtlsUp = true
		l.opts.Log.Info("talking to the control plane over mTLS", "url", l.opts.MTLSURL)
	}
}
