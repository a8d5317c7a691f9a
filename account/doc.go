// Package account owns the account flows of authgate: signing in (with the
// rate limits, the lockout and the optional role scope), refreshing a
// session, self-registration, email verification, forgot and reset
// password, changing the password, the user's own record ("me") and the
// administration of users.
//
// It knows neither Fiber nor HTML: its callers (the JSON routes of package
// gateway and the browser pages of package pages) decode their input, call a
// Service method and render what it returns. Every refusal is an *Error
// with a Kind, the offending field and a sentence for the person; the
// callers map Kinds to problem documents (gateway/problem.go) or to messages
// next to form fields. Errors that are not *Error mean "could not check"
// (store or hashing failure), never "wrong password".
//
// What it refuses to do: read requests, set cookies, redirect, or decide
// proxied requests; those belong to package gateway. It never tells a caller
// whether an account exists where the JSON API promises not to (login,
// verification and reset requests answer alike for every address).
package account
