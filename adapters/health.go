package adapters

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// FaultLogEvery spaces the log lines about faults of one device: the first
// fault of each tag and code is logged at once, later ones at most this
// often, with the number left unlogged in between. A device answering
// every poll with an exception must not flood the log.
const FaultLogEvery = time.Minute

// Fault counts the bad answers of one tag by their code: a Modbus
// exception, an OPC UA bad status, a value the server dropped from a full
// queue, a stalled subscription (Tag is then the subscription's name).
type Fault struct {
	Tag   string `json:"tag,omitempty"`
	Code  string `json:"code"`
	Count uint64 `json:"count"`
}

type faultKey struct{ tag, code string }

// Health keeps one device's State for heartbeats and metrics, and logs its
// changes: failures once per outage and cause, faults rate-limited. It is
// safe for concurrent use; adapters share it so that every protocol reports
// health the same way.
type Health struct {
	log *slog.Logger

	mu       sync.Mutex
	state    State
	faults   map[faultKey]uint64
	loggedAt time.Time // last fault log line
	unlogged uint64    // faults since then
}

// NewHealth starts a device's health as not yet connected.
func NewHealth(device string, log *slog.Logger) *Health {
	return &Health{log: log, state: State{Device: device}, faults: map[faultKey]uint64{}}
}

// Up records a working exchange with the device.
func (h *Health) Up() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.state.Connected && h.state.Errors > 0 {
		h.log.Info("device back")
	}
	h.state.Connected, h.state.LastError = true, ""
}

// Down records a failed exchange: the device counts as not connected until
// the next Up. It logs once per outage and cause, not once per retry.
func (h *Health) Down(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state.Connected || h.state.LastError != err.Error() {
		h.log.Warn("device failing", "err", err)
	}
	h.state.Connected, h.state.LastError = false, err.Error()
	h.state.Errors++
}

// Read records that the device delivered values at t.
func (h *Health) Read(t time.Time) {
	h.mu.Lock()
	h.state.LastRead = t
	h.mu.Unlock()
}

// Skipped counts n polls not made because the device (or the buffer)
// could not keep up with the poll interval.
func (h *Health) Skipped(n uint64) {
	h.mu.Lock()
	h.state.SkippedPolls += n
	h.mu.Unlock()
}

// Fault counts n bad answers for tag with code; detail goes to the log.
// It does not change whether the device counts as connected: the adapter
// decides that (a device that answers nothing but faults is Down).
func (h *Health) Fault(tag, code string, n uint64, detail string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := faultKey{tag, code}
	first := h.faults[k] == 0
	h.faults[k] += n
	h.unlogged += n
	if !first && time.Since(h.loggedAt) < FaultLogEvery {
		return
	}
	h.log.Warn("device fault", "tag", tag, "code", code, "detail", detail, "count", h.faults[k],
		"faults_since_last_log", h.unlogged)
	h.loggedAt, h.unlogged = time.Now(), 0
}

// State is a snapshot; its faults are sorted by tag and code.
func (h *Health) State() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.state
	s.Faults = make([]Fault, 0, len(h.faults))
	for k, n := range h.faults {
		s.Faults = append(s.Faults, Fault{Tag: k.tag, Code: k.code, Count: n})
	}
	slices.SortFunc(s.Faults, func(a, b Fault) int { return cmp.Or(cmp.Compare(a.Tag, b.Tag), cmp.Compare(a.Code, b.Code)) })
	return s
}
