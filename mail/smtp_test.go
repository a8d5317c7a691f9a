package mail

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"authgate/config"
	"authgate/mail/smtptest"
)

// testLink is long enough for quoted-printable soft line breaks and holds
// "=" and "&", which quoted-printable and HTML both escape.
const testLink = "https://app.example.com/auth/reset-password?token=Zm9vYmFyYmF6cXV4LXF1dXotMDEyMzQ1Njc4OS1hYmNkZWZnaGlq&lang=en"

// smtpConfig is a config.Mail for a test server.
func smtpConfig(s *smtptest.Server, security string) config.Mail {
	return config.Mail{
		Driver: "smtp",
		From:   "authgate@example.com",
		SMTP: config.SMTP{
			Host:     s.Host,
			Port:     s.Port,
			Security: security,
			Timeout:  5 * time.Second,
		},
	}
}

// renderForTest renders a reset mail to rcpt with testLink.
func renderForTest(t testing.TB, rcpt string) Message {
	t.Helper()
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	msg, err := tpl.Render(KindReset, Data{Username: "ada", Link: testLink, ExpiresIn: "1 hour", To: rcpt})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return msg
}

func TestSMTPMailerDeliversTheRenderedLinkIntact(t *testing.T) {
	users := map[string]string{"mailer": "s3cret pass"}
	passwordFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(passwordFile, []byte("s3cret pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		server   smtptest.Setup
		security string
		username string
		password string
		pwFile   string
		wantTLS  bool
	}{
		{name: "security none without auth", server: smtptest.Setup{Security: "none"}, security: "none"},
		{
			name:     "security none with AUTH PLAIN on loopback",
			server:   smtptest.Setup{Security: "none", Users: users, AllowInsecureAuth: true},
			security: "none", username: "mailer", password: "s3cret pass",
		},
		{
			name:     "security none with AUTH LOGIN when the server offers only LOGIN",
			server:   smtptest.Setup{Security: "none", Users: users, Mechs: []string{sasl.Login}, AllowInsecureAuth: true},
			security: "none", username: "mailer", password: "s3cret pass",
		},
		{
			name:     "starttls with AUTH PLAIN",
			server:   smtptest.Setup{Security: "starttls", Users: users},
			security: "starttls", username: "mailer", password: "s3cret pass", wantTLS: true,
		},
		{
			name:     "empty security means starttls",
			server:   smtptest.Setup{Security: "starttls", Users: users},
			security: "", username: "mailer", password: "s3cret pass", wantTLS: true,
		},
		{
			name:     "implicit tls with AUTH PLAIN",
			server:   smtptest.Setup{Security: "tls", Users: users},
			security: "tls", username: "mailer", password: "s3cret pass", wantTLS: true,
		},
		{
			name:     "implicit tls with the password from password_file",
			server:   smtptest.Setup{Security: "tls", Users: users},
			security: "tls", username: "mailer", pwFile: passwordFile, wantTLS: true,
		},
		{name: "implicit tls without auth", server: smtptest.Setup{Security: "tls"}, security: "tls", wantTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.server)
			cfg := smtpConfig(srv, tt.security)
			cfg.SMTP.Username = tt.username
			cfg.SMTP.Password = tt.password
			cfg.SMTP.PasswordFile = tt.pwFile
			mailer, err := NewSMTP(cfg, WithRootCAs(srv.Roots))
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			want := renderForTest(t, "ada@example.org")
			if err := mailer.Send(context.Background(), want); err != nil {
				t.Fatalf("Send: %v", err)
			}

			got := srv.Received()
			if len(got) != 1 {
				t.Fatalf("server received %d mails, want 1", len(got))
			}
			rcv := got[0]
			if rcv.From != cfg.From || len(rcv.To) != 1 || rcv.To[0] != want.To {
				t.Errorf("envelope from %q to %q, want from %q to [%q]", rcv.From, rcv.To, cfg.From, want.To)
			}
			if rcv.AuthUser != tt.username {
				t.Errorf("authenticated as %q, want %q", rcv.AuthUser, tt.username)
			}
			if rcv.TLS != tt.wantTLS {
				t.Errorf("mail travelled over TLS = %v, want %v", rcv.TLS, tt.wantTLS)
			}

			parsed, err := parseMail(rcv.Data)
			if err != nil {
				t.Fatalf("parse received mail: %v\n%s", err, rcv.Data)
			}
			if parsed.mimeType != "multipart/alternative" {
				t.Errorf("Content-Type %q, want multipart/alternative", parsed.mimeType)
			}
			if parsed.subject != want.Subject {
				t.Errorf("Subject %q, want %q", parsed.subject, want.Subject)
			}
			if got := parsed.header.Get("Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted %q, want auto-generated", got)
			}
			if got := textLink(parsed.text); got != testLink {
				t.Errorf("link in text part %q, want %q", got, testLink)
			}
			if got := htmlLink(parsed.html); got != testLink {
				t.Errorf("link in HTML part %q, want %q", got, testLink)
			}
			if normalizeNewlines(parsed.text) != normalizeNewlines(want.Text) {
				t.Errorf("text part changed in transit:\ngot  %q\nwant %q", parsed.text, want.Text)
			}
			if normalizeNewlines(parsed.html) != normalizeNewlines(want.HTML) {
				t.Errorf("HTML part changed in transit:\ngot  %q\nwant %q", parsed.html, want.HTML)
			}
		})
	}
}

func TestSMTPMailerSendsTextOnlyMailWhenThereIsNoHTML(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Setup{Security: "none"})
	mailer, err := NewSMTP(smtpConfig(srv, "none"))
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	msg := Message{To: "ada@example.org", Subject: "Plain", Text: "Open " + testLink + "\n"}
	if err := mailer.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d mails, want 1", len(got))
	}
	parsed, err := parseMail(got[0].Data)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if parsed.mimeType != "text/plain" || parsed.html != "" {
		t.Errorf("Content-Type %q with HTML %q, want text/plain only", parsed.mimeType, parsed.html)
	}
	if got := textLink(parsed.text); got != testLink {
		t.Errorf("link %q, want %q", got, testLink)
	}
}

func TestSMTPMailerRefusesUnsafeOrFailedDelivery(t *testing.T) {
	users := map[string]string{"mailer": "s3cret"}
	tests := []struct {
		name       string
		server     smtptest.Setup
		security   string
		username   string
		password   string
		trustCert  bool
		wantErrSub string
	}{
		{
			name:     "starttls rejects a certificate it does not trust",
			server:   smtptest.Setup{Security: "starttls"},
			security: "starttls", wantErrSub: "certificate",
		},
		{
			name:     "starttls never falls back to clear text",
			server:   smtptest.Setup{Security: "none"},
			security: "starttls", trustCert: true, wantErrSub: "STARTTLS",
		},
		{
			name:     "implicit tls rejects a certificate it does not trust",
			server:   smtptest.Setup{Security: "tls"},
			security: "tls", wantErrSub: "certificate",
		},
		{
			name:     "implicit tls against a plain server fails",
			server:   smtptest.Setup{Security: "none"},
			security: "tls", trustCert: true, wantErrSub: "tls handshake",
		},
		{
			name:     "wrong password is an error",
			server:   smtptest.Setup{Security: "starttls", Users: users},
			security: "starttls", username: "mailer", password: "wrong", trustCert: true, wantErrSub: "AUTH",
		},
		{
			name:     "server requiring auth rejects a mailer without username",
			server:   smtptest.Setup{Security: "starttls", Users: users},
			security: "starttls", trustCert: true, wantErrSub: "authenticate",
		},
		{
			name:     "username is an error when the server offers no AUTH",
			server:   smtptest.Setup{Security: "none", Users: users},
			security: "none", username: "mailer", password: "s3cret", wantErrSub: "AUTH",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.server)
			cfg := smtpConfig(srv, tt.security)
			cfg.SMTP.Username = tt.username
			cfg.SMTP.Password = tt.password
			var opts []SMTPOption
			if tt.trustCert {
				opts = append(opts, WithRootCAs(srv.Roots))
			}
			mailer, err := NewSMTP(cfg, opts...)
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			err = mailer.Send(context.Background(), renderForTest(t, "ada@example.org"))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("error %q does not mention %q", err, tt.wantErrSub)
			}
			if n := len(srv.Received()); n != 0 {
				t.Errorf("server received %d mails, want 0", n)
			}
		})
	}
}

func TestSMTPMailerFailsInsteadOfHangingOnAnUnreachableServer(t *testing.T) {
	silentPort, _ := silentServer(t)
	tests := []struct {
		name     string
		port     int
		security string
		wantErr  error
	}{
		{name: "nobody listens", port: closedPort(t), security: "none"},
		{name: "server never greets", port: silentPort, security: "none", wantErr: os.ErrDeadlineExceeded},
		{name: "server never answers the TLS handshake", port: silentPort, security: "tls", wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Mail{SMTP: config.SMTP{
				Host: "127.0.0.1", Port: tt.port, Security: tt.security, Timeout: 300 * time.Millisecond,
			}}
			mailer, err := NewSMTP(cfg)
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			err = sendWithWatchdog(t, context.Background(), mailer)
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v is not %v", err, tt.wantErr)
			}
		})
	}
}

func TestSMTPMailerStopsWhenTheContextIsCanceled(t *testing.T) {
	// The server greets, reads EHLO and then stalls: the mailer is past
	// dialing, waiting on a read that only ctx can end (the timeout is long).
	port, stalled := stallingServer(t, func(c net.Conn) {
		if _, err := io.WriteString(c, "220 localhost ESMTP\r\n"); err != nil {
			return
		}
		_, _ = bufio.NewReader(c).ReadString('\n')
	})
	cfg := config.Mail{SMTP: config.SMTP{Host: "127.0.0.1", Port: port, Security: "none", Timeout: time.Minute}}
	mailer, err := NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stalled
		cancel()
	}()
	err = sendWithWatchdog(t, ctx, mailer)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error %v, want context.Canceled", err)
	}
}

// sendWithWatchdog sends a mail and fails the test if Send does not return
// at all (far longer than any timeout the tests configure).
func sendWithWatchdog(t *testing.T, ctx context.Context, mailer *SMTPMailer) error {
	t.Helper()
	msg := renderForTest(t, "ada@example.org")
	errc := make(chan error, 1)
	go func() { errc <- mailer.Send(ctx, msg) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Send hung")
		return nil
	}
}

func TestSMTPMailerIsSafeForConcurrentSends(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Setup{Security: "starttls", Users: map[string]string{"mailer": "pw"}})
	cfg := smtpConfig(srv, "starttls")
	cfg.SMTP.Username, cfg.SMTP.Password = "mailer", "pw"
	mailer, err := NewSMTP(cfg, WithRootCAs(srv.Roots))
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		msg := renderForTest(t, fmt.Sprintf("user%d@example.org", i))
		wg.Go(func() { errs[i] = mailer.Send(context.Background(), msg) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Send %d: %v", i, err)
		}
	}
	seen := map[string]bool{}
	for _, m := range srv.Received() {
		seen[strings.Join(m.To, ",")] = true
	}
	for i := range n {
		if rcpt := fmt.Sprintf("user%d@example.org", i); !seen[rcpt] {
			t.Errorf("no mail for %s", rcpt)
		}
	}
}

func TestNewSMTPRejectsBadConfigNamingTheField(t *testing.T) {
	valid := config.SMTP{Host: "smtp.example.com"}
	tests := []struct {
		name    string
		mutate  func(*config.Mail)
		wantSub string
	}{
		{name: "missing host", mutate: func(m *config.Mail) { m.SMTP.Host = "" }, wantSub: "mail.smtp.host"},
		{name: "unknown security", mutate: func(m *config.Mail) { m.SMTP.Security = "ssl" }, wantSub: "mail.smtp.security"},
		{name: "port out of range", mutate: func(m *config.Mail) { m.SMTP.Port = 70000 }, wantSub: "mail.smtp.port"},
		{name: "negative timeout", mutate: func(m *config.Mail) { m.SMTP.Timeout = -time.Second }, wantSub: "mail.smtp.timeout"},
		{name: "from is not an address", mutate: func(m *config.Mail) { m.From = "not an address" }, wantSub: "mail.from"},
		{
			name: "clear-text password to a remote host",
			mutate: func(m *config.Mail) {
				m.SMTP.Security, m.SMTP.Username, m.SMTP.Password = "none", "u", "p"
			},
			wantSub: "mail.smtp.username",
		},
		{
			name: "password_file that cannot be read",
			mutate: func(m *config.Mail) {
				m.SMTP.Username, m.SMTP.PasswordFile = "u", filepath.Join(t.TempDir(), "missing")
			},
			wantSub: "mail.smtp.password_file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Mail{SMTP: valid}
			tt.mutate(&cfg)
			_, err := NewSMTP(cfg)
			if err == nil {
				t.Fatal("NewSMTP succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantSub) {
				t.Errorf("error %q does not name %s", err, tt.wantSub)
			}
		})
	}
}

func TestNewSMTPDefaultsPortBySecurity(t *testing.T) {
	tests := []struct {
		security string
		wantAddr string
	}{
		{security: "", wantAddr: "smtp.example.com:587"},
		{security: "starttls", wantAddr: "smtp.example.com:587"},
		{security: "none", wantAddr: "smtp.example.com:587"},
		{security: "tls", wantAddr: "smtp.example.com:465"},
	}
	for _, tt := range tests {
		t.Run("security "+tt.security, func(t *testing.T) {
			m, err := NewSMTP(config.Mail{SMTP: config.SMTP{Host: "smtp.example.com", Security: tt.security}})
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			if m.addr != tt.wantAddr || m.from != defaultFrom {
				t.Errorf("addr %q from %q, want %q and %q", m.addr, m.from, tt.wantAddr, defaultFrom)
			}
		})
	}
}

func TestSMTPMailerRejectsABadRecipientBeforeConnecting(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Setup{Security: "none"})
	mailer, err := NewSMTP(smtpConfig(srv, "none"))
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	for _, to := range []string{"", "no-at-sign", "a@b.example\r\nBcc: evil@example.com"} {
		if err := mailer.Send(context.Background(), Message{To: to, Subject: "s", Text: "t"}); err == nil {
			t.Errorf("Send to %q succeeded, want an error", to)
		}
	}
	if n := len(srv.Received()); n != 0 {
		t.Errorf("server received %d mails, want 0", n)
	}
}

// testMailConfig is a valid config that is never dialled.
func testMailConfig() config.Mail {
	return config.Mail{From: "authgate@example.com", SMTP: config.SMTP{Host: "localhost", Security: "none"}}
}
