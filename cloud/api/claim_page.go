package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

var (
	//go:embed web/claim.html
	claimHTML []byte
	//go:embed web/claim.js
	claimJS []byte
	//go:embed web/claim.css
	claimCSS []byte
)

// claimPage is the phone-sized page a claim QR code opens. It is public:
// it holds no data, and everything it does goes through the API as the
// logged-in user.
func (s *Server) claimPage(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(claimHTML)
}

func (s *Server) claimScript(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	return c.Send(claimJS)
}

func (s *Server) claimStyle(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	return c.Send(claimCSS)
}
