package provider

import (
	"errors"
	"fmt"
)

// Kind is what went wrong in a provider sign-in, for the caller to map to
// a status and a problem type.
type Kind int

const (
	// KindUnknownProvider: no provider of that name (404).
	KindUnknownProvider Kind = iota + 1
	// KindBadRequest: the authorize request is wrong, e.g. a scope the
	// provider does not allow (400).
	KindBadRequest
	// KindState: the callback has no live flow for its state, or the flow
	// belongs to another browser or provider (400). Replays land here.
	KindState
	// KindDenied: the provider answered with an error, such as
	// access_denied when the person refused consent (401).
	KindDenied
	// KindCode: the provider refused the authorization code (expired,
	// already used, wrong verifier) (401).
	KindCode
	// KindToken: the ID token or user-info answer failed a check
	// (signature, issuer, audience, expiry, nonce, subject) (401).
	KindToken
	// KindEmailUnverified: the provider account's email belongs to a local
	// user, but the provider does not assert it is verified (403).
	KindEmailUnverified
	// KindAccountExists: a local user has this email and linking by email
	// is off for the provider, or the local user's email is unverified
	// (409).
	KindAccountExists
	// KindSignupClosed: the provider account is not linked and sign-up is
	// off for the provider (403).
	KindSignupClosed
	// KindDisabled: the local user is deactivated (403).
	KindDisabled
	// KindUnavailable: the provider could not be reached or answered
	// nonsense (502).
	KindUnavailable
)

// Error is a refused provider sign-in. Detail is a sentence for the
// person; Err, when set, is the cause for the log (never sent).
type Error struct {
	Kind   Kind
	Detail string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("provider sign-in: %s: %v", e.Detail, e.Err)
	}
	return "provider sign-in: " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

func fail(k Kind, detail string, err error) *Error {
	return &Error{Kind: k, Detail: detail, Err: err}
}

// KindOf returns the Kind of err, or 0 when err is not an *Error (a store
// failure: "could not check").
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
