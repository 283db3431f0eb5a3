package opcua

import (
	"context"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gopcua/opcua/uacp"
)

// abortableDialer makes connection set-up honour cancellation. gopcua
// v0.9.0 passes the context to the TCP dial, but its HEL/ACK handshake only
// takes the context's deadline, so against an endpoint that accepts and
// never answers, a cancelled connect (SIGTERM) waited for the whole dial
// timeout. The dialer keeps every socket it opens and, while armed, shuts
// them down when the context ends: the blocked read returns at once.
type abortableDialer struct {
	mu    sync.Mutex
	socks []syscall.RawConn
}

// uacp returns a gopcua dialer whose sockets d tracks.
func (d *abortableDialer) uacp(timeout time.Duration) *uacp.Dialer {
	ack := *uacp.DefaultClientACK
	return &uacp.Dialer{ClientACK: &ack, Dialer: &net.Dialer{Timeout: timeout,
		ControlContext: func(_ context.Context, _, _ string, c syscall.RawConn) error {
			d.mu.Lock()
			d.socks = append(d.socks, c)
			d.mu.Unlock()
			return nil
		}}}
}

// arm shuts down d's sockets if ctx ends before the returned disarm is
// called; call disarm once the connection is up, so that a later end of ctx
// leaves the session to its normal close.
func (d *abortableDialer) arm(ctx context.Context) (disarm func() bool) {
	return context.AfterFunc(ctx, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, c := range d.socks {
			// Control fails harmlessly on a socket already closed.
			_ = c.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
		}
	})
}
