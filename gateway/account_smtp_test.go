package gateway

import (
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strconv"
	"strings"
	"testing"

	"authgate/mail"
	"authgate/mail/smtptest"
)

// plainText returns the subject and the decoded text/plain part of a raw
// message (multipart/alternative or single part).
func plainText(t *testing.T, raw []byte) (subject, text string) {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse mail: %v\n%s", err, raw)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type: %v", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(msg.Body)
		return subject, string(b)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			t.Fatalf("no text/plain part: %v\n%s", err, raw)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatal(err)
			}
			return subject, string(b)
		}
	}
}

// The reset flow through a real SMTP conversation: the gateway configured
// with the smtp driver (as main.go wires it) mails the link, the test reads
// it out of the received message and uses it.
func TestResetMailTravelsThroughSMTP(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Setup{Security: "none"})
	e := newEnv(t, func(y string) string {
		return y + "mail:\n  driver: smtp\n  from: gate@example.com\n  smtp: {host: 127.0.0.1, port: " +
			strconv.Itoa(sink.Port) + ", security: none, timeout: 5s}\n"
	})
	m, err := mail.NewSMTP(e.cfg.Mail)
	if err != nil {
		t.Fatal(err)
	}
	e.g.acct.UseMailer(m)
	e.addUser("alice", "alice-password-1")
	old, _ := e.login("alice", "alice-password-1")

	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "alice@example.com")), 202, "")
	got := sink.Received()
	if len(got) != 1 {
		t.Fatalf("%d mails received, want 1", len(got))
	}
	if got[0].From != "gate@example.com" || len(got[0].To) != 1 || got[0].To[0] != "alice@example.com" {
		t.Errorf("envelope from %q to %v", got[0].From, got[0].To)
	}
	subject, text := plainText(t, got[0].Data)
	if subject != "Reset your password" {
		t.Errorf("subject %q", subject)
	}
	tok := linkToken(t, text, e.cfg.Mail.ResetURL)

	mustStatus(t, "reset", e.do("POST", "/auth/reset-password", jsonBody("token", tok, "password", "alice-password-2")), 200, "")
	mustStatus(t, "session from before", e.do("GET", "/me", "", bearer(old)...), 401, "invalid-token")
	e.login("alice", "alice-password-2")

	// Unknown addresses get the same answer and no mail.
	mustStatus(t, "forgot unknown", e.do("POST", "/auth/forgot-password", jsonBody("email", "nobody@example.com")), 202, "")
	if n := len(sink.Received()); n != 1 {
		t.Errorf("%d mails after a request for an unknown address, want still 1", n)
	}
}
