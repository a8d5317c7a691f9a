package mail

import (
	"context"
	"log/slog"
)

// LogMailer writes mails to a log instead of sending them. It is the
// development default: the log shows the link a user would have received.
// Mails hold no passwords, but they do hold one-time tokens, so it must not be
// used in production.
type LogMailer struct {
	logger *slog.Logger
}

// NewLog returns a LogMailer writing to logger, or to slog.Default() when
// logger is nil.
func NewLog(logger *slog.Logger) *LogMailer {
	if logger == nil {
		logger = slog.Default()
	}
	return &LogMailer{logger: logger}
}

// Send logs the recipient, subject and text body of m at info level. The HTML
// body is left out: it repeats the text.
func (l *LogMailer) Send(ctx context.Context, m Message) error {
	l.logger.LogAttrs(ctx, slog.LevelInfo, "mail not sent: log driver",
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("text", m.Text),
	)
	return nil
}
