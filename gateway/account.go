package gateway

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"authgate/mail"
)

// Mailer sends the account flows' mails (mail.SMTPMailer, mail.LogMailer).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// accountRoutes adds the account flows (SPEC section 3).
func (g *Gateway) accountRoutes(t *routeTable) {}

func (g *Gateway) patchMe(c *fiber.Ctx, rq *request) error {
	return problem(ProblemMethodNotAllowed, "not yet")
}
