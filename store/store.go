// Package store defines what authgate keeps between requests (users,
// sessions with their refresh tokens, revocations, one-time tokens, links to
// identity providers, second factors) and the errors every backend reports.
// The backends live in the sub-packages
// redisstore (shared by many instances), boltstore (the embedded, durable
// default) and memstore (tests); storetest holds the contract suite that all
// of them pass.
package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Errors every backend returns; compare them with errors.Is.
var (
	// ErrNotFound: no such user, session or token (or it expired).
	ErrNotFound = errors.New("not found")
	// ErrUsernameTaken: another user already has this username (folded).
	ErrUsernameTaken = errors.New("username taken")
	// ErrEmailTaken: another user already has this email (folded).
	ErrEmailTaken = errors.New("email taken")
	// ErrRefreshReused: an already spent refresh token was presented. The
	// backend has deleted the whole session before returning it.
	ErrRefreshReused = errors.New("refresh token reused")
	// ErrIdentityTaken: the provider account is already linked to another
	// user.
	ErrIdentityTaken = errors.New("identity linked to another user")
	// ErrConflict: PutSecondFactors lost a race (the stored version is not
	// the one the caller read). Callers re-read and retry.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable wraps failures to reach the backend (network, disk).
	// Handlers map it to 503.
	ErrUnavailable = errors.New("store unavailable")
)

// Fold is the key under which usernames and emails are unique: Unicode NFKC,
// then lower case, surrounding space trimmed. Every backend indexes with it,
// so "Alice", "ALICE" and "Ａｌｉｃｅ" are one user.
func Fold(s string) string {
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(s)))
}

// User is an account. PasswordHash is a PHC string (argon2id) or a bcrypt hash.
type User struct {
	ID                 string    `json:"id"`
	Username           string    `json:"username"`
	Email              string    `json:"email,omitempty"`
	PasswordHash       string    `json:"password_hash"`
	Roles              []string  `json:"roles"`
	Active             bool      `json:"active"`
	EmailVerified      bool      `json:"email_verified"`
	MustChangePassword bool      `json:"must_change_password"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// Session is one login: the access tokens issued for it carry its ID as the
// `sid` claim, and exactly one refresh token (stored as RefreshHash) is live
// at a time.
type Session struct {
	ID          string    `json:"id"`
	UserID      string    `json:"user_id"`
	RefreshHash string    `json:"refresh_hash"`
	CreatedAt   time.Time `json:"created_at"`
	// RefreshExpiresAt is when the live refresh token stops working; every
	// rotation moves it forward, never past ExpiresAt.
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	// ExpiresAt is the absolute end of the session, whatever the rotations.
	ExpiresAt time.Time `json:"expires_at"`
	// AMR, AuthTime and Step are how the session was authenticated (see
	// auth.Authn): every access token of the session carries them, the
	// refreshed ones too. Zero values: a session of before second factors
	// (no amr, no auth_time, a full session).
	AMR      []string  `json:"amr,omitempty"`
	AuthTime time.Time `json:"auth_time,omitempty"`
	Step     string    `json:"mfa_step,omitempty"`
}

// Users keeps accounts, unique by Fold(Username) and by Fold(Email) when the
// email is not empty.
type Users interface {
	// CreateUser stores u (u.ID set by the caller); ErrUsernameTaken or
	// ErrEmailTaken when the folded name or email is in use.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByUsername(ctx context.Context, username string) (User, error)
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser replaces the user with u.ID, moving the indexes when the
	// username or email changed; ErrNotFound, ErrUsernameTaken, ErrEmailTaken.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes the user and its index entries; ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns up to limit users ordered by ID, starting after the
	// ID `after` ("" for the first page), and the cursor for the next page
	// ("" when there is none).
	ListUsers(ctx context.Context, after string, limit int) ([]User, string, error)
}

// Rotation is one RotateRefresh request.
type Rotation struct {
	// PresentedHash is the hash of the refresh token the client presented.
	PresentedHash string
	// NextHash is the hash of the token that replaces it. Callers derive
	// the successor from the presented token deterministically (auth does
	// it with a keyed HMAC), so presenting the same token again asks for
	// the same NextHash: that is how a replay is told from a reuse without
	// the store ever holding a token in clear.
	NextHash string
	// RefreshExpiresAt is the new expiry of the live refresh token; the
	// backend caps it at the session's ExpiresAt.
	RefreshExpiresAt time.Time
	// Grace is the replay window: for this long after PresentedHash was
	// spent, presenting it again with the same NextHash is a replay (the
	// session is returned unchanged) instead of a reuse. 0: never.
	Grace time.Duration
}

// Sessions keeps logins and their rotating refresh tokens.
type Sessions interface {
	// CreateSession stores s and indexes it under s.UserID. The record
	// expires at s.RefreshExpiresAt.
	CreateSession(ctx context.Context, s Session) error
	// RotateRefresh atomically replaces the live refresh hash of session
	// sid. The outcomes, decided in one step:
	//   - r.PresentedHash is live: it becomes spent (remembering r.NextHash
	//     and when), r.NextHash becomes live, RefreshExpiresAt moves to
	//     r.RefreshExpiresAt (capped at ExpiresAt); the updated session is
	//     returned.
	//   - replay: r.PresentedHash was spent less than r.Grace ago by a
	//     rotation to r.NextHash. Nothing changes and the session is
	//     returned as it is: its RefreshHash is r.NextHash, or a later hash
	//     when r.NextHash was itself spent since (the caller then replays
	//     the next link of the chain).
	//   - reuse: r.PresentedHash was spent otherwise (before the window, or
	//     to another successor). The whole session is deleted and
	//     ErrRefreshReused returned with the session as it was, so the
	//     caller can revoke it.
	//   - anything else: ErrNotFound.
	// Of concurrent calls with the same live hash and the same NextHash,
	// one rotates and the others replay (within Grace); with different
	// NextHash values exactly one succeeds. A backend that retries a call
	// on its own (a lost reply) must give the retry the outcome of the
	// first attempt, whatever Grace is.
	RotateRefresh(ctx context.Context, sid string, r Rotation) (Session, error)
	GetSession(ctx context.Context, sid string) (Session, error)
	// DeleteSession removes the session; deleting a missing one is no error.
	DeleteSession(ctx context.Context, sid string) error
	// UserSessions lists the IDs of the user's sessions that still exist.
	UserSessions(ctx context.Context, userID string) ([]string, error)
}

// Secrets keeps secrets that every instance sharing the backend must agree
// on and that must survive restarts (the key refresh successors are derived
// with).
type Secrets interface {
	// SharedSecret returns the secret stored under name, storing candidate
	// first when there is none (set-if-absent): every caller, on any
	// instance, gets the bytes of the first one that stored it.
	SharedSecret(ctx context.Context, name string, candidate []byte) ([]byte, error)
}

// Revocations records session IDs whose access tokens must be refused until
// the given time (the moment the last access token of the session expires).
type Revocations interface {
	// RevokeSession records the revocation and tells every Watch-er,
	// including those of other instances sharing the backend.
	RevokeSession(ctx context.Context, sid string, until time.Time) error
	// RevokedSessions returns every revocation that has not yet expired.
	RevokedSessions(ctx context.Context) (map[string]time.Time, error)
	// WatchRevocations calls fn for every revocation made after it starts,
	// until ctx ends; reconnect is called whenever the feed was (re)connected
	// and a full resync is due. It returns when ctx ends.
	WatchRevocations(ctx context.Context, fn func(sid string, until time.Time), reconnect func()) error
}

// OneTimeTokens keeps single-use tokens (email verification, password reset)
// by the hash of their secret.
type OneTimeTokens interface {
	// PutOneTime stores hash for (purpose, userID), invalidating any earlier
	// token of the same user and purpose.
	PutOneTime(ctx context.Context, purpose, hash, userID string, expiresAt time.Time) error
	// ConsumeOneTime atomically deletes the token and returns its user ID;
	// ErrNotFound when unknown, used, superseded or expired.
	ConsumeOneTime(ctx context.Context, purpose, hash string) (string, error)
}

// Identity links a user to an account at an external identity provider:
// Subject is the provider's stable identifier for that account (the `sub`
// of an OpenID provider), never its email, which can change hands.
type Identity struct {
	Provider string    `json:"provider"`
	Subject  string    `json:"subject"`
	UserID   string    `json:"user_id"`
	Email    string    `json:"email,omitempty"` // as the provider asserted it when linked
	LinkedAt time.Time `json:"linked_at"`
}

// Identities keeps the links between users and provider accounts. A
// provider account is linked to at most one user; a user may have any
// number of links. DeleteUser deletes the user's links with it.
type Identities interface {
	// LinkIdentity links (id.Provider, id.Subject) to id.UserID. Linking a
	// pair again to the same user is no error and changes nothing (a retry
	// after a lost reply must not fail); ErrIdentityTaken when the pair is
	// linked to another user; ErrNotFound when the user does not exist.
	LinkIdentity(ctx context.Context, id Identity) error
	// IdentityUser returns the ID of the user linked to (provider, subject);
	// ErrNotFound when there is no link or its user no longer exists.
	IdentityUser(ctx context.Context, provider, subject string) (string, error)
	// UserIdentities lists the user's links, ordered by provider then
	// subject; an empty list for a user without links (or unknown).
	UserIdentities(ctx context.Context, userID string) ([]Identity, error)
	// UnlinkIdentity removes the link of (provider, subject) if it belongs
	// to userID; removing a missing link is no error.
	UnlinkIdentity(ctx context.Context, userID, provider, subject string) error
}

// SecondFactors is everything a user has as second factors, stored as one
// record so that a change (a TOTP step spent, a recovery code used, a
// passkey added) is one compare-and-swap. The zero value: none.
type SecondFactors struct {
	UserID string `json:"user_id"`
	// Version counts the writes of this record: 0 when nothing is stored.
	// PutSecondFactors succeeds only when it equals the stored version.
	Version int64 `json:"version"`
	// TOTP is the confirmed authenticator-app secret; nil: none.
	TOTP *TOTPFactor `json:"totp,omitempty"`
	// PendingTOTP is an enrolment awaiting its first code; nil: none.
	PendingTOTP *TOTPFactor `json:"pending_totp,omitempty"`
	Passkeys    []Passkey   `json:"passkeys,omitempty"`
	// RecoveryHashes are the hashes of the unspent recovery codes.
	RecoveryHashes []string `json:"recovery_hashes,omitempty"`
	// Ceremony is a pending WebAuthn ceremony (registration or login);
	// nil: none.
	Ceremony  *Ceremony `json:"ceremony,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// WriteID is chosen afresh by each write attempt. A retry of one
	// write (its reply lost) sends the same bytes and is recognised as
	// applied; two requests that decided alike from the same version (two
	// checks of one TOTP code in the same instant) differ in it, so the
	// second gets ErrConflict, re-reads, and sees the code spent.
	WriteID string `json:"write_id,omitempty"`
}

// TOTPFactor is a time-based one-time password secret (RFC 6238).
type TOTPFactor struct {
	// SecretEnc is the secret sealed by package mfa; the store never sees
	// it in clear.
	SecretEnc []byte    `json:"secret_enc"`
	AddedAt   time.Time `json:"added_at"`
	// LastStep is the highest time step accepted: codes of it or an earlier
	// step are refused, so a code cannot be replayed.
	LastStep int64 `json:"last_step"`
}

// Passkey is a registered WebAuthn credential.
type Passkey struct {
	ID   string `json:"id"` // base64url credential ID
	Name string `json:"name"`
	// Credential is the JSON of a webauthn.Credential, owned by package mfa.
	Credential []byte    `json:"credential"`
	AddedAt    time.Time `json:"added_at"`
	// LastUsedAt is zero until the passkey is first used to sign in.
	LastUsedAt time.Time `json:"last_used_at,omitempty"`
}

// Ceremony is a pending WebAuthn ceremony: the challenge the browser must
// sign, kept between the begin and finish requests.
type Ceremony struct {
	Purpose   string    `json:"purpose"` // "register" or "login"
	Data      []byte    `json:"data"`    // JSON of webauthn.SessionData
	ExpiresAt time.Time `json:"expires_at"`
}

// SecondFactorStore keeps each user's SecondFactors record. DeleteUser
// deletes the user's record with the user.
type SecondFactorStore interface {
	// GetSecondFactors returns the user's record; a user with none stored
	// gets SecondFactors{UserID: id} (Version 0), not an error.
	GetSecondFactors(ctx context.Context, userID string) (SecondFactors, error)
	// PutSecondFactors stores f when the stored version equals f.Version
	// (0: none stored) and returns it with Version f.Version+1. Otherwise
	// ErrConflict, except when the stored record is exactly what this call
	// would write (a retry of a write whose reply was lost): then success.
	// Callers re-read and retry on ErrConflict.
	PutSecondFactors(ctx context.Context, f SecondFactors) (SecondFactors, error)
	// DeleteSecondFactors removes the record; no error when there is none.
	DeleteSecondFactors(ctx context.Context, userID string) error
}

// Store is everything a gateway instance needs from its backend.
type Store interface {
	Users
	Sessions
	Revocations
	OneTimeTokens
	Identities
	SecondFactorStore
	Secrets
	// Ping reports whether the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
