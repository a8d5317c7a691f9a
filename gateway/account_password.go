package gateway

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v2"

	"authgate/account"
)

// resetPage is the minimal form behind the default reset_url. Applications
// that have their own page set mail.reset_url to it.
var resetPage = template.Must(template.New("reset").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Choose a new password</title></head>
<body>
<h1>Choose a new password</h1>
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<p><label>New password <input type="password" name="password" autocomplete="new-password" minlength="{{.Min}}" maxlength="{{.Max}}" required></label></p>
<p><button type="submit">Set password</button></p>
</form>
</body>
</html>
`))

// resetForm is GET /auth/reset-password?token=: a form that posts the token
// and the new password to this route. It spends nothing.
func (g *Gateway) resetForm(c *fiber.Ctx, _ *request) error {
	tok := c.Query("token")
	if _, _, e := account.CheckOneTime(tok); e != nil {
		return e
	}
	var b strings.Builder
	err := resetPage.Execute(&b, struct {
		Action, Token string
		Min, Max      int
	}{g.cfg.Routes.ResetPassword, tok, g.cfg.Passwords.MinLength, g.cfg.Passwords.MaxLength})
	if err != nil {
		return fmt.Errorf("reset form: %w", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.SendString(b.String())
}
