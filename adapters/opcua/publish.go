package opcua

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/streamforge/streamforge/adapters"
)

// The adapter runs its own publish loop instead of gopcua's Subscribe.
// gopcua v0.9.0 hands on data changes but swallows keep-alive messages, so a
// subscription whose server stopped publishing cannot be told from one
// that has nothing to report; its publish loop can also stay paused for good
// when Subscribe races its start. With our own loop every publish response
// is seen: a subscription that sends neither data nor a keep-alive for its
// keep-alive period and two intervals more is stalled, and a jump in
// sequence numbers is a gap, fetched again with Republish or counted.
// gopcua still starts its own loop at Connect; knowing no subscription, it
// pauses at its first answer (BadNoSubscription), and a response it took
// anyway would only show here as such a gap.

// keepAliveCount is the requested MaxKeepAliveCount: a healthy subscription
// with nothing to report still answers every three publishing intervals.
// gopcua's default (3000) made that 300 s at a 100 ms interval.
const keepAliveCount = 3

// subscription is one server-side subscription and its publish state; only
// the session's serve loop touches it.
type subscription struct {
	name      string
	id        uint32
	interval  time.Duration // revised publishing interval
	keepAlive uint32        // revised max keep-alive count
	created   time.Time
	nextSeq   uint32 // sequence number of the next data message
}

// limit is how long a healthy subscription can stay silent while the server
// holds a publish request: its keep-alive period, two intervals more, and
// slack for a busy machine.
func (sub *subscription) limit(slack time.Duration) time.Duration {
	return time.Duration(sub.keepAlive+2)*sub.interval + slack
}

// publisher keeps one publish request outstanding at a time, so responses
// come back in order, and carries the acknowledgements of the messages the
// serve loop has handled. It notes when each subscription last answered, on
// receipt, so that time spent handing readings to a slow sink never looks
// like a silent server.
type publisher struct {
	c *opcua.Client

	mu      sync.Mutex
	acks    []*ua.SubscriptionAcknowledgement
	seen    map[uint32]time.Time // last response per subscription
	held    bool                 // waiting for the serve loop to take a response
	resumed time.Time            // when it last stopped waiting
}

func newPublisher(c *opcua.Client) *publisher {
	return &publisher{c: c, seen: map[uint32]time.Time{}}
}

// silence is how long sub has not answered although the server could have:
// ok is false while the publisher itself is held up by the serve loop (no
// request outstanding, so the server cannot answer).
func (p *publisher) silence(sub *subscription, now time.Time) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		return 0, false
	}
	last := sub.created
	for _, t := range []time.Time{p.seen[sub.id], p.resumed} {
		if t.After(last) {
			last = t
		}
	}
	return now.Sub(last), true
}

// run sends publish requests until ctx ends or the session fails, handing
// every response to out.
func (p *publisher) run(ctx context.Context, out chan<- *ua.PublishResponse) error {
	for {
		p.mu.Lock()
		acks := p.acks
		p.acks = nil
		p.mu.Unlock()
		if acks == nil {
			acks = []*ua.SubscriptionAcknowledgement{}
		}
		var res *ua.PublishResponse
		err := p.c.Send(ctx, &ua.PublishRequest{SubscriptionAcknowledgements: acks}, func(r ua.Response) error {
			return assign(r, &res)
		})
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ua.StatusBadTimeout):
			// Nothing was published in time; the stall check judges whether
			// that is wrong. A response that still comes is dropped by gopcua
			// and fetched again through the sequence gap it leaves.
			p.requeue(acks)
			continue
		case errors.Is(err, ua.StatusBadTooManyPublishRequests):
			p.requeue(acks)
			if !adapters.Sleep(ctx, 100*time.Millisecond) {
				return nil
			}
			continue
		case err != nil:
			return fmt.Errorf("publish: %w", err)
		}
		p.mu.Lock()
		p.seen[res.SubscriptionID] = time.Now()
		p.held = true
		p.mu.Unlock()
		select {
		case out <- res:
		case <-ctx.Done():
			return nil
		}
		p.mu.Lock()
		p.held, p.resumed = false, time.Now()
		p.mu.Unlock()
	}
}

// ack acknowledges a handled message with the next publish request.
func (p *publisher) ack(sub, seq uint32) {
	p.mu.Lock()
	p.acks = append(p.acks, &ua.SubscriptionAcknowledgement{SubscriptionID: sub, SequenceNumber: seq})
	p.mu.Unlock()
}

func (p *publisher) requeue(acks []*ua.SubscriptionAcknowledgement) {
	p.mu.Lock()
	p.acks = append(acks, p.acks...)
	p.mu.Unlock()
}

// republish asks the server for a message it sent but we never saw.
func republish(ctx context.Context, c *opcua.Client, sub, seq uint32) (*ua.NotificationMessage, error) {
	var res *ua.RepublishResponse
	err := c.Send(ctx, &ua.RepublishRequest{SubscriptionID: sub, RetransmitSequenceNumber: seq}, func(r ua.Response) error {
		return assign(r, &res)
	})
	if err != nil {
		return nil, err
	}
	return res.NotificationMessage, nil
}

// assign stores a response of the expected type in *dst.
func assign[T ua.Response](r ua.Response, dst *T) error {
	v, ok := r.(T)
	if !ok {
		return fmt.Errorf("unexpected response %T", r)
	}
	*dst = v
	return nil
}
