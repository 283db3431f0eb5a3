package opcua

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
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
	health    *adapters.Health

	mu     sync.Mutex
	isBad  []bool // per node: its last value had a bad status
	bad    int    // how many are true
	allBad bool   // the server was reported failing for it
}

func (s *session) run(ctx context.Context, sink adapters.Sink) {
	backoff := time.Duration(s.cfg.Backoff.Initial)
	badSent, wasUnreachable := false, false
	for {
		start := time.Now()
		err := s.serve(ctx, sink)
		if ctx.Err() != nil {
			return
		}
		wasUp := s.health.State().Connected
		if wasUp {
			badSent = false // the session was up: its loss is news again
		}
		s.health.Down(err)
		if !badSent {
			badSent = sink.Put(ctx, badReadings(s.gatewayID, s.cfg, time.Now())) == nil
		}
		// A server that takes TCP connections again after refusing them is
		// probably starting up: retry it from the initial back-off, not from
		// the one its outage grew.
		gone := unreachable(err)
		if wasUp || (wasUnreachable && !gone) || time.Since(start) > time.Duration(s.cfg.Backoff.Max) {
			backoff = time.Duration(s.cfg.Backoff.Initial)
		}
		wasUnreachable = gone
		if !s.wait(ctx, backoff, gone) {
			return
		}
		backoff = s.cfg.Backoff.Next(backoff)
	}
}

// wait sleeps out the back-off after a failed session. While the server
// could not be reached at all it also checks, every Backoff.Initial, whether
// the endpoint takes TCP connections again, and ends the wait when it does:
// a server back after a long outage is found within one probe interval
// instead of after the rest of a back-off of up to Backoff.Max. A server
// that answers TCP but fails later (bad certificate, refused login) keeps
// the full back-off, so it is not hammered with handshakes.
func (s *session) wait(ctx context.Context, backoff time.Duration, unreachable bool) bool {
	if !unreachable {
		return adapters.Sleep(ctx, backoff)
	}
	probe := time.Duration(s.cfg.Backoff.Initial)
	deadline := time.Now().Add(backoff)
	for left := backoff; left > 0; left = time.Until(deadline) {
		if !adapters.Sleep(ctx, min(probe, left)) {
			return false
		}
		if c, err := (&net.Dialer{Timeout: probe}).DialContext(ctx, "tcp", endpointHost(s.cfg.Endpoint)); err == nil {
			c.Close()
			return true
		}
	}
	return ctx.Err() == nil
}

// unreachable reports whether a session failed because no TCP connection
// could be made.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// endpointHost is the host:port of an opc.tcp URL (port 4840 by default).
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "4840")
	}
	return u.Host
}

// serve runs one session until it fails or ctx is done.
func (s *session) serve(ctx context.Context, sink adapters.Sink) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer closeClient(c)
	s.resetBad()
	s.health.Up()

	var workers sync.WaitGroup
	defer workers.Wait() // after cancel below: no poll may outlive its client
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs, err := s.subscribe(ctx, c, sink)
	if err != nil {
		return err
	}
	errc := make(chan error, len(s.cfg.PollGroups)+1)
	pub := newPublisher(c)
	resps := make(chan *ua.PublishResponse, 4)
	if len(subs) > 0 {
		workers.Go(func() { errc <- pub.run(ctx, resps) })
	}
	for i := range s.cfg.PollGroups {
		workers.Go(func() { errc <- s.poll(ctx, c, sink, &s.cfg.PollGroups[i]) })
	}
	s.log.Info("opcua session up", "endpoint", s.cfg.Endpoint, "policy", s.cfg.Policy, "mode", s.cfg.Mode)

	keepalive := time.NewTicker(time.Duration(s.cfg.Keepalive))
	defer keepalive.Stop()
	stallCheck := time.NewTicker(stallCheckEvery(subs))
	defer stallCheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			if err == nil && ctx.Err() == nil {
				continue // a poll group without nodes
			}
			return err
		case res := <-resps:
			if err := s.published(ctx, c, sink, pub, subs, res); err != nil {
				return err
			}
		case now := <-stallCheck.C:
			if err := s.checkStalls(pub, subs, now); err != nil {
				return err
			}
		case <-keepalive.C:
			if err := s.alive(ctx, c); err != nil {
				return err
			}
		}
	}
}

// connect opens a session. Discovery and connect are cut short when ctx
// ends, even in the middle of a handshake with a server that never answers.
func (s *session) connect(ctx context.Context) (*opcua.Client, error) {
	dialCtx, cancelDial := context.WithTimeout(ctx, 3*time.Duration(s.cfg.Timeout))
	defer cancelDial()
	dialer := &abortableDialer{}
	disarm := dialer.arm(dialCtx)
	defer disarm()
	opts, err := s.clientOptions(dialCtx, dialer)
	if err != nil {
		return nil, err
	}
	c, err := opcua.NewClient(s.cfg.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	if err := c.Connect(dialCtx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("connect %s: %w", s.cfg.Endpoint, err)
	}
	if !disarm() { // ctx ended just as the connection came up
		c.Close(context.Background())
		return nil, fmt.Errorf("connect %s: %w", s.cfg.Endpoint, context.Cause(dialCtx))
	}
	return c, nil
}

// closeClient asks the server to end c's session; a dead server must not
// hold us for more than a second.
func closeClient(c *opcua.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.Close(ctx)
}

// requestTimeout bounds every request on the secure channel. Publish
// requests are held by the server for up to a keep-alive period, so it is
// longer than cfg.Timeout; other requests carry cfg.Timeout in their context.
func (s *session) requestTimeout() time.Duration {
	longest := time.Duration(0)
	for _, sc := range s.cfg.Subscriptions {
		longest = max(longest, keepAliveCount*time.Duration(sc.PublishingInterval))
	}
	return 2*longest + time.Duration(s.cfg.Timeout)
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

func (s *session) put(ctx context.Context, sink adapters.Sink, rs []adapters.Reading) error {
	if len(rs) == 0 {
		return nil
	}
	if err := sink.Put(ctx, rs); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	s.health.Read(time.Now())
	return nil
}

// value turns a node's data value into a reading and notes its status: bad
// statuses and overflowed queues are counted as faults, and a server whose
// every node is bad is reported failing although its session works.
func (s *session) value(h int, dv *ua.DataValue) adapters.Reading {
	n := &s.cfg.Nodes[h]
	r := reading(s.gatewayID, s.cfg.Name, n.Name, dv)
	s.status(h, dv.Status)
	return r
}

func (s *session) status(h int, st ua.StatusCode) {
	bad := quality(st) == adapters.QualityBad
	switch {
	case bad:
		s.health.Fault(s.cfg.Nodes[h].Name, statusName(st), 1, st.Error())
	case overflowed(st):
		s.health.Fault(s.cfg.Nodes[h].Name, "queue_overflow", 1, "the server's queue was full: values before this one were dropped")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isBad[h] == bad {
		return
	}
	s.isBad[h] = bad
	if bad {
		s.bad++
	} else {
		s.bad--
	}
	switch all := s.bad == len(s.isBad); {
	case all && !s.allBad:
		s.allBad = true
		s.health.Down(fmt.Errorf("every node reports a bad status, the last %w", st))
	case !all && s.allBad:
		s.allBad = false
		s.health.Up()
	}
}

func (s *session) resetBad() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.isBad, s.bad, s.allBad = make([]bool, len(s.cfg.Nodes)), 0, false
}

func (s *session) snapshot() adapters.State { return s.health.State() }
