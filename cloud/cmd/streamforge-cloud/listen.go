package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// listen opens a listener on addr (setting names it in errors), or, when
// addr is "fd:N", takes over the listening socket a parent process handed
// down as file descriptor N (socket activation). A parent that holds the
// socket never chooses a port, frees it and hopes the server gets it
// first; with port 0 the kernel picks the port and the process reports it
// (the API's "listening on" line, the gateway listener's line). Both the
// API listener (STREAMFORGE_LISTEN) and the gateways' mTLS listener
// (STREAMFORGE_GATEWAY_LISTEN) are opened here.
func listen(setting, addr string) (net.Listener, error) {
	fd, ok := strings.CutPrefix(addr, "fd:")
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setting, err)
		}
		return ln, nil
	}
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return nil, fmt.Errorf("%s %q: want fd:N with N >= 3", setting, addr)
	}
	// Ask before wrapping: a descriptor that is not a listening socket
	// may belong to the runtime, and wrapping it would close it.
	if v, err := syscall.GetsockoptInt(n, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || v == 0 {
		return nil, fmt.Errorf("%s %q: fd %d is not a listening socket", setting, addr, n)
	}
	f := os.NewFile(uintptr(n), "listen-"+fd)
	defer f.Close() // FileListener holds its own duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("%s %q: not a listening socket: %w", setting, addr, err)
	}
	return ln, nil
}

// tlsListener serves TLS on ln with the certificate pair, as Fiber's own
// ListenTLS does (TLS 1.2 at least).
func tlsListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("STREAMFORGE_TLS_CERT/KEY: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}), nil
}
