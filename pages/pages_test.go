package pages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTemplatesAreOverriddenFileByFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sign-in.html"), []byte(`{{define "content"}}<p>Company sign-in for {{.Title}}</p>{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tpl.Render(PageSignIn, &View{Title: "<b>Acme</b>"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Company sign-in for &lt;b&gt;Acme&lt;/b&gt;") || !strings.Contains(string(b), "<!DOCTYPE html>") {
		t.Errorf("overridden sign-in page: %s", b)
	}
	b, _ = tpl.Render(PageForgot, &View{Title: "Forgot"})
	if !strings.Contains(string(b), `<label for="email">`) {
		t.Errorf("built-in forgot page lost: %s", b)
	}
	if err := os.WriteFile(filepath.Join(dir, "register.html"), []byte(`{{define "content"}}{{.Nope}}{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl, err = LoadTemplates(dir)
	if err != nil {
		t.Fatal(err) // parsing succeeds; executing fails
	}
	if _, err := tpl.Render(PageRegister, &View{}); err == nil {
		t.Error("a template naming an unknown field rendered")
	}
	if err := os.WriteFile(filepath.Join(dir, "layout.html"), []byte(`{{define "layout"}}{{template "content" .}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTemplates(dir); err == nil {
		t.Error("a broken layout loaded")
	}
}

func TestFieldsKeepValuesButNeverPasswords(t *testing.T) {
	v := &View{}
	v.keep("username", `al"ice`)
	v.keep("password", "secret")
	if f := v.Field("username", "Username", "text", "username"); f.Value != `al"ice` || !f.Autofocus {
		t.Errorf("username field %+v", f)
	}
	if f := v.Field("password", "Password", "password", "current-password"); f.Value != "" {
		t.Errorf("password field keeps %q", f.Value)
	}
	v.fieldError("password", "Is required")
	if f := v.Field("password", "Password", "password", ""); f.Error != "Is required" || !f.Autofocus {
		t.Errorf("password field with error %+v", f)
	}
}
