package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"

	"authgate/mail"
)

// recordingMailer keeps every mail handed to it; err, when set, is what
// Send returns (after recording).
type recordingMailer struct {
	mu   sync.Mutex
	sent []mail.Message
	err  error
}

func (m *recordingMailer) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return m.err
}

func (m *recordingMailer) failWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// to returns the mails sent to addr so far.
func (m *recordingMailer) to(addr string) []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mail.Message
	for _, msg := range m.sent {
		if msg.To == addr {
			out = append(out, msg)
		}
	}
	return out
}

func (m *recordingMailer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sent)
}

// lastToken returns the one-time token of the last mail sent to addr with
// a link that starts with prefix.
func (m *recordingMailer) lastToken(t *testing.T, addr, prefix string) string {
	t.Helper()
	msgs := m.to(addr)
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.Contains(msgs[i].Text, prefix) {
			return linkToken(t, msgs[i].Text, prefix)
		}
	}
	t.Fatalf("no mail to %s with a link starting %q (of %d)", addr, prefix, len(msgs))
	return ""
}

// linkToken finds the link that starts with prefix in a mail body and
// returns what follows it up to the end of the line.
func linkToken(t *testing.T, body, prefix string) string {
	t.Helper()
	i := strings.Index(body, prefix)
	if i < 0 {
		t.Fatalf("no link starting with %q in mail:\n%s", prefix, body)
	}
	tok := body[i+len(prefix):]
	if j := strings.IndexAny(tok, " \r\n\t\"<"); j >= 0 {
		tok = tok[:j]
	}
	if tok == "" {
		t.Fatalf("empty token in mail:\n%s", body)
	}
	return tok
}

// newAccountEnv is newEnv with generous mail rate limits, extra YAML
// appended (top-level keys), the edits applied, and a recording mailer.
func newAccountEnv(t *testing.T, extra string, edits ...func(string) string) (*testEnv, *recordingMailer) {
	t.Helper()
	e := newEnv(t, func(y string) string {
		y = strings.Replace(y, "rate_limits:\n", "rate_limits:\n  mail_per_ip: \"1000-M\"\n  mail_per_email: \"1000-M\"\n", 1)
		y += extra
		for _, ed := range edits {
			y = ed(y)
		}
		return y
	})
	rec := &recordingMailer{}
	e.g.acct.UseMailer(rec)
	return e, rec
}

const registrationOn = "users:\n  registration: true\n"

// replace returns an edit for newAccountEnv.
func replace(old, new string) func(string) string {
	return func(y string) string { return strings.Replace(y, old, new, 1) }
}

// jsonBody quotes fields into a JSON object: jsonBody("a", "x") = {"a":"x"}.
func jsonBody(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quote(kv[i]) + ":" + quote(kv[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "\x07", `\u0007`)
	return `"` + r.Replace(s) + `"`
}

// mustStatus fails unless r has the status (and, for problems, the slug).
func mustStatus(t testing.TB, what string, r resp, status int, slug string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	if slug != "" {
		if got := r.problemType(t); got != slug {
			t.Fatalf("%s: problem %s, want %s: %s", what, got, slug, r.body)
		}
	}
}
