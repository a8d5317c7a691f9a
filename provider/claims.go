package provider

import (
	"encoding/json"
	"strconv"
	"strings"

	"authgate/config"
)

// Claims is what authgate reads about a provider account.
type Claims struct {
	Subject       string
	Email         string
	EmailVerified bool
	Username      string
	Name          string
	Groups        []string
}

// mapClaims reads the configured fields out of a decoded ID token or
// user-info object. A subject may be a JSON string or number (GitHub's id
// is a number); email_verified may be a boolean or the string "true" (some
// providers send it as a string); groups may be a list of strings or one
// space- or comma-separated string.
func mapClaims(raw map[string]any, names config.ProviderClaims) Claims {
	c := Claims{
		Subject:  scalar(raw[names.Subject]),
		Email:    str(raw[names.Email]),
		Username: str(raw[names.Username]),
		Name:     str(raw[names.Name]),
	}
	switch v := raw[names.EmailVerified].(type) {
	case bool:
		c.EmailVerified = v
	case string:
		c.EmailVerified = strings.EqualFold(v, "true")
	}
	switch v := raw[names.Groups].(type) {
	case []any:
		for _, g := range v {
			if s := str(g); s != "" {
				c.Groups = append(c.Groups, s)
			}
		}
	case string:
		c.Groups = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	}
	return c
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// scalar is a string, or a JSON number written back without exponent or
// fraction noise.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}
