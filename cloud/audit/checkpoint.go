package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/configsign"
)

// SignedCheckpoint is a chain head signed with a key outside the database.
type SignedCheckpoint = auditrec.SignedCheckpoint

// Signer signs checkpoint messages (configsign.Ring over the audit key
// directory).
type Signer interface {
	SignDetached(msg []byte) (kid string, sig []byte, err error)
}

// SignatureVerifier checks checkpoint signatures (configsign.Ring).
type SignatureVerifier interface {
	VerifyDetached(kid string, msg, sig []byte) error
}

// CheckpointStore is where checkpoints are kept (store.AuditRepo).
type CheckpointStore interface {
	ChainReader
	Checkpoints() ([]SignedCheckpoint, error)
	SaveCheckpoint(SignedCheckpoint) error
}

// VerificationAlarm is told when a chain fails to verify
// (alarms.Evaluator: a security alarm, and the webhook).
type VerificationAlarm interface {
	AuditVerificationFailed(ctx context.Context, problem string)
}

// Checkpointer signs the chain head periodically and when closed. It
// signs a head only after the records since the last checkpoint verify,
// so it never vouches for a chain already broken; it stores the checkpoint
// in the database (the relay sends it to Kafka) and writes the newest to
// an anchor file beside the keys, outside the database.
type Checkpointer struct {
	store    CheckpointStore
	signer   Signer
	anchor   string
	interval time.Duration
	log      *slog.Logger
	// Alarm, when set before Start, is told of every broken chain the
	// Checkpointer finds: it verifies more often than anyone runs
	// `audit verify`, so it is often the first to see tampering.
	Alarm VerificationAlarm

	// seq and signedAt are the newest checkpoint's, for /metrics.
	seq, signedAt prometheus.Gauge

	mu   sync.Mutex // one signing at a time
	stop chan struct{}
	done chan struct{}
}

// NewCheckpointer signs into st with signer every interval, keeping the
// newest checkpoint also in the file anchor.
func NewCheckpointer(st CheckpointStore, signer Signer, anchor string, interval time.Duration, log *slog.Logger) *Checkpointer {
	return &Checkpointer{store: st, signer: signer, anchor: anchor, interval: interval, log: log,
		seq: prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamforge_audit_checkpoint_seq",
			Help: "Seq of the newest signed audit checkpoint (0: none yet)."}),
		signedAt: prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamforge_audit_checkpoint_timestamp_seconds",
			Help: "When the newest signed audit checkpoint was signed, in Unix seconds (0: none yet)."}),
	}
}

// Register adds the newest checkpoint's seq and time to reg; they are set
// at each signing round, whichever replica signed.
func (c *Checkpointer) Register(reg prometheus.Registerer) error {
	for _, g := range []prometheus.Collector{c.seq, c.signedAt} {
		if err := reg.Register(g); err != nil {
			return fmt.Errorf("audit checkpoint metrics: %w", err)
		}
	}
	return nil
}

// Start begins periodic signing.
func (c *Checkpointer) Start() {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				if _, _, err := c.Sign(time.Now()); err != nil {
					c.log.Error("audit checkpoint", "err", err)
				}
			}
		}
	}()
}

// Close stops periodic signing and signs the head a last time, so that a
// shutdown leaves the whole chain anchored.
func (c *Checkpointer) Close() error {
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop = nil
	}
	_, _, err := c.Sign(time.Now())
	return err
}

// ErrChainBroken means the records since the last checkpoint do not
// verify, so the head is not signed.
var ErrChainBroken = errors.New("audit chain does not verify: head not signed")

// Sign checkpoints the head at now unless it has not moved since the last
// checkpoint; signed says whether it did.
func (c *Checkpointer) Sign(now time.Time) (cp SignedCheckpoint, signed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cps, err := c.store.Checkpoints()
	if err != nil {
		return cp, false, err
	}
	v := verifier{db: c.store, prev: Checkpoint{Hash: auditrec.GenesisHash}}
	if len(cps) > 0 {
		last := cps[len(cps)-1]
		v.prev = Checkpoint{Seq: last.Seq, Hash: last.Hash}
	}
	rep, err := v.run()
	if err != nil {
		return cp, false, err
	}
	if !rep.OK {
		if c.Alarm != nil {
			c.Alarm.AuditVerificationFailed(context.Background(), rep.Problem)
		}
		return cp, false, fmt.Errorf("%w: %s", ErrChainBroken, rep.Problem)
	}
	if len(cps) > 0 && rep.Head.Seq == cps[len(cps)-1].Seq {
		c.observe(cps[len(cps)-1])
		return cps[len(cps)-1], false, nil
	}
	cp = SignedCheckpoint{Seq: rep.Head.Seq, Hash: rep.Head.Hash, SignedAt: now.UTC().Truncate(time.Microsecond)}
	if cp.KeyID, cp.Signature, err = c.signer.SignDetached(auditrec.CheckpointMessage(cp.Seq, cp.Hash, cp.SignedAt)); err != nil {
		return cp, false, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	if err := c.store.SaveCheckpoint(cp); err != nil {
		return cp, false, err
	}
	c.observe(cp)
	if c.anchor != "" {
		if err := writeAnchor(c.anchor, cp); err != nil {
			return cp, true, err
		}
	}
	return cp, true, nil
}

func (c *Checkpointer) observe(cp SignedCheckpoint) {
	c.seq.Set(float64(cp.Seq))
	c.signedAt.Set(float64(cp.SignedAt.UnixNano()) / 1e9)
}

// writeAnchor replaces the anchor file with cp unless it already holds a
// later checkpoint (another replica's).
func writeAnchor(path string, cp SignedCheckpoint) error {
	if old, err := ReadAnchor(path); err == nil && old != nil && old.Seq >= cp.Seq {
		return nil
	}
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	if err := configsign.WriteFileAtomic(path, b); err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	return nil
}

// ReadAnchor reads the anchor file; nil when there is none yet.
func ReadAnchor(path string) (*SignedCheckpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit anchor: %w", err)
	}
	var cp SignedCheckpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("audit anchor %s: %w", path, err)
	}
	return &cp, nil
}
