package mail

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"regexp"
	"strings"
)

// parsedMail is a received message taken apart the way a mail client would.
type parsedMail struct {
	header   netmail.Header
	subject  string
	mimeType string
	text     string
	html     string
}

// parseMail parses raw as RFC 5322 + MIME: decodes the subject and every
// part's transfer encoding.
func parseMail(raw []byte) (parsedMail, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return parsedMail{}, fmt.Errorf("read message: %w", err)
	}
	p := parsedMail{header: msg.Header}
	p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return p, fmt.Errorf("decode subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return p, fmt.Errorf("content type: %w", err)
	}
	p.mimeType = mediaType
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodeBody(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		if err != nil {
			return p, err
		}
		return p, p.setPart(mediaType, body)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return p, fmt.Errorf("next part: %w", err)
		}
		partType, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			return p, fmt.Errorf("part content type: %w", err)
		}
		body, err := decodeBody(part.Header.Get("Content-Transfer-Encoding"), part)
		if err != nil {
			return p, err
		}
		if err := p.setPart(partType, body); err != nil {
			return p, err
		}
	}
}

func (p *parsedMail) setPart(mediaType, body string) error {
	switch mediaType {
	case "text/plain":
		p.text = body
	case "text/html":
		p.html = body
	default:
		return fmt.Errorf("unexpected part %s", mediaType)
	}
	return nil
}

// decodeBody undoes a Content-Transfer-Encoding.
func decodeBody(cte string, r io.Reader) (string, error) {
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "", "7bit", "8bit", "binary":
	default:
		return "", fmt.Errorf("unknown transfer encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("decode %s body: %w", cte, err)
	}
	return string(b), nil
}

var (
	textLinkRE = regexp.MustCompile(`https?://\S+`)
	hrefRE     = regexp.MustCompile(`href="([^"]*)"`)
)

// textLink is the first URL in a text body.
func textLink(text string) string { return textLinkRE.FindString(text) }

// htmlLink is the first href of an HTML body, unescaped.
func htmlLink(body string) string {
	m := hrefRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// normalizeNewlines turns CRLF into LF, as mail transport may change them.
func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
