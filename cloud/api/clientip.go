package api

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/errs"
)

const clientIPKey = "client_ip"

// resolveClientIP finds the client's address once per request, before rate
// limits and handlers read it (clientIP). It is the peer address, unless the
// peer is a trusted proxy: then X-Forwarded-For is read, every header line
// in order as one list, from the right, skipping trusted proxies, and the
// first address not trusted is the client. An entry that is not an address
// is refused with 400: replacing it with the proxy's own address would let
// a client pass as the proxy (a loopback proxy would make it loopback).
// Without trusted proxies the header is never read, so a client cannot
// choose its own address.
func (s *Server) resolveClientIP(c *fiber.Ctx) error {
	ip, err := s.forwardedClient(c)
	if err != nil {
		return err
	}
	c.Locals(clientIPKey, ip.String())
	return c.Next()
}

func (s *Server) forwardedClient(c *fiber.Ctx) (netip.Addr, error) {
	peer := peerAddr(c)
	if !s.trusted(peer) {
		return peer, nil
	}
	var hops []string
	for _, line := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(line), ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, errs.Invalid("X-Forwarded-For", "every entry must be an IP address")
		}
		client = a.Unmap()
		if !s.trusted(client) {
			return client, nil
		}
	}
	return client, nil
}

func peerAddr(c *fiber.Ctx) netip.Addr {
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.Unmap()
}

// clientIP is the address resolveClientIP found.
func (s *Server) clientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(clientIPKey).(string); ok {
		return ip
	}
	return peerAddr(c).String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// remoteIP is the address of a connection's peer, "" when it has none.
func remoteIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().String()
}
