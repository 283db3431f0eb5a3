package conntest

import (
	"context"
	"sync"
	"time"
)

// maxWaitingGateways bounds one read of the gateways with tests waiting;
// beyond it, the rest are flagged at a later read as tests are taken.
const maxWaitingGateways = 10000

// WaitingLister reads which gateways tests wait for (store.ConnectionTests).
type WaitingLister interface {
	WaitingGateways(ctx context.Context, limit int, since time.Time) ([]string, error)
}

// Hints answers, on every config poll, whether tests wait for the polling
// gateway. Asking the database on each poll would add a query to a path
// that is otherwise answered from the token check (a 304): a fleet of
// 10,000 gateways polling every 10 s makes 1,000 polls a second. Hints
// reads the set of gateways with tests waiting at most once per interval,
// so a test reaches its gateway at most one interval later on another
// replica; Forget makes this replica read again at once after an ask.
type Hints struct {
	repo  WaitingLister
	every time.Duration
	// Now is the clock; tests move it.
	Now func() time.Time

	mu      sync.Mutex
	readAt  time.Time
	waiting map[string]bool
}

// NewHints returns hints over repo, read at most once per every.
func NewHints(repo WaitingLister, every time.Duration) *Hints {
	return &Hints{repo: repo, every: every, Now: time.Now}
}

// Waiting reports whether tests wait for gateway gatewayID.
func (h *Hints) Waiting(ctx context.Context, gatewayID string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.Now(); h.waiting == nil || now.Sub(h.readAt) >= h.every {
		ids, err := h.repo.WaitingGateways(ctx, maxWaitingGateways, now.Add(-Expiry))
		if err != nil {
			return false, err
		}
		h.waiting, h.readAt = make(map[string]bool, len(ids)), now
		for _, id := range ids {
			h.waiting[id] = true
		}
	}
	return h.waiting[gatewayID], nil
}

// Forget makes the next Waiting read the database.
func (h *Hints) Forget() {
	h.mu.Lock()
	h.waiting = nil
	h.mu.Unlock()
}
