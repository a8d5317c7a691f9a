package auth

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authgate/config"
	"authgate/store"
)

// ErrRefreshInvalid is returned for refresh tokens that are malformed,
// unknown, expired, spent (reuse: the session is then revoked) or whose user
// is gone or inactive. Callers answer them all alike with 401.
var ErrRefreshInvalid = errors.New("invalid refresh token")

// SessionStore is what session logic needs from the store.
type SessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	RotateRefresh(ctx context.Context, sid string, r store.Rotation) (store.Session, error)
	SharedSecret(ctx context.Context, name string, candidate []byte) ([]byte, error)
	DeleteSession(ctx context.Context, sid string) error
	UserSessions(ctx context.Context, userID string) ([]string, error)
	RevokeSession(ctx context.Context, sid string, until time.Time) error
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Pair is what a login or a refresh hands to the client.
type Pair struct {
	AccessToken      string
	RefreshToken     string
	Claims           *Claims
	ExpiresIn        int // seconds
	RefreshExpiresAt time.Time
}

// Sessions starts, refreshes and ends login sessions: it creates the store
// record, issues the access token and the rotating refresh token, and on the
// way out revokes the session so that its access tokens are refused at once.
type Sessions struct {
	st      SessionStore
	tokens  *Tokens
	revoked *Revocations
	cfg     config.Tokens
	grace   time.Duration
	now     func() time.Time
	// successorKey derives refresh successors; loaded from the store on
	// the first refresh (see successors.go).
	successorKey atomic.Pointer[[]byte]
}

// NewSessions wires session logic. revoked is the local revocation set that
// is updated at once, before the store's feed tells other instances.
func NewSessions(st SessionStore, tokens *Tokens, revoked *Revocations, cfg config.Tokens) *Sessions {
	return &Sessions{st: st, tokens: tokens, revoked: revoked, cfg: cfg, grace: cfg.ReuseGrace(), now: time.Now}
}

// Start creates a session for u, authenticated as a says, and returns its
// first token pair. The session remembers a: every token of it, the
// refreshed ones too, carries a.AMR, a.Time (auth_time) and a.Step. A
// restricted session (a.Step != "") gets access tokens of at most
// RestrictedTTL.
func (s *Sessions) Start(ctx context.Context, u store.User, a Authn) (Pair, error) {
	now := s.now()
	if a.Time.IsZero() {
		a.Time = now
	}
	sid, err := randomID()
	if err != nil {
		return Pair{}, err
	}
	refresh, hash, err := NewOpaqueToken(sid)
	if err != nil {
		return Pair{}, err
	}
	sess := store.Session{
		ID:          sid,
		UserID:      u.ID,
		RefreshHash: hash,
		CreatedAt:   now,
		ExpiresAt:   now.Add(s.cfg.SessionLifetime),
		AMR:         a.AMR,
		AuthTime:    a.Time.Truncate(time.Second), // as auth_time says it
		Step:        a.Step,
	}
	sess.RefreshExpiresAt = minTime(now.Add(s.cfg.RefreshTTL), sess.ExpiresAt)
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return Pair{}, fmt.Errorf("create session: %w", err)
	}
	return s.pair(u, sess, refresh, now)
}

// Refresh spends refreshToken and returns a new pair for the same session,
// with the user's current name and roles. The session's AMR, auth_time
// and step are reissued unchanged: only a new sign-in or second step
// changes them.
//
// The new refresh token is derived from the presented one (see
// successors.go), so presenting the same token again within
// tokens.refresh_reuse_grace of its rotation (a retry after a lost answer,
// several tabs at once) is a replay: it gets the same new refresh token
// and a fresh access token, and revokes nothing. When that successor has
// itself been rotated meanwhile, the chain is followed to the live token.
// A spent token presented later, or with a grace of 0, is reuse: the whole
// session is revoked.
func (s *Sessions) Refresh(ctx context.Context, refreshToken string) (Pair, store.User, error) {
	sid, secret, ok := SplitRefresh(refreshToken)
	if !ok {
		return Pair{}, store.User{}, ErrRefreshInvalid
	}
	key, err := s.loadSuccessorKey(ctx)
	if err != nil {
		return Pair{}, store.User{}, err
	}
	now := s.now()
	var sess store.Session
	next := ""
	for step := 0; ; step++ {
		if step == maxReplaySteps {
			return Pair{}, store.User{}, fmt.Errorf("%w: more than %d rotations of session %s within the replay window", ErrRefreshInvalid, maxReplaySteps, sid)
		}
		var nextSecret string
		next, nextSecret = successor(key, sid, secret)
		nextHash := HashToken(nextSecret)
		sess, err = s.st.RotateRefresh(ctx, sid, store.Rotation{
			PresentedHash:    HashToken(secret),
			NextHash:         nextHash,
			RefreshExpiresAt: now.Add(s.cfg.RefreshTTL),
			Grace:            s.grace,
		})
		if err != nil || sess.RefreshHash == nextHash {
			break
		}
		// A replay, and the successor was spent too: replay its rotation.
		secret = nextSecret
	}
	switch {
	case errors.Is(err, store.ErrRefreshReused):
		if rerr := s.revoke(ctx, sid, now); rerr != nil {
			return Pair{}, store.User{}, rerr
		}
		return Pair{}, store.User{}, fmt.Errorf("%w: reuse of a spent refresh token, session %s revoked", ErrRefreshInvalid, sid)
	case errors.Is(err, store.ErrNotFound):
		return Pair{}, store.User{}, ErrRefreshInvalid
	case err != nil:
		return Pair{}, store.User{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		if rerr := s.End(ctx, sid); rerr != nil {
			return Pair{}, store.User{}, rerr
		}
		return Pair{}, store.User{}, ErrRefreshInvalid
	}
	if err != nil {
		return Pair{}, store.User{}, fmt.Errorf("load user of session: %w", err)
	}
	p, err := s.pair(u, sess, next, now)
	return p, u, err
}

// End deletes the session and revokes its access tokens on every instance.
func (s *Sessions) End(ctx context.Context, sid string) error {
	if err := s.st.DeleteSession(ctx, sid); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return s.revoke(ctx, sid, s.now())
}

// EndAll ends every session of the user except the one named keep ("" for
// none).
func (s *Sessions) EndAll(ctx context.Context, userID, keep string) error {
	sids, err := s.st.UserSessions(ctx, userID)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	for _, sid := range sids {
		if sid == keep {
			continue
		}
		if err := s.End(ctx, sid); err != nil {
			return err
		}
	}
	return nil
}

// revoke refuses the session's access tokens until the last one that can
// exist has expired.
func (s *Sessions) revoke(ctx context.Context, sid string, now time.Time) error {
	until := now.Add(s.cfg.AccessTTL + s.cfg.Leeway + time.Second)
	s.revoked.Add(sid, until)
	if err := s.st.RevokeSession(ctx, sid, until); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

func (s *Sessions) pair(u store.User, sess store.Session, refresh string, now time.Time) (Pair, error) {
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: u.ID},
		SessionID:        sess.ID,
		Name:             u.Username,
		Email:            u.Email,
		Roles:            u.Roles,
		PasswordChange:   u.MustChangePassword,
		AMR:              sess.AMR,
		Step:             sess.Step,
	}
	if !sess.AuthTime.IsZero() {
		c.AuthTime = jwt.NewNumericDate(sess.AuthTime)
	}
	ttl := s.cfg.AccessTTL
	if sess.Step != "" {
		ttl = min(ttl, RestrictedTTL)
	}
	tok, claims, err := s.tokens.issue(c, now)
	if err != nil {
		return Pair{}, fmt.Errorf("issue access token: %w", err)
	}
	return Pair{
		AccessToken:      tok,
		RefreshToken:     refresh,
		Claims:           claims,
		ExpiresIn:        int(ttl / time.Second),
		RefreshExpiresAt: sess.RefreshExpiresAt,
	}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
