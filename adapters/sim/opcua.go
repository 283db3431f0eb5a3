package sim

import (
	"context"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/streamforge/streamforge/adapters/opcua"
)

// OPCUA is an OPC UA sim: one variable per signal, node id "ns=1;s=<name>",
// updated Rate times a second. gopcua's server does not sample, so every
// tick stores the new values behind our own lock and then tells the server
// which nodes changed. Endpoints: None, and Basic256Sha256 with Sign and
// SignAndEncrypt; anonymous and username tokens (gopcua's server accepts
// any password).
type OPCUA struct {
	addr    string
	signals []Signal
	rate    float64
	cert    []byte
	key     *rsa.PrivateKey
	start   time.Time
	aliases []string

	mu     sync.RWMutex
	values []*ua.DataValue
	srv    *server.Server
	stop   context.CancelFunc
	done   chan struct{}
}

// StartOPCUA serves signals on addr ("127.0.0.1:0" picks a free port) with a
// fresh self-signed server certificate; rate is updates per second. gopcua's
// server only lists endpoints whose URL matches the one a client asks for,
// so a client reaching it through a Proxy needs the proxy's host:port among
// aliases.
func StartOPCUA(addr string, signals []Signal, rate float64, aliases ...string) (*OPCUA, error) {
	addr, err := resolvePort(addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	cert, key, err := opcua.SelfSigned("urn:streamforge:sim", []string{host, "localhost"})
	if err != nil {
		return nil, fmt.Errorf("opcua sim certificate: %w", err)
	}
	o := &OPCUA{addr: addr, signals: signals, rate: rate, cert: cert, key: key, start: time.Now(), aliases: aliases,
		values: make([]*ua.DataValue, len(signals))}
	o.update()
	return o, o.Start()
}

// Start (re)starts the server on the same address and certificate.
func (o *OPCUA) Start() error {
	var opts []server.Option
	for _, a := range append([]string{o.addr}, o.aliases...) {
		host, port, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(port)
		opts = append(opts, server.EndPoint(host, p))
	}
	srv := server.New(append(opts,
		server.Certificate(o.cert), server.PrivateKey(o.key),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSign),
		server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSignAndEncrypt),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.EnableAuthMode(ua.UserTokenTypeUserName),
		server.SetLogger(slog.New(slog.DiscardHandler)),
	)...)
	ns := server.NewNodeNameSpace(srv, "urn:streamforge:sim")
	for i, s := range o.signals {
		n := server.NewVariableNode(ua.NewStringNodeID(ns.ID(), s.Name), s.Name, func() *ua.DataValue {
			o.mu.RLock()
			defer o.mu.RUnlock()
			return o.values[i]
		})
		ns.AddNode(n)
		ns.Objects().AddRef(n, id.HasComponent, true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("opcua sim listen %s: %w", o.addr, err)
	}
	o.mu.Lock()
	o.srv, o.stop, o.done = srv, cancel, make(chan struct{})
	o.mu.Unlock()
	go o.tick(ctx, srv, ns, o.done)
	return nil
}

func (o *OPCUA) tick(ctx context.Context, srv *server.Server, ns *server.NodeNameSpace, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.update()
		for _, s := range o.signals {
			srv.ChangeNotification(ua.NewStringNodeID(ns.ID(), s.Name))
		}
	}
}

func (o *OPCUA) update() {
	now := time.Now()
	vals := make([]*ua.DataValue, len(o.signals))
	for i, s := range o.signals {
		vals[i] = &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
			Value: ua.MustVariant(s.At(now.Sub(o.start), o.rate)), SourceTimestamp: now, ServerTimestamp: now}
	}
	o.mu.Lock()
	o.values = vals
	o.mu.Unlock()
}

// Stop closes the server and every session, as a crash or restart would.
func (o *OPCUA) Stop() {
	o.mu.Lock()
	srv, stop, done := o.srv, o.stop, o.done
	o.srv = nil
	o.mu.Unlock()
	if srv == nil {
		return
	}
	stop()
	<-done
	// gopcua's Close closes the listener and every channel, then waits up to
	// 10 s for goroutines that do not exit; wait only until the port is free.
	go srv.Close()
	for range 100 {
		c, err := net.DialTimeout("tcp", o.addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Endpoint is the opc.tcp URL of the server.
func (o *OPCUA) Endpoint() string { return "opc.tcp://" + o.addr }

// Addr is the server's host:port.
func (o *OPCUA) Addr() string { return o.addr }

// NodeID is the node id of a signal.
func NodeID(signal string) string { return "ns=1;s=" + signal }

// WriteCertificate writes the server certificate as PEM, for clients to trust.
func (o *OPCUA) WriteCertificate(file string) error {
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.cert}), 0o644)
}
