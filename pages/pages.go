// Package pages serves authgate's pages for people in a browser: sign in
// (also scoped to roles), register, forgot and reset password, verify the
// email address, change the password (with the must-change flow), sign out
// and signed out. It owns their templates (html/template, embedded, each
// replaceable by a file of the same name in browser.templates_dir), the
// browser-facing defaults every page gets (a strict CSP with a per-response
// nonce for the inline style, X-Frame-Options DENY, nosniff, no-referrer,
// no-store) and the CSRF token of its forms.
//
// The flows themselves are package account's: a page decodes a form, calls
// the same Service method as the JSON route and shows the refusal next to
// the field it names, keeping what was typed except passwords. Rate limits,
// the lockout and the enumeration policy are therefore those of the API.
//
// What it refuses: it never sets a session without a valid CSRF token and a
// same-origin request, never redirects to a return address that package
// returnto refuses, and needs no JavaScript. Cookies, the session refresh
// and the redirect of protected navigations to the sign-in page belong to
// package gateway, which calls Serve for every path under browser.path.
package pages

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed templates/*.html
var builtin embed.FS

//go:embed static/passkey.js
var passkeyJS []byte

// Names of the pages (their template files are <name>.html).
const (
	PageSignIn   = "sign-in"
	PageRegister = "register"
	PageForgot   = "forgot-password"
	PageReset    = "reset-password"
	PageVerify   = "verify-email"
	PagePassword = "password"
	PageSignOut  = "sign-out"
	PageSigned   = "signed-out"
	PageMessage  = "message"
	PageMFA      = "mfa"      // the second step (and enrolment, step-up)
	PageSecurity = "security" // manage second factors
)

var pageNames = []string{PageSignIn, PageRegister, PageForgot, PageReset, PageVerify, PagePassword, PageSignOut, PageSigned, PageMessage,
	PageMFA, PageSecurity}

// withParts are the pages that also get the templates of mfa-parts.html.
var withParts = map[string]bool{PageMFA: true, PageSecurity: true}

// Templates are the parsed pages: each is the layout plus its content.
type Templates struct {
	pages map[string]*template.Template
}

// LoadTemplates parses the built-in templates, each replaced by the file of
// the same name in dir when dir is set and holds one.
func LoadTemplates(dir string) (*Templates, error) {
	read := func(name string) ([]byte, error) {
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				return b, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("browser.templates_dir: %w", err)
			}
		}
		return builtin.ReadFile("templates/" + name)
	}
	layout, err := read("layout.html")
	if err != nil {
		return nil, err
	}
	t := &Templates{pages: map[string]*template.Template{}}
	for _, n := range pageNames {
		body, err := read(n + ".html")
		if err != nil {
			return nil, err
		}
		tp, err := template.New(n).Parse(string(layout))
		if err == nil && withParts[n] {
			var parts []byte
			if parts, err = read("mfa-parts.html"); err == nil {
				tp, err = tp.Parse(string(parts))
			}
		}
		if err == nil {
			tp, err = tp.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("page template %s: %w", n, err)
		}
		if tp.Lookup("layout") == nil || tp.Lookup("content") == nil {
			return nil, fmt.Errorf("page template %s: needs the templates layout and content", n)
		}
		t.pages[n] = tp
	}
	return t, nil
}

// Render writes page name with v.
func (t *Templates) Render(name string, v *View) ([]byte, error) {
	tp := t.pages[name]
	if tp == nil {
		return nil, fmt.Errorf("no page %s", name)
	}
	var b bytes.Buffer
	if err := tp.ExecuteTemplate(&b, "layout", v); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// View is what a template sees.
type View struct {
	Title  string
	Nonce  string // the CSP nonce of the inline style
	CSRF   string // the form token
	Action string // where the form posts
	Return string // the return address carried through the form
	Token  string // a mailed one-time token
	Error  string // a message about the whole form
	Info   string // a message that is not an error
	Done   bool   // the form's work is done: show no form
	Must   bool   // the password must be changed before anything else
	Links  Links
	// Providers are the "Sign in with …" links of the sign-in page.
	Providers []ProviderButton
	// MFA is the state of the second-factor pages.
	MFA    *MFAView
	values map[string]string
	errors map[string]string
}

// Links are the other pages.
type Links struct {
	SignIn, Register, Forgot, SignOut string
}

// FieldView is one input.
type FieldView struct {
	Name, Label, Type, Autocomplete, Value, Error string
	Autofocus                                     bool
}

// Field describes an input: its typed value (never a password's) and the
// error next to it. The first field with an error, else the first field,
// gets the focus.
func (v *View) Field(name, label, typ, autocomplete string) FieldView {
	f := FieldView{Name: name, Label: label, Type: typ, Autocomplete: autocomplete, Error: v.errors[name]}
	if typ != "password" {
		f.Value = v.values[name]
	}
	if len(v.errors) > 0 {
		f.Autofocus = f.Error != "" && v.firstError() == name
	} else {
		f.Autofocus = v.values["_focus"] == "" && v.markFocus(name)
	}
	return f
}

func (v *View) firstError() string {
	for _, n := range []string{"username", "email", "current_password", "password", "new_password", "token", "code", "recovery_code"} {
		if v.errors[n] != "" {
			return n
		}
	}
	return ""
}

func (v *View) markFocus(name string) bool {
	if v.values == nil {
		v.values = map[string]string{}
	}
	v.values["_focus"] = name
	return true
}

// FieldHasError reports whether the field has an error to show.
func (v *View) FieldHasError(name string) bool { return v.errors[name] != "" }

// fieldError puts msg next to field, or on the form when the page has no
// such field.
func (v *View) fieldError(field, msg string) {
	if v.errors == nil {
		v.errors = map[string]string{}
	}
	v.errors[field] = msg
}

// keep remembers what was typed in a field (never call it for passwords).
func (v *View) keep(field, value string) {
	if v.values == nil {
		v.values = map[string]string{}
	}
	v.values[field] = value
}

// fieldOf strips the "field: " prefix account puts before a detail.
func fieldMessage(field, detail string) string {
	msg := strings.TrimPrefix(detail, field+": ")
	if msg == "" {
		return detail
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}
