package simtest

import (
	"io"
	"net"
	"sync"
)

// Fault is what a Proxy does to its connections.
type Fault int

const (
	Pass Fault = iota // forward both ways
	Hang              // accept and read, never answer
	Drop              // close every connection at once
)

// Proxy is a TCP forwarder in front of a real peer that can be switched to
// hang or drop, to test how clients survive a broken device.
type Proxy struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	fault Fault
	conns map[net.Conn]bool
}

// NewProxy listens on listen ("127.0.0.1:0" picks a free port) and forwards to target.
func NewProxy(listen, target string) (*Proxy, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, target: target, conns: map[net.Conn]bool{}}
	go p.accept()
	return p, nil
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Set switches the fault; Hang and Drop also cut the connections open now,
// so clients notice at their next request.
func (p *Proxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
	if f != Pass {
		for c := range p.conns {
			c.Close()
		}
	}
}

// Close stops the proxy and its connections.
func (p *Proxy) Close() error {
	p.Set(Drop)
	return p.l.Close()
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *Proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	p.mu.Lock()
	f := p.fault
	p.mu.Unlock()
	p.track(c, true)
	defer p.track(c, false)
	defer c.Close()
	switch f {
	case Drop:
		return
	case Hang:
		io.Copy(io.Discard, c)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	defer up.Close()
	go func() {
		io.Copy(up, c)
		up.Close()
	}()
	io.Copy(c, up)
}
