package opcua

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/streamforge/streamforge/adapters"
)

// subscribe creates each configured subscription and its monitored items.
// A node the server refuses (unknown id, bad filter) is reported bad and
// skipped; it does not take the session down.
func (s *session) subscribe(ctx context.Context, c *opcua.Client, sink adapters.Sink) (map[uint32]*subscription, error) {
	subs := map[uint32]*subscription{}
	for i := range s.cfg.Subscriptions {
		sc := &s.cfg.Subscriptions[i]
		var reqs []*ua.MonitoredItemCreateRequest
		var handles []int
		for i, n := range s.cfg.Nodes {
			if n.Subscription == sc.Name {
				reqs = append(reqs, s.itemRequest(i, sc))
				handles = append(handles, i)
			}
		}
		if len(reqs) == 0 {
			continue
		}
		sub, err := s.createSubscription(ctx, c, sc, len(reqs))
		if err != nil {
			return nil, fmt.Errorf("subscription %s: %w", sc.Name, err)
		}
		subs[sub.id] = sub
		var res *ua.CreateMonitoredItemsResponse
		err = s.send(ctx, c, &ua.CreateMonitoredItemsRequest{SubscriptionID: sub.id,
			TimestampsToReturn: ua.TimestampsToReturnBoth, ItemsToCreate: reqs}, func(r ua.Response) error { return assign(r, &res) })
		if err == nil && len(res.Results) != len(reqs) {
			err = fmt.Errorf("%d results for %d items", len(res.Results), len(reqs))
		}
		if err != nil {
			return nil, fmt.Errorf("subscription %s: monitor: %w", sc.Name, err)
		}
		var refused []adapters.Reading
		for k, r := range res.Results {
			if quality(r.StatusCode) == adapters.QualityBad {
				n := s.cfg.Nodes[handles[k]]
				s.log.Warn("opcua node refused", "node", n.NodeID, "status", r.StatusCode)
				s.status(handles[k], r.StatusCode)
				refused = append(refused, adapters.Reading{GatewayID: s.gatewayID, Device: s.cfg.Name, Tag: n.Name,
					Quality: adapters.QualityBad, SourceTime: time.Now()})
			}
		}
		if err := s.put(ctx, sink, refused); err != nil {
			return nil, err
		}
	}
	return subs, nil
}

// createSubscription asks for a short keep-alive (see keepAliveCount) and
// room for every queued value of every item in one publish response, so a
// busy subscription does not need several publish cycles per interval and
// fill its items' queues meanwhile.
func (s *session) createSubscription(ctx context.Context, c *opcua.Client, sc *Subscription, items int) (*subscription, error) {
	interval := time.Duration(sc.PublishingInterval)
	lifetime := max(3*keepAliveCount, uint32(time.Minute/interval)+1) // the server drops a subscription nobody publishes for
	perPublish := min(uint64(items)*uint64(sc.QueueSize), math.MaxUint32)
	var res *ua.CreateSubscriptionResponse
	err := s.send(ctx, c, &ua.CreateSubscriptionRequest{
		RequestedPublishingInterval: float64(interval) / float64(time.Millisecond),
		RequestedLifetimeCount:      lifetime,
		RequestedMaxKeepAliveCount:  keepAliveCount,
		MaxNotificationsPerPublish:  uint32(perPublish),
		PublishingEnabled:           true,
	}, func(r ua.Response) error { return assign(r, &res) })
	if err != nil {
		return nil, err
	}
	return &subscription{name: sc.Name, id: res.SubscriptionID, created: time.Now(), nextSeq: 1,
		interval:  time.Duration(res.RevisedPublishingInterval * float64(time.Millisecond)),
		keepAlive: max(res.RevisedMaxKeepAliveCount, 1)}, nil
}

// send sends one request bounded by the configured request timeout.
func (s *session) send(ctx context.Context, c *opcua.Client, req ua.Request, h func(ua.Response) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
	defer cancel()
	return c.Send(ctx, req, h)
}

func (s *session) itemRequest(i int, sc *Subscription) *ua.MonitoredItemCreateRequest {
	req := opcua.NewMonitoredItemCreateRequestWithDefaults(s.ids[i], ua.AttributeIDValue, uint32(i))
	p := req.RequestedParameters
	p.SamplingInterval = float64(time.Duration(sc.SamplingInterval)) / float64(time.Millisecond)
	p.QueueSize = sc.QueueSize
	if db := s.cfg.Nodes[i].Deadband; db != nil {
		kind := ua.DeadbandTypeAbsolute
		if db.Type == "percent" {
			kind = ua.DeadbandTypePercent
		}
		p.Filter = ua.NewExtensionObject(&ua.DataChangeFilter{
			Trigger: ua.DataChangeTriggerStatusValue, DeadbandType: uint32(kind), DeadbandValue: db.Value})
	}
	return req
}

// published handles one publish response: data, or a keep-alive that
// carries the next sequence number. Messages skipped on the way are fetched
// again first; each data message is acknowledged once its readings are
// taken by the sink.
func (s *session) published(ctx context.Context, c *opcua.Client, sink adapters.Sink, p *publisher,
	subs map[uint32]*subscription, res *ua.PublishResponse) error {
	sub, msg := subs[res.SubscriptionID], res.NotificationMessage
	if sub == nil || msg == nil {
		return nil // not ours (an earlier session's)
	}
	if err := s.catchUp(ctx, c, sink, p, sub, msg.SequenceNumber); err != nil {
		return err
	}
	if len(msg.NotificationData) == 0 || msg.SequenceNumber < sub.nextSeq {
		return nil // a keep-alive, or a message already handled
	}
	if err := s.message(ctx, sink, sub, msg); err != nil {
		return err
	}
	p.ack(sub.id, msg.SequenceNumber)
	sub.nextSeq = msg.SequenceNumber + 1
	return nil
}

// maxRepublish bounds how many missed messages are fetched again at once;
// a longer gap is only counted.
const maxRepublish = 16

// catchUp fetches the messages between the next expected one and seq with
// Republish. Those the server no longer has are a gap: counted and logged.
func (s *session) catchUp(ctx context.Context, c *opcua.Client, sink adapters.Sink, p *publisher, sub *subscription, seq uint32) error {
	if seq <= sub.nextSeq {
		return nil
	}
	if seq-sub.nextSeq <= maxRepublish {
		for ; sub.nextSeq < seq; sub.nextSeq++ {
			rctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
			msg, err := republish(rctx, c, sub.id, sub.nextSeq)
			cancel()
			if err != nil {
				break
			}
			if err := s.message(ctx, sink, sub, msg); err != nil {
				return err
			}
			p.ack(sub.id, sub.nextSeq)
		}
	}
	if lost := seq - sub.nextSeq; lost > 0 {
		s.health.Fault(sub.name, "notification_gap", uint64(lost),
			fmt.Sprintf("publish messages %d to %d never arrived and could not be fetched again", sub.nextSeq, seq-1))
		sub.nextSeq = seq
	}
	return ctx.Err()
}

// message turns one notification message into readings.
func (s *session) message(ctx context.Context, sink adapters.Sink, sub *subscription, msg *ua.NotificationMessage) error {
	for _, data := range msg.NotificationData {
		if data == nil {
			continue
		}
		switch v := data.Value.(type) {
		case *ua.DataChangeNotification:
			out := make([]adapters.Reading, 0, len(v.MonitoredItems))
			for _, item := range v.MonitoredItems {
				if h := int(item.ClientHandle); h < len(s.cfg.Nodes) && item.Value != nil {
					out = append(out, s.value(h, item.Value))
				}
			}
			if err := s.put(ctx, sink, out); err != nil {
				return err
			}
		case *ua.StatusChangeNotification:
			if quality(v.Status) == adapters.QualityBad {
				return fmt.Errorf("subscription %s status: %w", sub.name, v.Status)
			}
		}
	}
	return nil
}

// checkStalls ends the session when a subscription sent neither data nor a
// keep-alive for longer than a healthy one can; the session is then
// rebuilt with fresh subscriptions, and the loss reported as bad readings.
func (s *session) checkStalls(p *publisher, subs map[uint32]*subscription, now time.Time) error {
	slack := min(time.Duration(s.cfg.Timeout), time.Second)
	for _, sub := range subs {
		silent, ok := p.silence(sub, now)
		if !ok || silent <= sub.limit(slack) {
			continue
		}
		s.health.Fault(sub.name, "subscription_stalled", 1, "no publish response for "+silent.String())
		return fmt.Errorf("subscription %s stalled: neither data nor keep-alive for %v (publishing interval %v, keep-alive count %d)",
			sub.name, silent.Round(time.Millisecond), sub.interval, sub.keepAlive)
	}
	return nil
}

// stallCheckEvery is the shortest publishing interval (an hour without
// subscriptions: nothing to check).
func stallCheckEvery(subs map[uint32]*subscription) time.Duration {
	every := time.Hour
	for _, sub := range subs {
		every = min(every, max(sub.interval, 10*time.Millisecond))
	}
	return every
}

// poll reads a poll group's nodes at its interval until ctx is done or a
// read fails at the service level (which ends the session).
func (s *session) poll(ctx context.Context, c *opcua.Client, sink adapters.Sink, g *PollGroup) error {
	handles := s.handles(func(n *Node) bool { return n.PollGroup == g.Name })
	if len(handles) == 0 {
		return nil
	}
	ids := s.readIDs(handles)
	t := time.NewTicker(time.Duration(g.Interval))
	defer t.Stop()
	for {
		results, err := s.read(ctx, c, ids)
		if err != nil {
			return fmt.Errorf("poll group %s: %w", g.Name, err)
		}
		out := make([]adapters.Reading, len(ids))
		for k, dv := range results {
			out[k] = s.value(handles[k], dv)
		}
		if err := s.put(ctx, sink, out); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// handles are the client handles (indexes into cfg.Nodes) of the nodes that
// match.
func (s *session) handles(match func(*Node) bool) []int {
	var out []int
	for i := range s.cfg.Nodes {
		if match(&s.cfg.Nodes[i]) {
			out = append(out, i)
		}
	}
	return out
}

// readIDs are the Read service's value ids of the nodes handles.
func (s *session) readIDs(handles []int) []*ua.ReadValueID {
	ids := make([]*ua.ReadValueID, len(handles))
	for k, h := range handles {
		ids[k] = &ua.ReadValueID{NodeID: s.ids[h], AttributeID: ua.AttributeIDValue}
	}
	return ids
}

// read reads ids once, bounded by the server's timeout; the data values
// come in the order of ids. An error is the service's: a node's own bad
// status is in its data value.
func (s *session) read(ctx context.Context, c *opcua.Client, ids []*ua.ReadValueID) ([]*ua.DataValue, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
	defer cancel()
	res, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: ids, TimestampsToReturn: ua.TimestampsToReturnBoth})
	if err == nil && len(res.Results) != len(ids) {
		err = fmt.Errorf("%d results for %d nodes", len(res.Results), len(ids))
	}
	if err != nil {
		return nil, err
	}
	return res.Results, nil
}
