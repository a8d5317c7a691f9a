package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// readBody returns the request body, refusing more than limit bytes with
// 413. The server streams request bodies (for the proxy), so the limit of
// the gateway's own routes is enforced here.
func readBody(c *fiber.Ctx, limit int) ([]byte, error) {
	req := c.Request()
	if req.IsBodyStream() {
		if cl := req.Header.ContentLength(); cl > limit {
			return nil, problem(ProblemTooLarge, fmt.Sprintf("request body larger than %d bytes", limit))
		}
		b, err := io.ReadAll(io.LimitReader(req.BodyStream(), int64(limit)+1))
		if err != nil {
			return nil, problem(ProblemBadRequest, "could not read the request body")
		}
		if len(b) > limit {
			return nil, problem(ProblemTooLarge, fmt.Sprintf("request body larger than %d bytes", limit))
		}
		return b, nil
	}
	b := req.Body()
	if len(b) > limit {
		return nil, problem(ProblemTooLarge, fmt.Sprintf("request body larger than %d bytes", limit))
	}
	return b, nil
}

// mediaType is the request's Content-Type without parameters, lower case.
func mediaType(c *fiber.Ctx) string {
	ct := string(c.Request().Header.ContentType())
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// decodeJSON reads a JSON object into dst. Unknown fields are ignored (so
// clients may send more); wrong types and syntax errors name the field or
// the offset. The Content-Type must say JSON (application/json or a +json
// type): a body without one, or with text/plain, is refused with 415, since
// those are the "simple requests" a foreign page can send cross-site without
// a CORS preflight.
func (g *Gateway) decodeJSON(c *fiber.Ctx, dst any) error {
	if mt := mediaType(c); mt != fiber.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json") {
		if mt == "" {
			return problem(ProblemUnsupportedMedia, "the request has no Content-Type; send application/json")
		}
		return problem(ProblemUnsupportedMedia, "send application/json")
	}
	body, err := readBody(c, g.cfg.Server.BodyLimit)
	if err != nil {
		return err
	}
	return decodeJSONBytes(body, dst)
}

// decodeJSONBytes decodes one JSON object. A body that is not valid UTF-8
// is refused (RFC 8259 section 8.1) rather than decoded: encoding/json would
// silently turn each invalid byte into U+FFFD, so two different passwords
// would hash alike.
func decodeJSONBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return problem(ProblemBadRequest, "request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return problem(ProblemBadRequest, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return fieldProblem(te.Field, "must be a "+jsonKind(te.Type.Kind().String()))
		case errors.As(err, &te):
			return problem(ProblemBadRequest, "request body must be a JSON object")
		case errors.As(err, &se):
			return problem(ProblemBadRequest, fmt.Sprintf("malformed JSON at byte %d", se.Offset))
		default:
			return problem(ProblemBadRequest, "malformed JSON body")
		}
	}
	if dec.More() {
		return problem(ProblemBadRequest, "trailing data after the JSON object")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	case "int", "int64", "uint", "float64":
		return "number"
	}
	return k
}

// decodeForm reads an application/x-www-form-urlencoded body.
func (g *Gateway) decodeForm(c *fiber.Ctx) (url.Values, error) {
	body, err := readBody(c, g.cfg.Server.BodyLimit)
	if err != nil {
		return nil, err
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, problem(ProblemBadRequest, "malformed form body")
	}
	return v, nil
}
