// Package audit writes authgate's security events, and only those, as JSON
// lines to a stream of their own (a file, stdout or stderr), apart from the
// request log: sign-ins and their failures, lockouts, rate limiting,
// sign-outs, refresh-token reuse, password changes and resets, email
// verification, and every change an administrator (or `authgate users`)
// makes to an account, with who made it.
//
// An Event has fixed fields of fixed meaning. There is deliberately no
// free-form map: a caller cannot put a password, a token, a hash or a secret
// in it by accident, and TestEveryEventIsFreeOfSecrets drives every event
// type through the real flows to check that none appears. Adding an event
// is adding a constant to the list below (and to Events) and one Log call
// where it happens.
//
// What it refuses: it does not decide anything, it does not buffer (each
// event is one write, so a crash loses none already logged), and it never
// fails a request: a write error is reported once to the error log.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// The event types. Outcome says how it went (success, failure, ...); Reason
// says why, as a fixed word.
const (
	SignIn          = "sign_in"          // success (reason password_change_required when only a change is allowed, second_factor_required or second_factor_enrolment_required when the token is restricted to that step, provider:<name> through an identity provider) or failure (invalid_credentials, locked, role_scope, email_not_verified, inactive, provider:<name>:<why>)
	Lockout         = "lockout"          // a username was locked after repeated failed sign-ins
	RateLimited     = "rate_limited"     // a request refused by a rate limit; reason names the limit
	SignOut         = "sign_out"         // a session ended by its user; reason "all" for every session
	RefreshReuse    = "refresh_reuse"    // a spent refresh token was presented: its session is revoked
	PasswordChanged = "password_changed" // by the user (failure: wrong current password)
	PasswordReset   = "password_reset"   // through a mailed link
	EmailVerified   = "email_verified"   // through a mailed link
	Registered      = "user_registered"  // self-registration
	ProfileChanged  = "profile_changed"  // the user changed their username or email; changes lists which
	UserCreated     = "user_created"     // by an admin
	UserUpdated     = "user_updated"     // by an admin; changes lists the fields, reason "sessions_ended" when they were
	UserDeleted     = "user_deleted"     // by an admin
	SessionsRevoked = "sessions_revoked" // every session of a user ended by an admin

	// Second factors (package account, secondfactor.go).
	SecondFactorEnrolled     = "second_factor_enrolled"     // reason totp or passkey
	SecondFactorRemoved      = "second_factor_removed"      // reason totp, passkey, or admin_reset (actor: the admin)
	SecondFactor             = "second_factor"              // a second-factor check: success (reason totp, passkey, recovery_code) or failure (totp, passkey, recovery_code, replayed, rate_limited, locked)
	RecoveryCodeUsed         = "recovery_code_used"         // a recovery code was spent
	RecoveryCodesRegenerated = "recovery_codes_regenerated" // new recovery codes replaced the old ones
)

// Events lists every event type (for the docs and the tests).
var Events = []string{SignIn, Lockout, RateLimited, SignOut, RefreshReuse, PasswordChanged, PasswordReset,
	EmailVerified, Registered, ProfileChanged, UserCreated, UserUpdated, UserDeleted, SessionsRevoked,
	SecondFactorEnrolled, SecondFactorRemoved, SecondFactor, RecoveryCodeUsed, RecoveryCodesRegenerated}

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one security event. Empty fields are left out of the line.
type Event struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
	// User is the account the event is about: its ID, or for a failed
	// sign-in of an unknown name the username as typed.
	User string `json:"user,omitempty"`
	// Username is the account's username when it is known.
	Username string `json:"username,omitempty"`
	// Actor is who did it: the user's ID for their own actions, the
	// admin's ID, or cli:<os user> for `authgate users`.
	Actor     string `json:"actor,omitempty"`
	ClientIP  string `json:"client_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason,omitempty"`
	// Session is the session ID concerned (it is in every access token and
	// is no secret).
	Session string `json:"session,omitempty"`
	// Changes names the fields an account change touched (never values).
	Changes []string `json:"changes,omitempty"`
}

// Request is what an event knows about the HTTP request that caused it.
type Request struct {
	ClientIP, UserAgent, RequestID string
}

type requestKey struct{}

// WithRequest returns ctx carrying r, for the events logged under it.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// Logger writes events. A nil *Logger writes nothing, so callers need no
// check.
type Logger struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	now    func() time.Time
	errLog *slog.Logger
	failed bool
}

// New writes events to w.
func New(w io.Writer, errLog *slog.Logger) *Logger {
	if errLog == nil {
		errLog = slog.Default()
	}
	return &Logger{w: w, now: time.Now, errLog: errLog}
}

// Open opens the configured output: "" or "off" (nil: no audit log),
// "stdout", "stderr", or a file path, appended to and created with mode
// 0600.
func Open(output string, stdout, stderr io.Writer, errLog *slog.Logger) (*Logger, error) {
	switch output {
	case "", "off":
		return nil, nil
	case "stdout":
		return New(stdout, errLog), nil
	case "stderr":
		return New(stderr, errLog), nil
	}
	f, err := os.OpenFile(output, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit.output: %w", err)
	}
	l := New(f, errLog)
	l.closer = f
	return l, nil
}

// Close closes the output file, if Open opened one.
func (l *Logger) Close() error {
	if l == nil || l.closer == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closer.Close()
}

// Log writes e as one line, with the time and, when ctx carries them, the
// request's client IP, user agent and request ID.
func (l *Logger) Log(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = l.now().UTC()
	}
	if r, ok := ctx.Value(requestKey{}).(Request); ok {
		if e.ClientIP == "" {
			e.ClientIP = r.ClientIP
		}
		if e.UserAgent == "" {
			e.UserAgent = r.UserAgent
		}
		if e.RequestID == "" {
			e.RequestID = r.RequestID
		}
	}
	if len(e.UserAgent) > 512 {
		e.UserAgent = e.UserAgent[:512]
	}
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(line); err != nil && !l.failed {
		l.failed = true
		l.errLog.Error("audit log write failed; later failures are not reported", "err", err.Error())
	}
}
