// Package mfa owns authgate's second factors: TOTP authenticator apps
// (RFC 6238, github.com/pquerna/otp), passkeys (WebAuthn,
// github.com/go-webauthn/webauthn) and recovery codes. It enrols them,
// checks them and spends what is single-use, and keeps them in one
// store.SecondFactors record per user, written with compare-and-swap
// (store.ErrConflict: re-read, re-decide, retry) so that two requests racing
// with the same code cannot both succeed.
//
// What it guarantees:
//   - a TOTP secret counts only once a first code confirmed it; it is stored
//     sealed with AES-256-GCM under mfa.encryption_key, bound to the user's
//     ID, and never returned after enrolment;
//   - a TOTP code is single-use: the record keeps the highest time step
//     accepted, and a code of that step or an earlier one is refused as a
//     replay (ErrReplayed), also within the skew window;
//   - recovery codes are shown once, stored hashed, and spent on use;
//   - a WebAuthn ceremony (challenge) lives at most CeremonyTTL and is
//     consumed by its finish, whether it succeeds or not, so a finish
//     cannot be replayed.
//
// What it refuses to do: decide whether a request needs a second factor,
// rate-limit, count towards the lockout, start sessions or write the audit
// log; package account does all that around it. It knows neither Fiber nor
// HTML: it takes and returns bytes and strings (the WebAuthn options and
// responses as the browser's JSON).
package mfa
