package api

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// intParam reads an optional positive integer query parameter (0 when
// absent).
func intParam(c *fiber.Ctx, name string) (int, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errorf(fiber.StatusBadRequest, name+": want a positive integer")
	}
	return n, nil
}

// fleetOverview is the dashboard's first page: gateways by state, fleet
// throughput and backlog over time, credentials expiring soon.
func (s *Server) fleetOverview(c *fiber.Ctx) error {
	o, err := s.gateways.fleet.Overview(c.UserContext(), s.access(c))
	if err != nil {
		return err
	}
	return c.JSON(o)
}
