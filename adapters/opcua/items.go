package opcua

import (
	"context"
	"fmt"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/streamforge/streamforge/adapters"
)

// subscribe creates each configured subscription and its monitored items,
// and returns when each must have delivered its first values. A node the
// server refuses (unknown id, bad filter) is reported bad and skipped; it
// does not take the session down.
func (s *session) subscribe(ctx context.Context, c *opcua.Client, sink adapters.Sink,
	notifs chan *opcua.PublishNotificationData) (map[uint32]time.Time, error) {
	firstBy := map[uint32]time.Time{}
	for _, sc := range s.cfg.Subscriptions {
		var reqs []*ua.MonitoredItemCreateRequest
		var handles []int
		for i, n := range s.cfg.Nodes {
			if n.Subscription == sc.Name {
				reqs = append(reqs, s.itemRequest(i, &sc))
				handles = append(handles, i)
			}
		}
		if len(reqs) == 0 {
			continue
		}
		sub, err := c.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: time.Duration(sc.PublishingInterval)}, notifs)
		if err != nil {
			return nil, fmt.Errorf("subscription %s: %w", sc.Name, err)
		}
		res, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth, reqs...)
		if err != nil {
			return nil, fmt.Errorf("subscription %s: monitor: %w", sc.Name, err)
		}
		firstBy[sub.SubscriptionID] = time.Now().Add(3*sub.RevisedPublishingInterval + time.Duration(s.cfg.Timeout))
		var refused []adapters.Reading
		for k, r := range res.Results {
			if quality(r.StatusCode) == adapters.QualityBad {
				n := s.cfg.Nodes[handles[k]]
				s.log.Warn("opcua node refused", "node", n.NodeID, "status", r.StatusCode)
				refused = append(refused, adapters.Reading{GatewayID: s.gatewayID, Device: s.cfg.Name, Tag: n.Name,
					Quality: adapters.QualityBad, SourceTime: time.Now()})
			}
		}
		if err := s.put(ctx, sink, refused); err != nil {
			return nil, err
		}
	}
	return firstBy, nil
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

// poll reads a poll group's nodes at its interval until ctx is done or a
// read fails at the service level (which ends the session).
func (s *session) poll(ctx context.Context, c *opcua.Client, sink adapters.Sink, g *PollGroup) error {
	var ids []*ua.ReadValueID
	var handles []int
	for i, n := range s.cfg.Nodes {
		if n.PollGroup == g.Name {
			ids = append(ids, &ua.ReadValueID{NodeID: s.ids[i], AttributeID: ua.AttributeIDValue})
			handles = append(handles, i)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	t := time.NewTicker(time.Duration(g.Interval))
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
		res, err := c.Read(rctx, &ua.ReadRequest{NodesToRead: ids, TimestampsToReturn: ua.TimestampsToReturnBoth})
		cancel()
		if err == nil && len(res.Results) != len(ids) {
			err = fmt.Errorf("%d results for %d nodes", len(res.Results), len(ids))
		}
		if err != nil {
			return fmt.Errorf("poll group %s: %w", g.Name, err)
		}
		out := make([]adapters.Reading, len(ids))
		for k, dv := range res.Results {
			out[k] = reading(s.gatewayID, s.cfg.Name, s.cfg.Nodes[handles[k]].Name, dv)
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
