package account

import (
	"errors"

	"authgate/store"
)

// Kind is the kind of a refusal. The JSON routes map each to one problem
// type (gateway/problem.go); the pages to a message.
type Kind uint8

// The kinds of refusal.
const (
	KindValidation Kind = iota + 1
	KindWeakPassword
	KindPasswordTooLong
	KindUsernameTaken
	KindEmailTaken
	KindInvalidOneTime
	KindInvalidCredentials
	KindInvalidToken // the token's user is gone or inactive
	KindInvalidRefresh
	KindForbidden
	KindPasswordChange
	KindEmailNotVerified
	KindRegistrationOff
	KindNotFound
	KindRateLimited
	KindLocked
	// KindSecondFactorInvalid: a wrong, replayed or malformed code or
	// passkey assertion, or a passkey ceremony that expired or was used
	// (401 second-factor-invalid).
	KindSecondFactorInvalid
	// KindSecondFactorRequired: the token's second step is still pending
	// (Step "verify"): prove a second factor first.
	KindSecondFactorRequired
	// KindNotEnrolled: the user has no such factor, or nothing to confirm
	// (409 second-factor-not-enrolled).
	KindNotEnrolled
	// KindFreshSecondFactor: the change needs a second factor proved
	// within mfa.fresh_for; step up first (403
	// fresh-second-factor-required).
	KindFreshSecondFactor
)

// Error is a refusal: the request cannot be granted as it is. Field names
// the input at fault ("" when none); Detail is one sentence for a person;
// RetryAfter (seconds) is set for rate limits and lockouts.
type Error struct {
	Kind       Kind
	Field      string
	Detail     string
	RetryAfter int
}

func (e *Error) Error() string { return e.Detail }

func refuse(k Kind, detail string) *Error { return &Error{Kind: k, Detail: detail} }

// fieldErr is a validation refusal naming the field.
func fieldErr(field, detail string) *Error {
	return &Error{Kind: KindValidation, Field: field, Detail: field + ": " + detail}
}

// weak is a password-policy refusal naming the field.
func weak(field, detail string) *Error {
	return &Error{Kind: KindWeakPassword, Field: field, Detail: field + ": " + detail}
}

func tooLong() *Error {
	return &Error{Kind: KindPasswordTooLong, Field: "password", Detail: "the password is longer than any this gateway accepts"}
}

func invalidOneTime() *Error {
	return &Error{Kind: KindInvalidOneTime, Field: "token", Detail: "the token is invalid, expired, superseded or already used; request a new mail"}
}

func userNotFound() *Error { return refuse(KindNotFound, "no user has this id") }

// takenErr maps the store's uniqueness errors to their refusals.
func takenErr(err error) error {
	switch {
	case errors.Is(err, store.ErrUsernameTaken):
		return &Error{Kind: KindUsernameTaken, Field: "username", Detail: "username: another account has this username"}
	case errors.Is(err, store.ErrEmailTaken):
		return &Error{Kind: KindEmailTaken, Field: "email", Detail: "email: another account has this email address"}
	}
	return err
}

// AsError returns the refusal in err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
