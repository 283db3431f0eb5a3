package controlplane

import (
	"context"
	"net/http"
	"strconv"

	"github.com/streamforge/streamforge/pkg/wire"
)

// noteConnectionTests remembers whether a config poll's answer said that
// connection tests wait (it does on 200, 304 and 404 alike).
func (c *Client) noteConnectionTests(res *http.Response) {
	waiting := res != nil && res.Header.Get(wire.ConnectionTestsHeader) != ""
	c.mu.Lock()
	c.testsWaiting = waiting
	c.mu.Unlock()
}

// ConnectionTestsWaiting reports whether the last config poll said that
// connection tests wait.
func (c *Client) ConnectionTestsWaiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.testsWaiting
}

// ConnectionTests takes the connection tests waiting for this gateway.
func (c *Client) ConnectionTests(ctx context.Context) ([]wire.ConnectionTest, error) {
	var out struct {
		Tests []wire.ConnectionTest `json:"tests"`
	}
	_, err := c.do(ctx, http.MethodGet, "/api/v1/gateways/"+c.GatewayID+"/connection-tests", nil, &out, c.auth())
	return out.Tests, err
}

// ConnectionTestResult posts the result of test id.
func (c *Client) ConnectionTestResult(ctx context.Context, id uint64, r wire.ConnectionTestResult) error {
	path := "/api/v1/gateways/" + c.GatewayID + "/connection-tests/" + strconv.FormatUint(id, 10) + "/result"
	_, err := c.do(ctx, http.MethodPost, path, r, nil, c.auth())
	return err
}

// startConnectionTests runs the waiting connection tests, if any, in a
// goroutine of their own: a probe of a dead device waits out its timeouts,
// which must delay neither config polls nor heartbeats. One batch runs at
// a time; tests asked for meanwhile are flagged again at the next poll.
func (l *Loop) startConnectionTests(ctx context.Context) {
	if l.opts.ConnectionTest == nil || !l.opts.Client.ConnectionTestsWaiting() || !l.testing.CompareAndSwap(false, true) {
		return
	}
	l.tests.Add(1)
	go func() {
		defer l.tests.Done()
		defer l.testing.Store(false)
		callCtx, cancel := context.WithTimeout(ctx, l.opts.CallTimeout)
		tests, err := l.opts.Client.ConnectionTests(callCtx)
		cancel()
		if err != nil {
			l.opts.Log.Warn("connection tests could not be fetched; retried at the next poll", "err", err)
			return
		}
		for _, t := range tests {
			res := l.opts.ConnectionTest(t)
			callCtx, cancel := context.WithTimeout(ctx, l.opts.CallTimeout)
			err := l.opts.Client.ConnectionTestResult(callCtx, t.ID, res)
			cancel()
			if err != nil {
				// The test was handed out once: its requester sees it "sent"
				// without a result and may ask again.
				l.opts.Log.Warn("connection test result not delivered", "test", t.ID, "err", err)
			}
		}
	}()
}
