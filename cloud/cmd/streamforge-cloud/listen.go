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

// apiListener opens the API's listener on addr, or, when addr is "fd:N",
// takes over the listening socket a parent process handed down as file
// descriptor N (socket activation). A parent that holds the socket never
// chooses a port, frees it and hopes the server gets it first; with
// "127.0.0.1:0" the kernel picks the port and the process reports it in
// its "listening on" line.
func apiListener(addr string) (net.Listener, error) {
	fd, ok := strings.CutPrefix(addr, "fd:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return nil, fmt.Errorf("STREAMFORGE_LISTEN %q: want fd:N with N >= 3", addr)
	}
	// Ask before wrapping: a descriptor that is not a listening socket
	// may belong to the runtime, and wrapping it would close it.
	if v, err := syscall.GetsockoptInt(n, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || v == 0 {
		return nil, fmt.Errorf("STREAMFORGE_LISTEN %q: fd %d is not a listening socket", addr, n)
	}
	f := os.NewFile(uintptr(n), "listen-"+fd)
	defer f.Close() // FileListener holds its own duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("STREAMFORGE_LISTEN %q: not a listening socket: %w", addr, err)
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
