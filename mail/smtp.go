package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"authgate/config"
)

// Defaults used when the corresponding config field is zero.
const (
	defaultFrom         = "authgate@localhost"
	defaultPort         = 587
	defaultImplicitPort = 465
	defaultTimeout      = 10 * time.Second
)

// Values of config.SMTP.Security.
const (
	securitySTARTTLS = "starttls"
	securityTLS      = "tls"
	securityNone     = "none"
)

// SMTPMailer sends mails through an SMTP server. Each Send opens its own
// connection, so one SMTPMailer may be used by many goroutines at once.
type SMTPMailer struct {
	host        string
	addr        string
	from        string
	implicitTLS bool
	tlsConfig   *tls.Config
	// opts configure every go-mail client; never appended to in place.
	opts []gomail.Option
}

// SMTPOption changes how NewSMTP builds an SMTPMailer.
type SMTPOption func(*smtpOptions)

type smtpOptions struct {
	rootCAs *x509.CertPool
}

// WithRootCAs makes the SMTPMailer trust server certificates signed by pool
// instead of the system roots (a private CA, or a test server's certificate).
// Certificates are always verified.
func WithRootCAs(pool *x509.CertPool) SMTPOption {
	return func(o *smtpOptions) { o.rootCAs = pool }
}

// NewSMTP returns an SMTPMailer for cfg.SMTP sending from cfg.From.
//
// Security "starttls" (the default) requires STARTTLS and fails rather than
// send in clear; "tls" speaks TLS from the first byte (port 465 style); "none"
// never encrypts and is meant for local relays. Zero values take the defaults
// of config.SMTP: port 587 (465 for "tls"), timeout 10s, from
// "authgate@localhost". Authentication is used only when Username is set; the
// mechanism is chosen from what the server offers (PLAIN, then LOGIN, else the
// strongest known). The password is Password or, when that is empty, the
// content of PasswordFile. A username with security "none" is refused unless
// the host is loopback, because the password would cross the network in clear.
func NewSMTP(cfg config.Mail, opts ...SMTPOption) (*SMTPMailer, error) {
	var o smtpOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	sc := cfg.SMTP

	from := cfg.From
	if from == "" {
		from = defaultFrom
	}
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail.from %q: %w", from, err)
	}
	if sc.Host == "" {
		return nil, errors.New("mail.smtp.host: required with the smtp driver")
	}
	security := sc.Security
	if security == "" {
		security = securitySTARTTLS
	}
	port := sc.Port
	if port == 0 {
		port = defaultPort
		if security == securityTLS {
			port = defaultImplicitPort
		}
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mail.smtp.port %d: not between 1 and 65535", port)
	}
	timeout := sc.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	if timeout < 0 {
		return nil, fmt.Errorf("mail.smtp.timeout %s: must be positive", timeout)
	}

	m := &SMTPMailer{
		host: sc.Host,
		addr: net.JoinHostPort(sc.Host, strconv.Itoa(port)),
		from: from,
		tlsConfig: &tls.Config{
			ServerName: sc.Host,
			MinVersion: tls.VersionTLS12,
			RootCAs:    o.rootCAs,
		},
	}
	m.opts = []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(m.tlsConfig),
	}
	switch security {
	case securitySTARTTLS:
		m.opts = append(m.opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case securityTLS:
		// The TLS handshake happens in dial; WithSSL only stops go-mail from
		// asking for STARTTLS on top of it.
		m.implicitTLS = true
		m.opts = append(m.opts, gomail.WithSSL())
	case securityNone:
		m.opts = append(m.opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("mail.smtp.security %q: must be starttls, tls or none", sc.Security)
	}

	if sc.Username != "" {
		if security == securityNone && !isLoopback(sc.Host) {
			return nil, fmt.Errorf("mail.smtp.username: security none would send the password in clear to %q; use starttls or tls", sc.Host)
		}
		password, err := smtpPassword(sc)
		if err != nil {
			return nil, err
		}
		m.opts = append(m.opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(sc.Username),
			gomail.WithPassword(password),
		)
	}

	// Building a client checks the options once, at start.
	if _, err := m.client(); err != nil {
		return nil, fmt.Errorf("mail.smtp: %w", err)
	}
	return m, nil
}

// Send delivers m over a new connection. The configured timeout bounds each
// step; ctx being done aborts the conversation at once.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	msg, err := s.message(m)
	if err != nil {
		return err
	}
	// Closing the connection when ctx is done interrupts any read or write;
	// go-mail itself only honours ctx while dialing.
	var stop func() bool
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		conn, err := s.dial(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
	client, err := s.client(gomail.WithDialContextFunc(dial))
	if err != nil {
		return fmt.Errorf("send mail via %s: %w", s.addr, err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if stop != nil {
		stop()
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(ctxErr, err)
		}
		return fmt.Errorf("send mail via %s: %w", s.addr, err)
	}
	return nil
}

// client builds a go-mail client from s.opts plus extra. A fresh client per
// Send keeps concurrent sends from sharing go-mail's mutable state.
func (s *SMTPMailer) client(extra ...gomail.Option) (*gomail.Client, error) {
	opts := append(s.opts[:len(s.opts):len(s.opts)], extra...)
	return gomail.NewClient(s.host, opts...)
}

// dial connects to the server and, for implicit TLS, completes the handshake
// within ctx.
func (s *SMTPMailer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if !s.implicitTLS {
		return conn, nil
	}
	tc := tls.Client(conn, s.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// message turns m into a go-mail message: multipart/alternative when m has an
// HTML body, quoted-printable UTF-8 parts.
func (s *SMTPMailer) message(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("mail from %q: %w", s.from, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail recipient: %w", err)
	}
	msg.Subject(cleanSubject(m.Subject))
	msg.SetDate()
	msg.SetMessageID()
	// RFC 3834: keeps auto-responders from answering.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, unixNewlines(m.Text))
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, unixNewlines(m.HTML))
	}
	return msg, nil
}

// unixNewlines turns CRLF and lone CR into LF. go-mail writes every line
// break as CRLF but mishandles a lone CR (it can drop the part's final line
// break), so it only gets LF.
func unixNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// smtpPassword returns Password, or else the content of PasswordFile without
// its trailing line break.
func smtpPassword(sc config.SMTP) (string, error) {
	if sc.Password != "" || sc.PasswordFile == "" {
		return sc.Password, nil
	}
	b, err := os.ReadFile(sc.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("mail.smtp.password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// isLoopback reports whether host names this machine, with the same list
// go-mail uses to allow authentication without TLS.
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
