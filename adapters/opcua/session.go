package opcua

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/streamforge/streamforge/adapters"
)

// session keeps one server's session alive: it connects, subscribes and
// polls, and when anything fails it throws the whole client away and starts
// again after a back-off, re-creating every subscription. gopcua's own
// auto-reconnect is off: rebuilding from scratch is the one path that also
// survives a server restart, which loses all sessions and subscriptions.
type session struct {
	cfg       *Server
	gatewayID string
	log       *slog.Logger
	appURI    string
	trust     []*x509.Certificate
	cert      []byte
	key       *rsa.PrivateKey
	userCert  []byte
	userKey   *rsa.PrivateKey
	ids       []*ua.NodeID // parsed Nodes[i].NodeID; i is the client handle

	mu    sync.Mutex
	state adapters.State
}

func (s *session) run(ctx context.Context, sink adapters.Sink) {
	backoff := time.Duration(s.cfg.Backoff.Initial)
	badSent := false
	for {
		start := time.Now()
		err := s.serve(ctx, sink)
		if ctx.Err() != nil {
			return
		}
		if s.snapshot().Connected {
			badSent = false // the session was up: its loss is news again
		}
		s.record(err)
		if !badSent {
			badSent = sink.Put(ctx, badReadings(s.gatewayID, s.cfg, time.Now())) == nil
		}
		if s.snapshot().Connected || time.Since(start) > time.Duration(s.cfg.Backoff.Max) {
			backoff = time.Duration(s.cfg.Backoff.Initial)
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, time.Duration(s.cfg.Backoff.Max))
	}
}

// serve runs one session until it fails or ctx is done.
func (s *session) serve(ctx context.Context, sink adapters.Sink) error {
	dialCtx, cancelDial := context.WithTimeout(ctx, 3*time.Duration(s.cfg.Timeout))
	defer cancelDial()
	opts, err := s.clientOptions(dialCtx)
	if err != nil {
		return err
	}
	c, err := opcua.NewClient(s.cfg.Endpoint, opts...)
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	if err := c.Connect(dialCtx); err != nil {
		return fmt.Errorf("connect %s: %w", s.cfg.Endpoint, err)
	}
	defer func() {
		// Closing asks the server to end the session; a dead server must not hold us.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.Close(cctx)
	}()

	var polls sync.WaitGroup
	defer polls.Wait() // after cancel below: no poll may outlive its client
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notifs := make(chan *opcua.PublishNotificationData, 64)
	// gopcua v0.9.0's publish loop can stay paused for good when Subscribe
	// races its start (a random select between its pause and resume
	// channels); a subscription that never delivers its first values is
	// therefore treated as a lost session.
	firstBy, err := s.subscribe(ctx, c, sink, notifs)
	if err != nil {
		return err
	}
	errc := make(chan error, len(s.cfg.PollGroups))
	for i := range s.cfg.PollGroups {
		polls.Go(func() { errc <- s.poll(ctx, c, sink, &s.cfg.PollGroups[i]) })
	}
	s.record(nil)
	s.log.Info("opcua session up", "endpoint", s.cfg.Endpoint, "policy", s.cfg.Policy, "mode", s.cfg.Mode)

	keepalive := time.NewTicker(time.Duration(s.cfg.Keepalive))
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case n := <-notifs:
			delete(firstBy, n.SubscriptionID)
			if err := s.notified(ctx, sink, n); err != nil {
				return err
			}
		case <-keepalive.C:
			for id, by := range firstBy {
				if time.Now().After(by) {
					return fmt.Errorf("subscription %d delivered nothing since it was created", id)
				}
			}
			if err := s.alive(ctx, c); err != nil {
				return err
			}
		}
	}
}

// alive reads the server's clock: a lost session, a dead server or a hung
// connection all fail it within the request timeout.
func (s *session) alive(ctx context.Context, c *opcua.Client) error {
	if st := c.State(); st != opcua.Connected {
		return fmt.Errorf("client state %s", st)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
	defer cancel()
	res, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{
		NodeID: ua.NewNumericNodeID(0, id.Server_ServerStatus_CurrentTime), AttributeID: ua.AttributeIDValue}}})
	if err == nil && len(res.Results) == 1 && quality(res.Results[0].Status) == adapters.QualityBad {
		err = res.Results[0].Status
	}
	if err != nil {
		return fmt.Errorf("keepalive read: %w", err)
	}
	return nil
}

// notified turns a publish notification into readings.
func (s *session) notified(ctx context.Context, sink adapters.Sink, n *opcua.PublishNotificationData) error {
	if n.Error != nil {
		return fmt.Errorf("subscription %d: %w", n.SubscriptionID, n.Error)
	}
	switch v := n.Value.(type) {
	case *ua.DataChangeNotification:
		out := make([]adapters.Reading, 0, len(v.MonitoredItems))
		for _, item := range v.MonitoredItems {
			if h := int(item.ClientHandle); h < len(s.cfg.Nodes) && item.Value != nil {
				out = append(out, reading(s.gatewayID, s.cfg.Name, s.cfg.Nodes[h].Name, item.Value))
			}
		}
		return s.put(ctx, sink, out)
	case *ua.StatusChangeNotification:
		if quality(v.Status) == adapters.QualityBad {
			return fmt.Errorf("subscription %d status: %w", n.SubscriptionID, v.Status)
		}
	}
	return nil
}

func (s *session) put(ctx context.Context, sink adapters.Sink, rs []adapters.Reading) error {
	if len(rs) == 0 {
		return nil
	}
	if err := sink.Put(ctx, rs); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	s.mu.Lock()
	s.state.LastRead = time.Now()
	s.mu.Unlock()
	return nil
}

func (s *session) record(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.state.Connected, s.state.LastError = true, ""
		return
	}
	if s.state.Connected || s.state.LastError != err.Error() { // once per outage and cause, not per retry
		s.log.Warn("opcua session down", "endpoint", s.cfg.Endpoint, "err", err)
	}
	s.state.Connected, s.state.LastError = false, err.Error()
	s.state.Errors++
}

func (s *session) snapshot() adapters.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
