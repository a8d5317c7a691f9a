package mail

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"unicode"
)

// Kinds of mail Render knows; each has a <kind>.txt and a <kind>.html
// template.
const (
	// KindVerify asks a user to confirm an email address.
	KindVerify = "verify"
	// KindReset carries a password reset link.
	KindReset = "reset"
)

// kinds lists every kind LoadTemplates loads.
var kinds = []string{KindVerify, KindReset}

// builtin holds the default templates.
//
//go:embed templates/*.txt templates/*.html
var builtin embed.FS

// subjectPrefix starts the first line of every .txt template.
const subjectPrefix = "Subject:"

// checkLink is put in Data.Link when LoadTemplates tries a template; the
// result must show it.
const checkLink = "https://authgate.invalid/link-check"

// Data is what a template may use.
type Data struct {
	// Username greets the user; templates must cope with it being empty.
	Username string
	// Link is the URL with the one-time token.
	Link string
	// ExpiresIn says for humans how long Link works, e.g. "1 hour"
	// (see FormatTTL); templates must cope with it being empty.
	ExpiresIn string
	// To is the recipient address; Render copies it to Message.To.
	To string
}

// Templates renders the mails of every kind. It is safe for concurrent use.
type Templates struct {
	byKind map[string]kindTemplates
}

// kindTemplates are the parsed templates of one kind.
type kindTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// LoadTemplates parses the built-in templates, each replaced by the file of
// the same name in dir when there is one: verify.txt, verify.html, reset.txt,
// reset.html. An empty dir uses only the built-in ones.
//
// A .txt template is a text/template whose first line is "Subject: ..." (the
// subject, itself a template); an optional blank line follows, then the body.
// A .html template is an html/template of the HTML body. Every template is
// tried once with sample data and must show Data.Link; errors name the file.
func LoadTemplates(dir string) (*Templates, error) {
	if dir != "" {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("mail templates dir: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("mail templates dir %s: not a directory", dir)
		}
	}
	t := &Templates{byKind: make(map[string]kindTemplates, len(kinds))}
	for _, kind := range kinds {
		kt, err := loadKind(dir, kind)
		if err != nil {
			return nil, err
		}
		t.byKind[kind] = kt
	}
	return t, nil
}

// Render renders the mail of kind (KindVerify or KindReset) for data.
func (t *Templates) Render(kind string, data Data) (Message, error) {
	kt, ok := t.byKind[kind]
	if !ok {
		return Message{}, fmt.Errorf("render mail: unknown kind %q", kind)
	}
	subject, text, err := kt.renderText(data)
	if err != nil {
		return Message{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	html, err := kt.renderHTML(data)
	if err != nil {
		return Message{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	return Message{To: data.To, Subject: subject, Text: text, HTML: html}, nil
}

// loadKind parses and tries the two templates of kind.
func loadKind(dir, kind string) (kindTemplates, error) {
	var kt kindTemplates
	txtName, txtSrc, err := readTemplate(dir, kind+".txt")
	if err != nil {
		return kt, err
	}
	kt.subject, kt.text, err = parseText(kind, txtSrc)
	if err != nil {
		return kt, fmt.Errorf("mail template %s: %w", txtName, err)
	}
	htmlName, htmlSrc, err := readTemplate(dir, kind+".html")
	if err != nil {
		return kt, err
	}
	kt.html, err = htmltemplate.New(kind + ".html").Parse(htmlSrc)
	if err != nil {
		return kt, fmt.Errorf("mail template %s: %w", htmlName, err)
	}

	sample := Data{Username: "user", Link: checkLink, ExpiresIn: "1 hour", To: "user@authgate.invalid"}
	subject, text, err := kt.renderText(sample)
	switch {
	case err != nil:
		return kt, fmt.Errorf("mail template %s: %w", txtName, err)
	case subject == "":
		return kt, fmt.Errorf("mail template %s: subject is empty", txtName)
	case !strings.Contains(text, checkLink):
		return kt, fmt.Errorf("mail template %s: body does not show {{.Link}}", txtName)
	}
	html, err := kt.renderHTML(sample)
	switch {
	case err != nil:
		return kt, fmt.Errorf("mail template %s: %w", htmlName, err)
	case !strings.Contains(html, checkLink):
		return kt, fmt.Errorf("mail template %s: body does not show {{.Link}}", htmlName)
	}
	return kt, nil
}

// readTemplate returns the file of that name in dir, or else the built-in
// one, with a name for errors.
func readTemplate(dir, file string) (name, src string, err error) {
	if dir != "" {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		if err == nil {
			return path, string(b), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("mail template %s: %w", path, err)
		}
	}
	b, err := builtin.ReadFile("templates/" + file)
	if err != nil {
		return "", "", fmt.Errorf("built-in mail template %s: %w", file, err)
	}
	return "built-in " + file, string(b), nil
}

// parseText splits a .txt template into its subject line and body and parses
// both.
func parseText(kind, src string) (subject, body *texttemplate.Template, err error) {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	line, rest, _ := strings.Cut(src, "\n")
	if len(line) < len(subjectPrefix) || !strings.EqualFold(line[:len(subjectPrefix)], subjectPrefix) {
		return nil, nil, fmt.Errorf("first line must be %q", subjectPrefix+" ...")
	}
	subject, err = texttemplate.New(kind + ".subject").Parse(strings.TrimSpace(line[len(subjectPrefix):]))
	if err != nil {
		return nil, nil, fmt.Errorf("subject: %w", err)
	}
	body, err = texttemplate.New(kind + ".txt").Parse(strings.TrimPrefix(rest, "\n"))
	if err != nil {
		return nil, nil, err
	}
	return subject, body, nil
}

// renderText executes the subject and the text body.
func (kt kindTemplates) renderText(data Data) (subject, text string, err error) {
	var b strings.Builder
	if err := kt.subject.Execute(&b, data); err != nil {
		return "", "", fmt.Errorf("subject: %w", err)
	}
	subject = cleanSubject(b.String())
	b.Reset()
	if err := kt.text.Execute(&b, data); err != nil {
		return "", "", fmt.Errorf("text body: %w", err)
	}
	return subject, b.String(), nil
}

// renderHTML executes the HTML body.
func (kt kindTemplates) renderHTML(data Data) (string, error) {
	var b strings.Builder
	if err := kt.html.Execute(&b, data); err != nil {
		return "", fmt.Errorf("html body: %w", err)
	}
	return b.String(), nil
}

// cleanSubject makes s one header line: every run of white space and
// control characters becomes one space, invalid UTF-8 becomes U+FFFD, and
// the ends are trimmed.
func cleanSubject(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}
