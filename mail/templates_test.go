package mail

import (
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadBuiltin(t testing.TB) *Templates {
	t.Helper()
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	return tpl
}

func TestBuiltinTemplatesShowLinkGreetingAndExpiry(t *testing.T) {
	tpl := loadBuiltin(t)
	tests := []struct {
		kind        string
		wantSubject string
	}{
		{kind: KindVerify, wantSubject: "Confirm your email address"},
		{kind: KindReset, wantSubject: "Reset your password"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			data := Data{Username: "ada", Link: testLink, ExpiresIn: "24 hours", To: "ada@example.org"}
			msg, err := tpl.Render(tt.kind, data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if msg.To != data.To || msg.Subject != tt.wantSubject {
				t.Errorf("To %q Subject %q, want %q %q", msg.To, msg.Subject, data.To, tt.wantSubject)
			}
			for _, want := range []string{"Hello ada,", "\n" + testLink + "\n", "expires in 24 hours"} {
				if !strings.Contains(msg.Text, want) {
					t.Errorf("text body lacks %q:\n%s", want, msg.Text)
				}
			}
			if strings.HasPrefix(msg.Text, "Subject:") || strings.HasPrefix(msg.Text, "\n") {
				t.Errorf("text body starts with the subject line or a blank line:\n%s", msg.Text)
			}
			if got := htmlLink(msg.HTML); got != testLink {
				t.Errorf("HTML href %q, want %q", got, testLink)
			}
			if !strings.Contains(html.UnescapeString(msg.HTML), "expires in 24 hours") {
				t.Errorf("HTML body lacks the expiry:\n%s", msg.HTML)
			}
		})
	}
}

func TestBuiltinTemplatesLeaveOutEmptyUsernameAndExpiry(t *testing.T) {
	tpl := loadBuiltin(t)
	for _, kind := range []string{KindVerify, KindReset} {
		t.Run(kind, func(t *testing.T) {
			msg, err := tpl.Render(kind, Data{Link: testLink, To: "a@example.org"})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			for _, body := range []string{msg.Text, msg.HTML} {
				if !strings.Contains(body, "Hello,") || strings.Contains(body, "Hello ,") {
					t.Errorf("greeting without a name is wrong:\n%s", body)
				}
				if strings.Contains(body, "expires in") {
					t.Errorf("expiry shown though empty:\n%s", body)
				}
			}
		})
	}
}

func TestRenderUnknownKindIsAnError(t *testing.T) {
	tpl := loadBuiltin(t)
	for _, kind := range []string{"", "welcome", "Verify", "verify.txt"} {
		if _, err := tpl.Render(kind, Data{Link: testLink}); err == nil {
			t.Errorf("Render(%q) succeeded, want an error", kind)
		}
	}
}

func TestRenderEscapesUserInputInHTML(t *testing.T) {
	tpl := loadBuiltin(t)
	tests := []struct {
		name     string
		data     Data
		mustNot  string
		textMust string
	}{
		{
			name:     "markup in the username",
			data:     Data{Username: `<script>alert(1)</script>`, Link: testLink},
			mustNot:  "<script>",
			textMust: `Hello <script>alert(1)</script>,`,
		},
		{
			name:    "javascript link",
			data:    Data{Link: "javascript:alert(1)"},
			mustNot: `href="javascript:`,
		},
		{
			name:    "link that breaks out of the attribute",
			data:    Data{Link: `https://x.example/"><img src=x onerror=alert(1)>`},
			mustNot: "<img",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := tpl.Render(KindVerify, tt.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if strings.Contains(msg.HTML, tt.mustNot) {
				t.Errorf("HTML contains %q:\n%s", tt.mustNot, msg.HTML)
			}
			if tt.textMust != "" && !strings.Contains(msg.Text, tt.textMust) {
				t.Errorf("text body lacks %q:\n%s", tt.textMust, msg.Text)
			}
		})
	}
}

func TestSubjectIsAlwaysOneCleanLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "verify.txt", "Subject:   Welcome {{.Username}}  \n\n{{.Link}}\n")
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	tests := []struct {
		username string
		want     string
	}{
		{username: "ada", want: "Welcome ada"},
		{username: "a\r\nBcc: evil@example.com", want: "Welcome a Bcc: evil@example.com"},
		{username: "tab\there\x00nul\x7fdel", want: "Welcome tab here nul del"},
		{username: "line\u2028sep", want: "Welcome line sep"},
		{username: "", want: "Welcome"},
	}
	for _, tt := range tests {
		msg, err := tpl.Render(KindVerify, Data{Username: tt.username, Link: testLink})
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		if msg.Subject != tt.want {
			t.Errorf("username %q: subject %q, want %q", tt.username, msg.Subject, tt.want)
		}
	}
}

func TestLoadTemplatesOverridesOnlyTheFilesPresent(t *testing.T) {
	dir := t.TempDir()
	// CRLF line endings, as an editor on Windows writes them.
	writeFile(t, dir, "verify.txt", "Subject: Bitte bestätigen, {{.Username}}\r\n\r\nLink: {{.Link}}\r\nGültig: {{.ExpiresIn}}\r\n")
	writeFile(t, dir, "reset.html", `<p>Neues Passwort: <a href="{{.Link}}">hier</a></p>`)
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	builtin := loadBuiltin(t)
	data := Data{Username: "ada", Link: testLink, ExpiresIn: "1 hour", To: "ada@example.org"}

	verify, err := tpl.Render(KindVerify, data)
	if err != nil {
		t.Fatalf("Render verify: %v", err)
	}
	reset, err := tpl.Render(KindReset, data)
	if err != nil {
		t.Fatalf("Render reset: %v", err)
	}
	builtinVerify, _ := builtin.Render(KindVerify, data)
	builtinReset, _ := builtin.Render(KindReset, data)

	if verify.Subject != "Bitte bestätigen, ada" {
		t.Errorf("verify subject %q from the override", verify.Subject)
	}
	if want := "Link: " + testLink + "\nGültig: 1 hour\n"; verify.Text != want {
		t.Errorf("verify text %q, want %q", verify.Text, want)
	}
	if verify.HTML != builtinVerify.HTML {
		t.Errorf("verify HTML is not the built-in one:\n%s", verify.HTML)
	}
	if reset.Subject != builtinReset.Subject || reset.Text != builtinReset.Text {
		t.Errorf("reset text is not the built-in one: %q\n%s", reset.Subject, reset.Text)
	}
	if htmlLink(reset.HTML) != testLink || !strings.Contains(reset.HTML, "Neues Passwort") {
		t.Errorf("reset HTML is not the override:\n%s", reset.HTML)
	}
}

func TestLoadTemplatesRejectsABadOverrideNamingTheFile(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		wantSub string
	}{
		{name: "text syntax error", file: "verify.txt", content: "Subject: Hi\n\n{{.Link\n", wantSub: "unclosed action"},
		{name: "no subject line", file: "reset.txt", content: "Hello\n{{.Link}}\n", wantSub: `first line must be "Subject: ..."`},
		{name: "empty file", file: "reset.txt", content: "", wantSub: "Subject:"},
		{name: "empty subject", file: "verify.txt", content: "Subject: {{/* none */}}\n\n{{.Link}}\n", wantSub: "subject is empty"},
		{name: "subject syntax error", file: "verify.txt", content: "Subject: {{.Username\n\n{{.Link}}\n", wantSub: "subject"},
		{name: "unknown field", file: "verify.txt", content: "Subject: Hi\n\n{{.Token}}\n", wantSub: "Token"},
		{name: "text without the link", file: "reset.txt", content: "Subject: Hi\n\nno link here\n", wantSub: "{{.Link}}"},
		{name: "html syntax error", file: "reset.html", content: "<p>{{if .Link}}</p>", wantSub: "reset.html"},
		{name: "html unknown field", file: "verify.html", content: `<a href="{{.Link}}">{{.Nope}}</a>`, wantSub: "Nope"},
		{name: "html without the link", file: "verify.html", content: "<p>Hello</p>", wantSub: "{{.Link}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, tt.file, tt.content)
			_, err := LoadTemplates(dir)
			if err == nil {
				t.Fatal("LoadTemplates succeeded, want an error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if !strings.Contains(err.Error(), tt.wantSub) {
				t.Errorf("error %q does not say %q", err, tt.wantSub)
			}
		})
	}
}

func TestLoadTemplatesRejectsAnUnusableDirectory(t *testing.T) {
	base := t.TempDir()
	file := writeFile(t, base, "plain-file", "x")
	unreadable := filepath.Join(base, "unreadable")
	// A directory where a template file should be cannot be read.
	if err := os.MkdirAll(filepath.Join(unreadable, "verify.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		wantSub string
	}{
		{name: "missing directory", dir: filepath.Join(base, "missing"), wantSub: "missing"},
		{name: "file instead of directory", dir: file, wantSub: "not a directory"},
		{name: "template path is a directory", dir: unreadable, wantSub: filepath.Join(unreadable, "verify.txt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadTemplates(tt.dir)
			if err == nil {
				t.Fatal("LoadTemplates succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantSub) {
				t.Errorf("error %q does not say %q", err, tt.wantSub)
			}
		})
	}
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
