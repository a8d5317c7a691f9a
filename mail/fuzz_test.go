package mail

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
)

func FuzzRender(f *testing.F) {
	f.Add("ada", testLink, "1 hour")
	f.Add("a\r\nBcc: evil@example.com", "javascript:alert(1)", "")
	f.Add("<script>", `https://x.example/"><img src=x>`, "{{.Link}}")
	f.Add("\xff\xfe", "", "\u2028")
	tpl, err := LoadTemplates("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, username, link, expiresIn string) {
		for _, kind := range kinds {
			msg, err := tpl.Render(kind, Data{Username: username, Link: link, ExpiresIn: expiresIn, To: "a@example.org"})
			if err != nil {
				t.Fatalf("Render(%s): %v", kind, err)
			}
			checkSubjectLine(t, msg.Subject)
			if !strings.Contains(msg.Text, link) {
				t.Fatalf("text body lacks the link %q:\n%s", link, msg.Text)
			}
		}
	})
}

// checkSubjectLine fails unless s is one trimmed line without control
// characters or runs of spaces.
func checkSubjectLine(t *testing.T, s string) {
	t.Helper()
	if strings.TrimSpace(s) != s || strings.Contains(s, "  ") {
		t.Fatalf("subject %q is not trimmed to single spaces", s)
	}
	for _, r := range s {
		if r != ' ' && (unicode.IsSpace(r) || unicode.IsControl(r)) {
			t.Fatalf("subject %q holds %U", s, r)
		}
	}
}

func FuzzParseTextTemplate(f *testing.F) {
	for _, kind := range kinds {
		b, err := builtin.ReadFile("templates/" + kind + ".txt")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("Subject: {{.Username}}\r\n\r\n{{.Link}}")
	f.Add("subject:x")
	f.Add("Subject: {{template \"verify.txt\"}}\n\n{{.Link}}")
	f.Add("Subject:\n{{define \"x\"}}{{template \"x\"}}{{end}}{{template \"x\"}}")
	f.Add("")
	f.Fuzz(func(t *testing.T, src string) {
		// Templates are trusted operator input: an unbounded {{range N}}
		// loop is allowed by design, so such inputs are not tried.
		if strings.Contains(src, "range") {
			return
		}
		subject, body, err := parseText(KindVerify, src)
		if err != nil {
			return
		}
		kt := kindTemplates{subject: subject, text: body}
		s, text, err := kt.renderText(Data{Username: "u", Link: checkLink})
		if err != nil {
			return
		}
		checkSubjectLine(t, s)
		_ = text
	})
}

func FuzzMessageEncodingRoundTrip(f *testing.F) {
	f.Add("Reset your password", "Open "+testLink+"\n", `<a href="`+testLink+`">x</a>`)
	f.Add("Grüße =?utf-8?q?x?=", "line\r\nline\rline\n", "")
	f.Add(strings.Repeat("long subject ", 30), strings.Repeat("x", 300)+"= \t\n", "\x00\xff")
	m, err := NewSMTP(testMailConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, subject, text, html string) {
		msg, err := m.message(Message{To: "ada@example.org", Subject: subject, Text: text, HTML: html})
		if err != nil {
			t.Fatalf("message: %v", err)
		}
		var buf bytes.Buffer
		if _, err := msg.WriteTo(&buf); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		raw := buf.Bytes()
		parsed, err := parseMail(raw)
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, raw)
		}
		if want := cleanSubject(subject); !strings.Contains(want, "=?") && parsed.subject != want {
			t.Fatalf("subject %q, want %q\n%s", parsed.subject, want, raw)
		}
		if got, want := transportText(parsed.text), transportText(text); got != want {
			t.Fatalf("text %q, want %q\n%s", got, want, raw)
		}
		if got, want := transportText(parsed.html), transportText(html); got != want {
			t.Fatalf("html %q, want %q\n%s", got, want, raw)
		}
	})
}

// transportText is s as mail transport may legitimately change it: every
// line break (CRLF, LF or a lone CR) becomes LF.
func transportText(s string) string {
	return strings.ReplaceAll(normalizeNewlines(s), "\r", "\n")
}
