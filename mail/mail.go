// Package mail renders and sends the mails of the account flows: email
// verification and password reset. Templates renders a Message from built-in
// (or overridden) templates; an SMTPMailer sends it through an SMTP server and
// a LogMailer, the development default, only logs it.
package mail

import "context"

// Message is one rendered mail: a plain-text body and an HTML alternative.
type Message struct {
	// To is the recipient address.
	To string
	// Subject is a single line without control characters.
	Subject string
	// Text is the plain-text body.
	Text string
	// HTML is the HTML alternative; empty sends a text-only mail.
	HTML string
}

// Mailer sends a Message. It documents what SMTPMailer and LogMailer offer;
// packages that send mail may declare their own, smaller interface.
type Mailer interface {
	// Send delivers m or returns why it could not. It returns once ctx is
	// done at the latest.
	Send(ctx context.Context, m Message) error
}

var (
	_ Mailer = (*SMTPMailer)(nil)
	_ Mailer = (*LogMailer)(nil)
)
