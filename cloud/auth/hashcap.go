package auth

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/errs"
)

// Each argon2id run allocates its whole memory parameter (19 MiB), so the
// number of runs at once, not the request rate, decides how much memory a
// login flood takes: 200 unthrottled parallel logins once took the server
// to 2 GiB. Runs therefore take a slot from a pool sized to a memory
// budget; a request that finds no slot within the wait gets 503 with
// Retry-After instead of queueing without bound.
const (
	// DefaultHashMemoryMiB is the default budget: three runs at once (on
	// four or more cores).
	DefaultHashMemoryMiB = 64
	// DefaultHashWait is how long a request waits for a slot.
	DefaultHashWait = 2 * time.Second
	// Hashes with larger parameters are refused rather than run.
	maxArgonMemory = 256 * 1024
	maxArgonTime   = 16
)

// ErrHashBusy answers a request that found no hashing slot in time.
var ErrHashBusy = errs.Busy(time.Second, "the server is busy checking passwords; retry shortly")

// The hashing pool is the process's (its budget is the process's memory),
// so its counters are too; HashMetrics hands them to whichever registry
// serves them. Unregistered, they count and nobody reads them.
var (
	hashRuns = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "streamforge_password_hashes_total", Help: "argon2id runs (verifications and new hashes).",
	})
	hashBusy = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "streamforge_password_hash_busy_total", Help: "Requests refused because no argon2id slot freed up in time.",
	})
)

// HashMetrics are the hashing pool's collectors, for the caller to
// register (in any number of registries: each shows the process's counts).
func HashMetrics() []prometheus.Collector { return []prometheus.Collector{hashRuns, hashBusy} }

// The requests waiting for a slot are bounded by how many one slot could
// serve within the wait, at checkEstimate a check: more would only time out,
// so they are refused at once, before they cost any database work (see
// HashQueueFull).
const checkEstimate = 100 * time.Millisecond

func queueLimit(slots int, wait time.Duration) int64 {
	return int64(slots * max(1, int(wait/checkEstimate)))
}

type hashPool struct {
	slots   atomic.Pointer[chan struct{}]
	wait    atomic.Int64
	waiting atomic.Int64
}

var hashing = newHashPool(DefaultHashMemoryMiB, DefaultHashWait)

func newHashPool(budgetMiB int, wait time.Duration) *hashPool {
	p := &hashPool{}
	p.configure(budgetMiB, wait)
	return p
}

func (p *hashPool) configure(budgetMiB int, wait time.Duration) {
	ch := make(chan struct{}, HashSlots(budgetMiB))
	p.slots.Store(&ch)
	p.wait.Store(int64(wait))
}

// HashSlots is how many argon2id runs may go at once: as many as fit in
// budgetMiB, but never all the cores (runtime.GOMAXPROCS - 1, at least
// one), so that a flood of logins leaves a core for every other request
// (/healthz, gateways, the dashboard).
func HashSlots(budgetMiB int) int {
	return max(1, min(budgetMiB*1024/argonMemory, runtime.GOMAXPROCS(0)-1))
}

// SetHashMemoryBudget sizes the process's hashing pool to budgetMiB and
// sets how long a request waits for a slot. Call it at start-up.
func SetHashMemoryBudget(budgetMiB int, wait time.Duration) {
	hashing.configure(budgetMiB, wait)
}

// HashQueueFull reports whether so many requests wait for a hashing slot
// that one more would only be refused: callers shed load with ErrHashBusy
// before doing any other work.
func HashQueueFull() bool {
	ch := *hashing.slots.Load()
	if hashing.waiting.Load() >= queueLimit(cap(ch), time.Duration(hashing.wait.Load())) {
		hashBusy.Inc() // counted here: a shed request never reaches acquire
		return true
	}
	return false
}

func (p *hashPool) acquire(ctx context.Context) (release func(), err error) {
	ch := *p.slots.Load()
	select {
	case ch <- struct{}{}:
	default:
		if p.waiting.Add(1) > queueLimit(cap(ch), time.Duration(p.wait.Load())) {
			p.waiting.Add(-1)
			hashBusy.Inc()
			return nil, ErrHashBusy
		}
		defer p.waiting.Add(-1)
		t := time.NewTimer(time.Duration(p.wait.Load()))
		defer t.Stop()
		select {
		case ch <- struct{}{}:
		case <-t.C:
			hashBusy.Inc()
			return nil, ErrHashBusy
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	hashRuns.Inc()
	return func() { <-ch }, nil
}
