package testenv

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback address whose port was free a moment ago.
// It races: the port is free again once this returns, and any process may
// take it before the intended server binds it. Prefer a listener the test
// holds (ListenSocket; StartCloud hands the cloud its sockets), or a server on
// 127.0.0.1:0 that reports its port (the agent's metrics line, the
// libmodbus peer, the in-process simulators). It remains for in-process
// servers that must know their own address before they start, and for
// programs that can do neither: step-ca (its ACME URLs carry the port of
// its configured address), swtpm's TCP server, node-opcua's endpoint URL,
// qemu's host forwards and Apache Kafka's listeners (advertised in its
// config).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
