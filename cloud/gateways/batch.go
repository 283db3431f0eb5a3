package gateways

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrStopped answers work handed to a service that is not started or is
// closed.
var ErrStopped = errors.New("gateway service is not running")

// batcher gathers requests from many goroutines into batches for a few
// workers: under load the batches grow by themselves instead of queueing
// one database round trip per request. The owner starts it and closes it;
// Close lets the workers finish everything queued, so nothing accepted is
// dropped, and returns once they have exited.
type batcher[R any] struct {
	workers, max int
	// wait is how long a worker waits for a batch to fill; 0 takes only
	// what is queued already, so a lone request waits for nothing.
	wait time.Duration
	run  func(ctx context.Context, batch []R)

	// mu orders submissions against Close: a submission holds it for
	// reading while it sends, so the channel is never closed under it.
	mu     sync.RWMutex
	ch     chan R
	closed bool
	wg     sync.WaitGroup
}

// start starts the workers (once). Their database work runs under ctx's
// values but not its cancellation: Close, not ctx, stops them, so that
// what is queued at shutdown is still written.
func (b *batcher[R]) start(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		return
	}
	b.ch = make(chan R, b.max)
	ctx = context.WithoutCancel(ctx)
	for range b.workers {
		b.wg.Add(1)
		go b.work(ctx)
	}
}

// submit queues r, or returns ErrStopped, or ctx's error if the queue stays
// full until ctx ends.
func (b *batcher[R]) submit(ctx context.Context, r R) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.ch == nil || b.closed {
		return ErrStopped
	}
	select {
	case b.ch <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops accepting requests, lets the workers run what is queued,
// and waits for them to exit.
func (b *batcher[R]) close() {
	b.mu.Lock()
	if b.ch != nil && !b.closed {
		close(b.ch)
	}
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *batcher[R]) work(ctx context.Context) {
	defer b.wg.Done()
	batch := make([]R, 0, b.max)
	for first := range b.ch {
		batch = b.collect(append(batch[:0], first))
		b.run(ctx, batch)
		clear(batch) // drop references to answered requests
	}
}

// collect adds to batch what arrives within wait (or is queued already
// when wait is 0), up to max.
func (b *batcher[R]) collect(batch []R) []R {
	var timeout <-chan time.Time
	if b.wait > 0 {
		t := time.NewTimer(b.wait)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < b.max {
		if timeout == nil {
			select {
			case r, ok := <-b.ch:
				if !ok {
					return batch
				}
				batch = append(batch, r)
				continue
			default:
				return batch
			}
		}
		select {
		case r, ok := <-b.ch:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		case <-timeout:
			return batch
		}
	}
	return batch
}

// await waits for a worker's answer on done (buffered, so that a worker
// never waits for a requester that gave up) or for ctx to end.
func await[T any](ctx context.Context, done <-chan T) (T, error) {
	select {
	case v := <-done:
		return v, nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
