package gateway

import "github.com/gofiber/fiber/v2"

// accountRoutes adds the account flows (SPEC section 3).
func (g *Gateway) accountRoutes(t *routeTable) {}

func (g *Gateway) patchMe(c *fiber.Ctx, rq *request) error {
	return problem(ProblemMethodNotAllowed, "not yet")
}
