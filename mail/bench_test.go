package mail

import (
	"bytes"
	"context"
	"testing"

	"authgate/mail/smtptest"
)

func BenchmarkRender(b *testing.B) {
	tpl := loadBuiltin(b)
	data := Data{Username: "ada", Link: testLink, ExpiresIn: "1 hour", To: "ada@example.org"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(KindReset, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMessageEncode(b *testing.B) {
	m, err := NewSMTP(testMailConfig())
	if err != nil {
		b.Fatal(err)
	}
	msg := renderForTest(b, "ada@example.org")
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		gm, err := m.message(msg)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		if _, err := gm.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSMTPSendLoopback is one whole SMTP session per mail (connect,
// EHLO, MAIL, RCPT, DATA, QUIT) against a go-smtp server on loopback.
func BenchmarkSMTPSendLoopback(b *testing.B) {
	srv := smtptest.Start(b, smtptest.Setup{Security: "none"})
	m, err := NewSMTP(smtpConfig(srv, "none"))
	if err != nil {
		b.Fatal(err)
	}
	msg := renderForTest(b, "ada@example.org")
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Send(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
}
