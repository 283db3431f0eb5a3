package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/web"
)

// dashboard serves the single-page dashboard at / (its routes are URL
// fragments, so the server has one page).
func (s *Server) dashboard(c *fiber.Ctx) error { return sendAsset(c, "index.html") }

// dashboardAsset serves the bundle's files under /ui/.
func (s *Server) dashboardAsset(c *fiber.Ctx) error {
	name := c.Params("file")
	if name == "index.html" {
		return errorf(fiber.StatusNotFound, "no such route")
	}
	return sendAsset(c, name)
}

func sendAsset(c *fiber.Ctx, name string) error {
	a, ok := web.Get(name)
	if !ok {
		return errorf(fiber.StatusNotFound, "no such route")
	}
	c.Set(fiber.HeaderContentSecurityPolicy, web.CSP)
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	c.Set(fiber.HeaderContentType, a.ContentType)
	c.Vary(fiber.HeaderAcceptEncoding)
	if strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(a.Gzip)
	}
	return c.Send(a.Body)
}
